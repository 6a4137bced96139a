"""PositionController against the FakeExchange on a simulated clock: end states, not calls."""

import asyncio
from decimal import Decimal

import pytest

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.sqlite_store import SqliteStore
from slt.application.position_controller import EntriesHalted, ExitSettings, PositionController
from slt.domain.breaker import FailureKind
from slt.domain.filters import SymbolFilters
from slt.domain.orders import OrderStatus, OrderType
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction
from slt.ports.order_gateway import ExchangeDown, OrderOutcomeUnknown, OrderRejected

from factories import quote, run_clock

FILTERS = {
    "BTCUSDT": SymbolFilters(
        symbol="BTCUSDT",
        tick_size=Decimal("0.1"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal(1000),
        min_notional=Decimal(5),
    )
}


class Rig:
    def __init__(self, settings: ExitSettings | None = None) -> None:
        self.clock = SimulatedClock(1_000)
        self.exchange = FakeExchange(FILTERS, self.clock)
        self.store = SqliteStore(":memory:")
        self.controller = PositionController(
            self.clock, self.exchange, self.store, FILTERS, settings or ExitSettings(max_hold_ms=0)
        )

    async def tick(self, bid: float, ask: float) -> None:
        ts = self.clock.now_ms() + 1_000
        self.clock.advance(ts)
        q = quote(bid, ask, ts)
        self.exchange.on_quote(q)
        self.controller.on_quote(q)
        await self.clock.settle()

    async def open(self, direction: Direction = Direction.LONG, stop_distance: float = 100.0):  # type: ignore[no-untyped-def]
        await self.tick(10_000.0, 10_000.1)
        candidate = Candidate("BTCUSDT", direction, 1_000, 10_000.0, stop_distance, 2.0, 0.0)
        sizing = Sizing(
            qty=Decimal("0.5"), notional=Decimal(5000), leverage=5, risk_amount=Decimal(50)
        )
        entry = Decimal("10000.1") if direction is Direction.LONG else Decimal("10000.0")
        p = await self.controller.open_position(candidate, sizing, entry)
        await self.clock.settle()
        return p


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_long_opens_with_plan_anchored_on_fill_and_an_exchange_stop() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        assert p.status == "open"
        assert p.entry_price == Decimal("10000.1")  # bought at the ask
        assert p.stop == Decimal("9900.1") and p.take_profit == Decimal("10200.1")
        orders = await rig.exchange.open_orders("BTCUSDT")
        assert [(o.client_id, o.status) for o in orders] == [(f"slt{p.id}-s1", OrderStatus.NEW)]
        assert rig.store.open_positions()[0]["status"] == "open"

    run(main())


def test_take_profit_closes_at_the_bid_and_removes_the_exchange_stop() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        await rig.tick(10_150.0, 10_150.1)
        assert p.status == "open"
        await rig.tick(10_200.1, 10_200.2)
        assert p.status == "closed" and p.exit_reason == "take_profit"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("10200.1")
        fees = (Decimal("10000.1") + Decimal("10200.1")) * Decimal("0.5") * Decimal("0.0005")
        assert trade.fees == fees
        assert trade.pnl == Decimal("100.0") - fees
        assert await rig.exchange.open_orders("BTCUSDT") == []
        assert await rig.exchange.positions() == []
        assert rig.controller.positions == {}

    run(main())


def test_on_a_kline_path_the_take_profit_fills_at_its_target_not_the_bar_extreme() -> None:
    async def main() -> None:
        rig = Rig()
        rig.exchange.set_bar_intervals({"BTCUSDT": 300_000})  # quotes inside 5m bars
        p = await rig.open()
        await rig.tick(10_500.0, 10_500.1)  # the bar's high, reached through the target
        assert p.status == "closed" and p.exit_reason == "take_profit"
        [trade] = rig.store.trades()
        # the target 10200.1, not the high's bid 10500.0 (no slippage configured)
        assert trade.exit_price == Decimal("10200.1")

    run(main())


def test_short_stop_loss_executes_on_the_exchange_at_the_ask() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open(Direction.SHORT)
        assert p.stop == Decimal("10100.0")
        await rig.tick(10_100.0, 10_100.1)
        assert p.status == "closed" and p.exit_reason == "stop_loss"
        [trade] = rig.store.trades()
        assert trade.side == "SHORT" and trade.exit_price == Decimal("10100.1")
        assert trade.pnl < 0
        assert await rig.exchange.positions() == []

    run(main())


def test_controller_stop_protects_when_there_is_no_exchange_stop() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        assert await rig.exchange.open_orders("BTCUSDT") == []
        await rig.tick(9_900.0, 9_900.1)
        assert p.status == "closed" and p.exit_reason == "stop_loss"

    run(main())


def test_rejected_exit_keeps_its_intent_and_is_resent_after_a_backoff_not_per_quote() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fail_next(OrderRejected(-1008, "Request throttled by system-level protection"))
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "open" and p.exit_attempts == 1 and p.exit_reason == "take_profit"
        await rig.tick(10_300.0, 10_300.1)
        assert p.exit_attempts == 1  # a quote does not resend it: the timer does
        await run_clock(rig.clock, p.next_exit_ms)
        assert p.status == "closed" and p.exit_attempts == 2
        assert [o["client_id"] for o in rig.store.orders(p.id)][-2:] == [
            f"slt{p.id}-x1",
            f"slt{p.id}-x2",
        ]

    run(main())


@pytest.mark.parametrize("executed", [True, False])
def test_exit_with_unknown_outcome_is_queried_never_resent_blind(executed: bool) -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fail_next(OrderOutcomeUnknown("timeout"), after_execution=executed)
        await rig.tick(10_300.0, 10_300.1)
        if executed:
            # the order reached the exchange: its fill closed the position, no second order
            assert p.status == "closed"
            assert len([o for o in rig.store.orders(p.id) if o["purpose"] == "exit"]) == 1
        else:
            assert p.status == "open"  # the query found nothing: the intent waits its retry
            await run_clock(rig.clock, p.next_exit_ms)
            assert p.status == "closed" and p.exit_attempts == 2

    run(main())


def test_rejected_entry_ends_the_position_and_frees_the_symbol() -> None:
    async def main() -> None:
        rig = Rig()
        rig.exchange.fail_next(OrderRejected(-2019, "Margin is insufficient."))
        p = await rig.open()
        assert p.status == "rejected"
        assert rig.controller.open_symbols() == set()
        assert rig.store.open_positions() == []

    run(main())


def test_duplicate_fill_delivery_is_ignored() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        fill = rig.exchange.fills[0]
        rig.controller.on_fill(fill)
        assert p.qty == Decimal("0.5")

    run(main())


def test_reversal_exits_on_indicator_check() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        q = quote(9_990.0, 9_990.1, rig.clock.now_ms())
        rig.controller.check_indicators("BTCUSDT", 1.0, q.ts_ms, q)
        assert p.status == "open"
        rig.controller.check_indicators("BTCUSDT", -1.0, q.ts_ms, q)
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_reason == "reversal"

    run(main())


def test_halted_entries_are_refused_but_exits_still_run() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.controller.halt_entries("start-up mismatch")
        with pytest.raises(EntriesHalted):
            await rig.open()
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "closed"

    run(main())


def test_listeners_hear_the_opening_and_the_protection_and_the_stop_ends_final() -> None:
    async def main() -> None:
        rig = Rig()
        opened, protected = [], []
        rig.controller.add_opened_listener(lambda p: opened.append(p.id))
        rig.controller.add_protection_listener(lambda p, ok, detail: protected.append((p.id, ok)))
        p = await rig.open()
        assert opened == [p.id] and protected == [(p.id, True)]
        await rig.tick(10_200.1, 10_200.2)  # take-profit: the stop is no longer needed
        assert p.status == "closed"
        [stop] = [o for o in rig.store.orders(p.id) if o["purpose"] == "stop"]
        assert stop["status"] in (OrderStatus.CANCELED, OrderStatus.EXPIRED)

    run(main())


def test_an_exit_whose_query_failed_too_is_resolved_by_the_periodic_retry() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fail_next(OrderOutcomeUnknown("timeout"))
        real_query = rig.exchange.query

        async def down(symbol: str, client_id: str):  # type: ignore[no-untyped-def]
            raise ExchangeDown(FailureKind.NETWORK, "connection reset")

        rig.exchange.query = down  # type: ignore[method-assign]
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "exit_in_flight"  # the order may have gone: nothing resent
        await rig.controller.resolve_stuck(rig.clock.now_ms())
        assert p.status == "exit_in_flight"  # still down: nothing decided, nothing resent
        rig.exchange.query = real_query  # type: ignore[method-assign]
        await rig.controller.resolve_stuck(rig.clock.now_ms())
        assert p.status == "open"  # it never reached the exchange: armed again
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "closed"

    run(main())


def test_a_filled_exit_whose_fills_were_lost_is_settled_from_its_query() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        listeners = rig.exchange._listeners  # type: ignore[attr-defined]
        saved = list(listeners)
        listeners.clear()  # the user stream is down: the exit's fill event never arrives
        rig.exchange.fail_next(OrderOutcomeUnknown("timeout"), after_execution=True)
        await rig.tick(10_300.0, 10_300.1)
        listeners.extend(saved)
        assert p.status == "closed" and p.exit_reason == "take_profit"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("10300.0")
        assert await rig.exchange.positions() == []

    run(main())


def test_a_protective_stop_that_cannot_be_confirmed_leads_to_a_market_close() -> None:
    async def main() -> None:
        rig = Rig()

        real_place = rig.exchange.place

        async def refuse_stops(order):  # type: ignore[no-untyped-def]
            if order.type is OrderType.STOP_MARKET:
                raise OrderRejected(-4045, "Reach max stop order limit.")
            return await real_place(order)

        rig.exchange.place = refuse_stops  # type: ignore[method-assign]
        p = await rig.open()
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_reason == "unprotected"
        assert await rig.exchange.positions() == []

    run(main())
