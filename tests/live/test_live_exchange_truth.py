"""A real-orders `slt live` session against the emulator: exits keep firing from REST quotes while
the stream is silent (and the exchange stop is gone), and the margin type is applied at start."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.config import load_settings
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Quote, Side
from slt.emulator import Emulator, EmulatorConfig
from slt.entrypoints.live import LiveOptions, run_live

TIMEOUT_S = 30.0
BTC = "BTCUSDT"


def quote(bid: float) -> Quote:
    return Quote(BTC, LiveClock().now_ms(), bid, 1.0, bid + 0.1, 1.0)


async def eventually(check: Any, what: str) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not await check():
            await asyncio.sleep(0.05)  # polling the emulator, not timing anything


async def _has_stop(emulator: Emulator) -> bool:
    return bool(emulator.venue.open_algos(BTC))


async def held(emulator: Emulator) -> list[Any]:
    return [p for p in await emulator.exchange.positions() if p.qty != 0]


def settings(emulator: Emulator, tmp_path: Path, **more: Any):  # type: ignore[no-untyped-def]
    return load_settings(overrides={
        "live.rest_url": emulator.rest_url,
        "live.ws_url": emulator.ws_url,
        "live.symbols": [BTC],
        "live.state_dir": str(tmp_path / "state"),
        "live.status_interval_s": 1,
        **more,
    })


async def market(emulator: Emulator, stop: asyncio.Event) -> None:
    k = 0
    while not stop.is_set():  # bookTicker streams only send on change: keep the book moving
        k += 1
        emulator.push_quote(quote(90_000.0 + (k % 5) * 0.1))
        await asyncio.sleep(0.05)  # the pace of the market, not a timing assertion


def test_a_silent_stream_does_not_stop_exits_rest_quotes_carry_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
            emulator.push_quote(quote(90_000.0))
            # A position the bot adopts at 5x: its stop is at the hard-loss distance (half the
            # margin: 81 000), watched by the bot itself (no exchange stop), well above the
            # exchange's liquidation price (~72 400).
            await emulator.exchange.set_leverage(BTC, 5)
            await emulator.exchange.place(
                OrderRequest("manual-1", BTC, Side.BUY, OrderType.MARKET, Decimal("0.010"))
            )
            lines: list[str] = []
            adopted = asyncio.Event()
            stop = asyncio.Event()

            def status(line: str) -> None:
                lines.append(line)
                if "positions 1" in line:
                    adopted.set()

            config = settings(emulator, tmp_path, **{
                "live.on_mismatch": "adopt", "exits.exchange_stop": False,
                "stale_after_s": 1.0, "live.rest_quote_interval_s": 0.2,
            })
            creds = Credentials(emulator.config.api_key, emulator.config.api_secret)
            bot = asyncio.create_task(run_live(config, LiveOptions(True, creds, 0, status), stop))
            quiet = asyncio.Event()
            pusher = asyncio.create_task(market(emulator, quiet))
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    await adopted.wait()
                quiet.set()
                await pusher
                emulator.faults.silent = True  # the streams say nothing from here on
                # ... and no stop stands on the exchange (exits.exchange_stop = false): only the
                # bot's own exit check, on REST quotes, can close the position now.
                assert not await _has_stop(emulator)
                books = emulator.requests[("GET", "/fapi/v1/ticker/bookTicker")]
                crossed = quote(80_000.0)
                emulator.push_quote(crossed)  # through the stop, seen only over REST

                async def flat() -> bool:
                    return not await held(emulator)

                await eventually(flat, "the exit filled")
            finally:
                quiet.set()
                stop.set()
                code = await asyncio.wait_for(bot, TIMEOUT_S)
        assert code == 0
        assert emulator.requests[("GET", "/fapi/v1/ticker/bookTicker")] > books, (
            books, emulator.ledger.calls, lines)
        exits = [c for c in emulator.ledger.calls
                 if c.method == "POST" and c.path == "/fapi/v1/order" and c.client_id != "manual-1"]
        assert len(exits) == 1 and exits[0].code is None, emulator.ledger.calls
        # a figure, not a check: stale after 1 s, REST every 0.2 s in this configuration
        print(f"exit on REST quotes {exits[0].ts_ms - crossed.ts_ms} ms after the crossing quote")

    asyncio.run(main())


def test_the_margin_type_is_applied_at_start_and_no_change_is_success(tmp_path: Path) -> None:
    async def main() -> None:
        async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
            emulator.push_quote(quote(90_000.0))
            creds = Credentials(emulator.config.api_key, emulator.config.api_secret)
            config = settings(emulator, tmp_path, **{"live.margin_type": "isolated"})
            for _ in range(2):  # the second start finds it isolated already (-4046)
                stop = asyncio.Event()
                lines: list[str] = []

                def status(line: str, lines: list[str] = lines, stop: asyncio.Event = stop) -> None:
                    lines.append(line)
                    if "| feed" in line:
                        stop.set()

                code = await asyncio.wait_for(
                    run_live(config, LiveOptions(True, creds, 0, status), stop), TIMEOUT_S
                )
                assert code == 0
                assert emulator.venue.margin_type(BTC) == "ISOLATED"
            assert emulator.requests[("POST", "/fapi/v1/marginType")] == 2
            assert not any("margin type" in line for line in lines)  # unchanged: nothing said

    asyncio.run(main())


def test_account_events_and_snapshots_reach_the_controller(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from slt.application.position_controller import PositionController
    from slt.domain.account_events import PositionUpdate
    from slt.emulator.venue import NewOrder

    heard: list[Any] = []
    monkeypatch.setattr(PositionController, "on_account_event", lambda self, e: heard.append(e))

    def causes() -> list[str]:
        return [e.cause for e in heard if isinstance(e, PositionUpdate) and e.symbol == BTC]

    async def main() -> None:
        async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
            emulator.push_quote(quote(90_000.0))
            await emulator.exchange.place(  # adopted at start: the snapshots report BTCUSDT
                OrderRequest("manual-1", BTC, Side.BUY, OrderType.MARKET, Decimal("0.010"))
            )
            creds = Credentials(emulator.config.api_key, emulator.config.api_secret)
            config = settings(emulator, tmp_path, **{"live.on_mismatch": "adopt"})
            stop = asyncio.Event()
            bot = asyncio.create_task(
                run_live(config, LiveOptions(True, creds, 0, lambda line: None), stop)
            )
            try:
                # the routine snapshot at start, and the one that follows the user stream's
                # opening: from then on the stream is listening
                await eventually(lambda: _true(causes().count("SNAPSHOT") >= 2), "connected")
                # a fill of another client's order: the ACCOUNT_UPDATE it causes is heard
                emulator.venue.place_order(NewOrder(
                    "web_1", BTC, Side.BUY, OrderType.MARKET, Decimal("0.010"), None, "GTC", False
                ))
                await eventually(lambda: _true("ORDER" in causes()), "the ACCOUNT_UPDATE")
                # a stream gap: the REST truth follows the reconnect
                snapshots = causes().count("SNAPSHOT")
                await emulator.faults.drop_connections()
                await eventually(
                    lambda: _true(causes().count("SNAPSHOT") > snapshots), "a snapshot"
                )
            finally:
                stop.set()
                assert await asyncio.wait_for(bot, TIMEOUT_S) == 0
        last = [e for e in heard if isinstance(e, PositionUpdate) and e.cause == "SNAPSHOT"][-1]
        assert (last.symbol, last.amount) == (BTC, Decimal("0.020"))

    asyncio.run(main())


async def _true(value: bool) -> bool:
    return value


def test_a_liquidation_on_the_exchange_settles_the_position_with_its_reason_and_price(
    tmp_path: Path,
) -> None:
    """The whole path: the emulator liquidates (x=CALCULATED, `autoclose-…`), the user stream
    decodes it, and the controller closes its position as `liquidation` at the fill's price,
    sending no exit of its own and leaving no order behind."""
    from slt.adapters.sqlite_store import SqliteStore

    async def main() -> None:
        async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
            emulator.push_quote(quote(90_000.0))
            await emulator.exchange.place(
                OrderRequest("manual-1", BTC, Side.BUY, OrderType.MARKET, Decimal("0.010"))
            )
            creds = Credentials(emulator.config.api_key, emulator.config.api_secret)
            config = settings(emulator, tmp_path, **{"live.on_mismatch": "adopt"})
            stop = asyncio.Event()
            quiet = asyncio.Event()
            bot = asyncio.create_task(
                run_live(config, LiveOptions(True, creds, 0, lambda line: None), stop)
            )
            pusher = asyncio.create_task(market(emulator, quiet))
            try:
                await eventually(lambda: _has_stop(emulator), "the adopted position protected")
                sent = len(emulator.ledger.calls)
                emulator.venue.close_by_exchange(BTC, "autoclose-1")

                async def flat_and_stop_gone() -> bool:
                    return not await held(emulator) and not await _has_stop(emulator)

                await eventually(flat_and_stop_gone, "flat with the stop cancelled")
                store = SqliteStore(str(tmp_path / "state" / "live.db"))
                try:
                    async def settled() -> bool:
                        return bool(store.trades())

                    await eventually(settled, "the trade recorded")
                    [trade] = store.trades()
                finally:
                    store.close()
            finally:
                quiet.set()
                await pusher
                stop.set()
                assert await asyncio.wait_for(bot, TIMEOUT_S) == 0
        # The liquidation may come before the user stream is up (its fill is then never
        # delivered): the flat position is explained by the exchange's own order, read back.
        assert trade.exit_reason == "liquidation", trade
        assert trade.exit_price > 80_000
        orders = [c for c in emulator.ledger.calls[sent:]
                  if c.method == "POST" and c.path == "/fapi/v1/order"]
        assert orders == [], orders  # the exchange closed it: the bot sent no exit

    asyncio.run(main())
