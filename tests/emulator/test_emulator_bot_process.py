"""`slt live --live` against `slt emulator`, two processes, with a fault switched over the
emulator's control endpoint: the bot's streams come back after the emulator drops them, and
the bot still stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from emulator_process import EmulatorProcess, emulator_process

TOKEN = "bot-process-test-token"
TIMEOUT_S = 90.0
POLL_S = 0.1


async def state(http: aiohttp.ClientSession, emu: EmulatorProcess) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with http.get(emu.rest_url + "/_emulator/state", headers=headers) as r:
        assert r.status == 200
        result: dict[str, Any] = await r.json()
        return result


async def until(http: aiohttp.ClientSession, emu: EmulatorProcess, key: str, least: int) -> None:
    """Until the emulator's `key` counter reaches `least`: a wait on a condition that another
    process brings about, polled because that process offers nothing to await."""
    while (await state(http, emu))[key] < least:
        await asyncio.sleep(POLL_S)


def test_the_bot_reconnects_after_the_emulator_drops_its_streams(tmp_path: Path) -> None:
    with emulator_process("--speed", "100", "--control-token", TOKEN) as emu:

        async def scenario() -> tuple[int, bytes]:
            keys = {"BINANCE_API_KEY": emu.api_key, "BINANCE_API_SECRET": emu.api_secret}
            env = {**os.environ, **keys}
            bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "slt.entrypoints.cli", "live", "--live",
                "--rest-url", emu.rest_url, "--ws-url", emu.ws_url, "--symbols", "BTCUSDT",
                cwd=tmp_path, env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )
            try:
                async with aiohttp.ClientSession() as http:
                    await until(http, emu, "ws_connections", 2)  # market and user streams
                    opened = (await state(http, emu))["ws_opened"]
                    drop = {"fault": "drop_connections", "abrupt": True}
                    headers = {"Authorization": f"Bearer {TOKEN}"}
                    async with http.post(
                        emu.rest_url + "/_emulator/faults", json=drop, headers=headers
                    ) as r:
                        assert r.status == 200
                    await until(http, emu, "ws_opened", opened + 2)  # both came back
                    await until(http, emu, "ws_connections", 2)
            finally:
                bot.send_signal(signal.SIGTERM)
                _, err = await bot.communicate()
            assert bot.returncode is not None
            return bot.returncode, err

        code, err = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT_S))
    assert code == 0, err.decode(errors="replace")[-2000:]
    assert b"Traceback" not in err
