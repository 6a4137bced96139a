"""Secrets end to end: a real-orders `slt live` session against the local emulator with a known
API key and secret, the status server on; neither the key nor the secret may appear in any log
record (DEBUG included), printed output, the SQLite store, any file the session wrote, the
/api/status JSON or /metrics. And a key file readable by others is refused."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials, CredentialsError, load_credentials
from slt.config import load_settings
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Quote, Side
from slt.emulator import Emulator, EmulatorConfig
from slt.entrypoints.live import LiveOptions, run_live

TIMEOUT_S = 30.0
API_KEY = "SltKeyMarker" + secrets.token_hex(26)  # 64 alphanumerics, like a real key
API_SECRET = "SltSecretMarker" + secrets.token_hex(24) + "x"
STATUS_TOKEN = "status-token-" + secrets.token_hex(8)


def needles() -> list[str]:
    # The whole values and a slice from their middles (a truncated or wrapped leak).
    return [API_KEY, API_SECRET, API_KEY[20:40], API_SECRET[20:40]]


def leaks(text: str | bytes) -> list[str]:
    blob = text.decode("latin-1") if isinstance(text, bytes) else text
    return [n for n in needles() if n in blob]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fetch_status(port: int) -> tuple[str, str]:
    """/api/status and /metrics, once the server answers (it starts after the streams)."""
    headers = {"Authorization": f"Bearer {STATUS_TOKEN}"}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{base}/api/status", headers=headers) as r:
                    if r.status == 200:
                        api = await r.text()
                        break
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)  # polling for readiness, not timing anything
        else:
            raise AssertionError("the status server never answered")
        async with http.get(f"{base}/metrics", headers=headers) as r:
            assert r.status == 200
            metrics = await r.text()
    return api, metrics


async def session(tmp_path: Path, port: int) -> tuple[int, list[str], str, str, Emulator]:
    config = EmulatorConfig(api_key=API_KEY, api_secret=API_SECRET)
    async with Emulator(config, LiveClock()) as emulator:
        emulator.push_quote(Quote("BTCUSDT", LiveClock().now_ms(), 90_000.0, 1.0, 90_000.1, 1.0))
        # A position the bot does not know: reconciliation reads it with signed calls and
        # reports it, so signed REST, the user stream and the store all get exercised.
        await emulator.exchange.place(
            OrderRequest("manual-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )
        settings = load_settings(overrides={
            "live.rest_url": emulator.rest_url,
            "live.ws_url": emulator.ws_url,
            "live.symbols": ["BTCUSDT"],
            "live.state_dir": str(tmp_path / "slt-state"),
            "live.status_interval_s": 1,
            "live.status_port": port,
        })
        lines: list[str] = []
        stop = asyncio.Event()
        status_seen = asyncio.Event()

        def status(line: str) -> None:
            lines.append(line)
            if "| feed BTCUSDT:" in line and "BTCUSDT:-" not in line:
                status_seen.set()

        async def market() -> None:
            k = 0
            while not stop.is_set():  # bookTicker streams only send on change
                k += 1
                bid = 90_000.0 + (k % 5) * 0.1
                emulator.push_quote(Quote("BTCUSDT", LiveClock().now_ms(), bid, 1.0, bid + 0.1,
                                          1.0))
                await asyncio.sleep(0.05)

        async def observe() -> tuple[str, str]:
            try:
                await asyncio.wait_for(status_seen.wait(), TIMEOUT_S)
                return await fetch_status(port)
            finally:
                stop.set()

        options = LiveOptions(real_orders=True, credentials=Credentials(API_KEY, API_SECRET),
                              print_status=status)
        ticker = asyncio.create_task(market())
        observer = asyncio.create_task(observe())
        try:
            code = await asyncio.wait_for(run_live(settings, options, stop), TIMEOUT_S + 10)
        finally:
            stop.set()
            await ticker
        api, metrics = await observer
        return code, lines, api, metrics, emulator


def test_no_secret_leaks_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLT_STATUS_TOKEN", STATUS_TOKEN)
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp", "aiohttp.access", "aiohttp.client", "aiohttp.server", "websockets",
                 "asyncio", "slt"):
        caplog.set_level(logging.DEBUG, logger=name)
    code, lines, api, metrics, _ = asyncio.run(session(tmp_path, free_port()))
    out, err = capfd.readouterr()

    assert code == 0
    # The session really used the key: signed calls reached the emulator, and the status
    # server served something.
    assert any(line.startswith("reconcile: unknown_position BTCUSDT") for line in lines)
    assert isinstance(json.loads(api), dict)
    assert any(line and not line.startswith("#") for line in metrics.splitlines())
    assert caplog.records, "nothing was logged: the capture is not working"

    log_text = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert leaks(log_text) == [], "secret in a log record"
    assert leaks(caplog.text) == [], "secret in formatted logs"
    assert leaks(out + err + "\n".join(lines)) == [], "secret in printed output"
    assert leaks(api) == [], "secret in /api/status"
    assert leaks(metrics) == [], "secret in /metrics"

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "live.db" for p in written), written
    for path in written:  # the store, its WAL, reports, anything else
        assert leaks(path.read_bytes()) == [], f"secret in {path}"


def test_the_leak_check_can_fail() -> None:
    assert leaks(f"header X-MBX-APIKEY: {API_KEY}") == [API_KEY, API_KEY[20:40]]
    assert leaks(f"signing with {API_SECRET[10:50]}") == [API_SECRET[20:40]]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(f'api_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n', encoding="utf-8")
    path.chmod(mode)
    with pytest.raises(CredentialsError, match="chmod 600") as refused:
        load_credentials(env={}, key_file=path)
    assert leaks(str(refused.value)) == []
    path.chmod(0o600)
    creds = load_credentials(env={}, key_file=path)
    assert (creds.api_key, creds.api_secret) == (API_KEY, API_SECRET)
    assert leaks(repr(creds)) == [] and leaks(str(creds)) == []
