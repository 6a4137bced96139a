"""BinanceGateway and BinanceHistory against the Binance-protocol emulator (slt.emulator):
real HTTP, real signing and recvWindow checks, real order outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from slt.adapters.binance.common.errors import ClockSkewRejected, ListenKeyNotFound
from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.history import BinanceHistory
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.credentials import Credentials
from slt.domain.breaker import FailureKind
from slt.domain.filters import SymbolFilters
from slt.domain.orders import OrderRequest, OrderStatus, OrderType
from slt.domain.values import Bar, Quote, Side
from slt.ports.order_gateway import (
    ExchangeDown,
    GatewayUnavailable,
    OrderOutcomeUnknown,
    OrderRejected,
)

emulator = pytest.importorskip("slt.emulator")
Emulator, EmulatorConfig, Failure = emulator.Emulator, emulator.EmulatorConfig, emulator.Failure

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BTC = "BTCUSDT"
FILTERS = {
    BTC: SymbolFilters(BTC, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(1000),
                       Decimal(5)),
}
CONFIG = EmulatorConfig(filters=FILTERS)


@dataclass
class Rig:
    emu: Any
    clock: SimulatedClock  # the emulator's clock
    client: BinanceHttpClient
    gateway: BinanceGateway

    def quote(self, bid: str, ask: str) -> None:
        self.emu.push_quote(Quote(BTC, self.clock.now_ms(), float(bid), 5.0, float(ask), 5.0))


@asynccontextmanager
async def rig(
    client_clock: SimulatedClock | None = None, *, quote: bool = True, **config: Any
) -> AsyncIterator[Rig]:
    clock = SimulatedClock(START_MS)
    emu = Emulator(CONFIG, clock)
    await emu.start()
    try:
        credentials = Credentials(CONFIG.api_key, CONFIG.api_secret)
        rest = RestConfig(base_url=emu.rest_url, time_samples=3, **config)
        async with BinanceHttpClient(rest, client_clock or clock, credentials) as client:
            r = Rig(emu, clock, client, BinanceGateway(client))
            if quote:
                r.quote("50000.0", "50000.1")
            yield r
    finally:
        await emu.stop()


def run(coro: Any) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def buy(client_id: str, qty: str = "0.010", **kw: Any) -> OrderRequest:
    return OrderRequest(client_id, BTC, Side.BUY, OrderType.MARKET, Decimal(qty), **kw)


def test_market_order_fills_and_shows_in_positions_and_balance() -> None:
    async def main() -> None:
        async with rig() as r:
            before = await r.gateway.balance()
            state = await r.gateway.place(buy("slt1-e"))
            assert state.status is OrderStatus.FILLED
            assert (state.filled_qty, state.avg_price) == (Decimal("0.010"), Decimal("50000.1"))
            (position,) = await r.gateway.positions()
            assert (position.symbol, position.qty, position.entry_price) == (
                BTC, Decimal("0.010"), Decimal("50000.1"))
            after = await r.gateway.balance()
            fee = Decimal("0.010") * Decimal("50000.1") * CONFIG.taker_fee
            assert after.wallet == before.wallet - fee
            queried = await r.gateway.query(BTC, "slt1-e")
            assert queried is not None and queried.status is OrderStatus.FILLED
            closed = await r.gateway.place(OrderRequest(
                "slt1-x1", BTC, Side.SELL, OrderType.MARKET, Decimal("0.010"), reduce_only=True))
            assert closed.status is OrderStatus.FILLED
            assert await r.gateway.positions() == []

    run(main())


def test_limit_order_rests_is_found_and_cancelled() -> None:
    async def main() -> None:
        async with rig() as r:
            placed = await r.gateway.place(OrderRequest(
                "L1", BTC, Side.BUY, OrderType.LIMIT, Decimal("0.002"), Decimal("49000.0")))
            assert placed.status is OrderStatus.NEW
            (working,) = await r.gateway.open_orders(BTC)
            assert working.clientOrderId == "L1" and working.price == Decimal("49000")
            cancelled = await r.gateway.cancel(BTC, "L1")
            assert cancelled.status is OrderStatus.CANCELED
            queried = await r.gateway.query(BTC, "L1")
            assert queried is not None and queried.status is OrderStatus.CANCELED
            with pytest.raises(OrderRejected) as raised:
                await r.gateway.cancel(BTC, "L1")
            assert raised.value.code == -2011

    run(main())


def test_stop_market_lives_in_the_algo_service_and_fills_when_triggered() -> None:
    async def main() -> None:
        async with rig() as r:
            await r.gateway.place(buy("slt2-e", "0.004"))
            stop = OrderRequest("slt2-s", BTC, Side.SELL, OrderType.STOP_MARKET,
                                Decimal("0.004"), stop_price=Decimal("49500.0"), reduce_only=True)
            placed = await r.gateway.place(stop)
            assert placed.status is OrderStatus.NEW
            (algo,) = await r.gateway.open_algo_orders(BTC)
            assert (algo.clientAlgoId, algo.triggerPrice) == ("slt2-s", Decimal("49500"))
            assert await r.gateway.open_orders(BTC) == []
            working = await r.gateway.query(BTC, "slt2-s")
            assert working is not None and working.status is OrderStatus.NEW
            r.quote("49400.0", "49400.1")  # through the stop
            done = await r.gateway.query(BTC, "slt2-s")
            assert done is not None
            assert (done.client_id, done.status, done.filled_qty) == (
                "slt2-s", OrderStatus.FILLED, Decimal("0.004"))
            assert await r.gateway.positions() == []

    run(main())


def test_algo_order_cancel_and_cancel_all() -> None:
    async def main() -> None:
        async with rig() as r:
            await r.gateway.place(buy("slt3-e", "0.004"))
            for n, trigger in ((1, "48000.0"), (2, "47000.0")):
                await r.gateway.place(OrderRequest(
                    f"slt3-s{n}", BTC, Side.SELL, OrderType.STOP_MARKET, Decimal("0.004"),
                    stop_price=Decimal(trigger), reduce_only=True))
            cancelled = await r.gateway.cancel(BTC, "slt3-s1")
            assert cancelled.status is OrderStatus.CANCELED
            fresh = BinanceGateway(r.client)  # a restarted bot: it never saw these ids
            queried = await fresh.query(BTC, "slt3-s2")
            assert queried is not None and queried.status is OrderStatus.NEW
            await r.gateway.place(OrderRequest(
                "L3", BTC, Side.BUY, OrderType.LIMIT, Decimal("0.002"), Decimal("45000.0")))
            await r.gateway.cancel_all(BTC)
            assert await r.gateway.open_orders(BTC) == []
            assert await r.gateway.open_algo_orders(BTC) == []

    run(main())


def test_unknown_ids_and_business_rejections() -> None:
    async def main() -> None:
        async with rig() as r:
            assert await r.gateway.query(BTC, "never-sent") is None
            with pytest.raises(OrderRejected) as unknown:
                await r.gateway.cancel(BTC, "never-sent")
            assert unknown.value.code == -2011
            with pytest.raises(OrderRejected) as margin:
                await r.gateway.place(buy("huge", "900"))
            assert margin.value.code == -2019 and margin.value.failure is None
            with pytest.raises(OrderRejected) as trigger:  # a buy stop below the market
                await r.gateway.place(OrderRequest(
                    "bad-stop", BTC, Side.BUY, OrderType.STOP_MARKET, Decimal("0.002"),
                    stop_price=Decimal("40000.0")))
            assert trigger.value.code == -2021
            with pytest.raises(OrderRejected) as reduce:
                await r.gateway.place(buy("no-position", reduce_only=True))
            assert reduce.value.code == -2022

    run(main())


def test_account_settings_filters_and_market_data() -> None:
    async def main() -> None:
        async with rig() as r:
            assert await r.gateway.set_leverage(BTC, 7) == 7
            await r.gateway.place(buy("slt4-e", "0.002"))
            (position,) = await r.gateway.positions()
            assert position.leverage == 7
            assert await r.gateway.position_mode_is_hedge() is False
            filters = await r.gateway.symbol_filters()
            assert BTC in filters and filters[BTC].tick_size > 0
            (quote,) = [q for q in await r.gateway.book_tickers() if q.symbol == BTC]
            assert (quote.bid, quote.ask) == (50000.0, 50000.1)
            premium = await r.gateway.premium_index(BTC)
            assert premium.markPrice > 0
            assert any(t.symbol == BTC for t in await r.gateway.ticker_24h())
            assert await r.gateway.server_time() == START_MS

    run(main())


def test_klines_are_closed_bars() -> None:
    async def main() -> None:
        async with rig(quote=False) as r:
            bars = [Bar(START_MS - (5 - k) * 60_000, 1.0 + k, 2.0 + k, 0.5, 1.5 + k, 10.0)
                    for k in range(5)]
            r.emu.load_bars(BTC, 60_000, bars)
            r.quote("50000.0", "50000.1")  # opens the bar of START_MS: forming, not returned
            got = await BinanceHistory(r.client).klines(BTC, "1m", 3)
            assert [b.open_ms for b in got] == [b.open_ms for b in bars[-3:]]
            assert got[-1].close == bars[-1].close

    run(main())


def test_listen_key_lifecycle_and_expiry() -> None:
    async def main() -> None:
        async with rig() as r:
            key = await r.gateway.create_listen_key()
            assert key and await r.gateway.create_listen_key() == key
            await r.gateway.keepalive_listen_key()
            r.emu.faults.expire_listen_key()
            with pytest.raises(ListenKeyNotFound):
                await r.gateway.keepalive_listen_key()
            assert await r.gateway.create_listen_key() != key
            await r.gateway.close_listen_key()

    run(main())


def test_429_and_418() -> None:
    async def main() -> None:
        async with rig() as r:
            r.emu.faults.throttle_next(1, retry_after_s=2)
            with pytest.raises(ExchangeDown) as limited:
                await r.gateway.premium_index(BTC)
            assert (limited.value.failure, limited.value.retry_after_ms) == (
                FailureKind.RATE_LIMIT_429, 2000)
            # The limiter learnt the Retry-After: the next read waits it out, then passes.
            sent = sum(r.emu.requests.values())
            later = asyncio.ensure_future(r.gateway.premium_index(BTC))
            await asyncio.sleep(0)
            assert not later.done() and sum(r.emu.requests.values()) == sent
            assert r.clock.fire_due() == START_MS + 2000
            assert (await later).symbol == BTC
            r.emu.faults.ban(120_000)
            with pytest.raises(ExchangeDown) as banned:
                await r.gateway.positions()
            assert banned.value.failure is FailureKind.IP_BAN_418
            assert banned.value.ban_until_ms == START_MS + 2000 + 120_000
            with pytest.raises(GatewayUnavailable, match="resume in"):
                await r.gateway.place(buy("slt-banned"))  # not sent into the ban
            r.clock.advance(START_MS + 2000 + 120_001)
            assert await r.gateway.positions() == []

    run(main())


def test_an_order_executed_behind_a_503_unknown_is_found_by_query_not_resent() -> None:
    async def main() -> None:
        async with rig() as r:
            r.emu.faults.fail_next(1, Failure.UNKNOWN, after_execution=True,
                                   path="/fapi/v1/order")
            with pytest.raises(OrderOutcomeUnknown):
                await r.gateway.place(buy("slt5-e"))
            state = await r.gateway.query(BTC, "slt5-e")
            assert state is not None and state.status is OrderStatus.FILLED
            orders = [c for c in r.emu.ledger.calls if c.method == "POST"]
            assert [c.client_id for c in orders] == ["slt5-e"]

    run(main())


@pytest.mark.parametrize(
    ("failure", "expected"),
    [(Failure.UNAVAILABLE, ExchangeDown), (Failure.INTERNAL, ExchangeDown),
     (Failure.THROTTLED, ExchangeDown), (Failure.BAD_GATEWAY, OrderOutcomeUnknown)],
)
def test_failed_order_writes(failure: Any, expected: type) -> None:
    async def main() -> None:
        async with rig() as r:
            r.emu.faults.fail_next(1, failure, path="/fapi/v1/order")
            with pytest.raises(expected):
                await r.gateway.place(buy("slt6-e"))
            assert await r.gateway.query(BTC, "slt6-e") is None

    run(main())


def test_clock_drift_is_resynced_reads_retried_writes_not() -> None:
    async def main() -> None:
        client_clock = SimulatedClock(START_MS - 30_000)  # our clock is 30 s late
        async with rig(client_clock) as r:
            assert await r.gateway.positions() == []  # the first sync measures +30 s
            r.clock.advance(START_MS + 20_000)  # the server moves on; our clock does not
            assert (await r.gateway.balance()).wallet == CONFIG.wallet  # -1021, resync, retry
            assert r.emu.requests[("GET", "/fapi/v2/balance")] == 2
            assert r.emu.requests[("GET", "/fapi/v1/time")] == 6
            r.clock.advance(START_MS + 40_000)
            with pytest.raises(ClockSkewRejected):
                await r.gateway.place(buy("slt7-e"))
            assert [c.client_id for c in r.emu.ledger.calls if c.method == "POST"] == ["slt7-e"]
            assert await r.gateway.query(BTC, "slt7-e") is None  # rejected before execution
            state = await r.gateway.place(buy("slt7-e"))  # the caller may now send it
            assert state.status is OrderStatus.FILLED

    run(main())
