import asyncio
from decimal import Decimal

import pytest

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.sqlite_store import SqliteStore
from slt.application.guarded_gateway import GuardedGateway
from slt.domain.account_events import AccountEvent, BalanceChange, PositionUpdate
from slt.domain.breaker import BreakerLevel, CircuitBreaker, FailureKind
from slt.domain.filters import SymbolFilters
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Side
from slt.ports.order_gateway import ExchangeDown, GatewayUnavailable, OrderRejected

from factories import quote

FILTERS = {
    "BTCUSDT": SymbolFilters("BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"),
                             Decimal(1000), Decimal(5))
}


def rig():  # type: ignore[no-untyped-def]
    clock = SimulatedClock(1_000_000)
    exchange = FakeExchange(FILTERS, clock)
    exchange.on_quote(quote(100.0, 100.1, 1_000_000))
    store = SqliteStore(":memory:")
    return clock, exchange, store, GuardedGateway(exchange, CircuitBreaker(), clock, store)


def order(n: int, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(f"c{n}", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.1"),
                        reduce_only=reduce_only)


def test_transport_failures_escalate_and_are_persisted_business_rejections_are_not() -> None:
    async def main() -> None:
        _clock, exchange, store, gateway = rig()
        for n in range(5):
            exchange.fail_next(OrderRejected(-2019, "Margin is insufficient."))
            with pytest.raises(OrderRejected):
                await gateway.place(order(n))
        assert gateway.breaker.level is BreakerLevel.NORMAL
        for n in range(10):  # exits (CRITICAL) keep getting through while it escalates
            exchange.fail_next(ExchangeDown(FailureKind.SERVER_5XX, "503 Service Unavailable"))
            with pytest.raises(ExchangeDown):
                await gateway.place(order(10 + n, reduce_only=True))
        assert gateway.breaker.level is BreakerLevel.BLOCKED
        events = store.breaker_events()
        assert [e.target for e in events] == ["WARNING", "THROTTLED", "BLOCKED"]
        assert all(e.ts_ms == 1_000_000 for e in events)
        # entries are refused while BLOCKED, exits and position reads still pass
        with pytest.raises(GatewayUnavailable):
            await gateway.place(order(99))
        assert await gateway.positions() == []

    asyncio.run(main())


def test_ip_ban_stops_even_critical_requests_until_it_ends() -> None:
    async def main() -> None:
        clock, exchange, _, gateway = rig()
        exchange.fail_next(ExchangeDown(FailureKind.IP_BAN_418, "banned",
                                        ban_until_ms=1_000_000 + 120_000))
        with pytest.raises(ExchangeDown):
            await gateway.place(order(1))
        with pytest.raises(GatewayUnavailable):
            await gateway.positions()
        clock.advance(1_000_000 + 120_000)
        assert await gateway.positions() == []

    asyncio.run(main())


def test_account_events_pass_through_in_order() -> None:
    async def main() -> None:
        _clock, exchange, _store, gateway = rig()
        events: list[AccountEvent] = []
        gateway.add_account_listener(events.append)
        await gateway.place(order(1))
        exchange.charge_funding("BTCUSDT", Decimal("0.001"))
        [update, funding] = events
        assert isinstance(update, PositionUpdate) and update.amount == Decimal("0.1")
        assert isinstance(funding, BalanceChange) and funding.kind == "FUNDING_FEE"
        assert funding.amount == -Decimal("0.1") * Decimal("100.05") * Decimal("0.001")

    asyncio.run(main())
def test_level_and_ban_survive_a_restart_and_hold_back_every_request() -> None:
    from slt.application.guarded_gateway import restore_breaker

    async def main() -> None:
        clock, exchange, store, gateway = rig()
        exchange.fail_next(ExchangeDown(FailureKind.IP_BAN_418, "418", ban_until_ms=1_600_000))
        with pytest.raises(ExchangeDown):
            await gateway.place(order(0))
        saved = store.breaker_state()
        assert saved is not None and (saved.level, saved.ban_until_ms) == ("BLOCKED", 1_600_000)

        clock.advance(1_100_000)  # the bot restarts during the ban
        breaker = restore_breaker(store, clock.now_ms())
        assert (breaker.level, breaker.ban_until_ms) == (BreakerLevel.BLOCKED, 1_600_000)
        restarted = GuardedGateway(exchange, breaker, clock, store)
        with pytest.raises(GatewayUnavailable, match="ip_ban") as refused:
            await restarted.place(order(1, reduce_only=True))
        assert refused.value.retry_at_ms == 1_600_000  # the ban's end
        clock.advance(1_600_001)
        assert await restarted.positions() == []

        clock.advance(2_000_000)  # long after: nothing held any more
        assert restore_breaker(store, clock.now_ms()).ban_until_ms == 0

    asyncio.run(main())


def test_a_fresh_store_starts_normal() -> None:
    from slt.application.guarded_gateway import restore_breaker

    assert restore_breaker(SqliteStore(":memory:"), 1).level is BreakerLevel.NORMAL
