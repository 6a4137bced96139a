"""`slt live` end to end against the local Binance-protocol emulator (never real Binance)."""

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.adapters.sqlite_store import SqliteStore
from slt.config import load_settings
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Quote, Side
from slt.emulator import Emulator, EmulatorConfig
from slt.entrypoints.live import LiveOptions, StartupRefused, run_live

from factories import open_position

TIMEOUT_S = 30.0


def settings_for(emulator: Emulator, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(
        overrides={
            "live.rest_url": emulator.rest_url,
            "live.ws_url": emulator.ws_url,
            "live.symbols": ["BTCUSDT"],
            "live.state_dir": str(tmp_path / "state"),
            "live.status_interval_s": 1,
        }
    )


async def session(tmp_path: Path, real: bool, prepare, until):  # type: ignore[no-untyped-def]
    """Run a session until `until(lines)` holds; return (exit code, status lines, emulator)."""
    async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
        emulator.push_quote(Quote("BTCUSDT", LiveClock().now_ms(), 90_000.0, 1.0, 90_000.1, 1.0))
        await prepare(emulator)
        lines: list[str] = []
        stop = asyncio.Event()
        creds = Credentials(emulator.config.api_key, emulator.config.api_secret) if real else None

        def status(line: str) -> None:
            lines.append(line)
            if until(lines):
                stop.set()

        async def market() -> None:
            # bookTicker streams only send on change: keep the book moving
            k = 0
            while not stop.is_set():
                k += 1
                bid = 90_000.0 + (k % 5) * 0.1
                emulator.push_quote(
                    Quote("BTCUSDT", LiveClock().now_ms(), bid, 1.0, bid + 0.1, 1.0)
                )
                await asyncio.sleep(0.05)

        options = LiveOptions(real_orders=real, credentials=creds, print_status=status)
        ticker = asyncio.create_task(market())
        try:
            code = await asyncio.wait_for(
                run_live(settings_for(emulator, tmp_path), options, stop), TIMEOUT_S
            )
        finally:
            stop.set()
            await ticker
        return code, lines, emulator


async def nothing(emulator: Emulator) -> None:
    return None


def fresh_feed(lines: list[str]) -> bool:
    """A status line shows a BTCUSDT quote that arrived over the stream."""
    return any("| feed BTCUSDT:" in line and "BTCUSDT:-" not in line for line in lines)


def test_paper_session_starts_streams_reports_status_and_stops_cleanly(tmp_path: Path) -> None:
    code, lines, emulator = asyncio.run(session(tmp_path, False, nothing, fresh_feed))
    assert code == 0
    assert any("breaker NORMAL" in line and "entries on" in line for line in lines)
    assert any("families: no family has outcomes yet: virtual only" in line for line in lines)
    assert (tmp_path / "state" / "paper.db").exists()
    assert not (tmp_path / "state" / "live.db").exists()
    # paper mode sends no order to the exchange
    assert emulator.ledger.calls == []


def test_real_orders_refuse_hedge_mode(tmp_path: Path) -> None:
    async def hedge(emulator: Emulator) -> None:
        emulator.dual_side_position = True

    with pytest.raises(StartupRefused, match="hedge position mode"):
        asyncio.run(session(tmp_path, True, hedge, fresh_feed))


def test_unknown_exchange_position_halts_entries_at_start(tmp_path: Path) -> None:
    async def manual_position(emulator: Emulator) -> None:
        await emulator.exchange.place(
            OrderRequest("manual-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )

    code, lines, _ = asyncio.run(session(tmp_path, True, manual_position, fresh_feed))
    assert code == 0
    assert any(line.startswith("reconcile: unknown_position BTCUSDT") for line in lines)
    assert any("entries halted" in line and "unknown_position" in line for line in lines)


def test_real_orders_without_credentials_are_refused() -> None:
    options = LiveOptions(real_orders=True, credentials=None)
    settings = dataclasses.replace(load_settings())
    with pytest.raises(StartupRefused, match="credentials"):
        asyncio.run(run_live(settings, options, asyncio.Event()))


def test_a_paper_position_left_by_a_crash_is_never_closed_at_price_zero(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with SqliteStore(state / "paper.db") as store:
        p = open_position(entry="90000.0", qty="0.01", stop="89000.0", take_profit="91000.0")
        store.save_position(p.to_record())
    code, _, _ = asyncio.run(session(tmp_path, False, nothing, fresh_feed))
    assert code == 0
    with SqliteStore(state / "paper.db") as store:
        [trade] = store.trades()
        assert store.open_positions() == []
    assert trade.exit_reason == "closed_while_down" and trade.exit_price == Decimal("90000.0")
