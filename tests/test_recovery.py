"""Restart: a new PositionController on the same store and exchange reconciles and resumes."""

import asyncio
from decimal import Decimal

from test_position_controller import FILTERS

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.sqlite_store import SqliteStore
from slt.application.position_controller import ExitSettings, PositionController
from slt.application.position_controller.recovery import recover
from slt.domain.account_events import AccountListener
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.reconcile import MismatchKind, WorkingOrder
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Side
from slt.ports.order_gateway import FillListener

from factories import quote, run_clock


class Process:
    """One life of the bot: its fill listener goes deaf when the process 'dies'."""

    def __init__(self, clock, exchange, store) -> None:  # type: ignore[no-untyped-def]
        self.alive = True
        exchange_add = exchange.add_fill_listener

        class Wire:
            def __getattr__(_, name):  # type: ignore[no-untyped-def]
                return getattr(exchange, name)

            def add_fill_listener(_, listener: FillListener) -> None:
                exchange_add(lambda f: self.alive and listener(f))

            def add_account_listener(_, listener: AccountListener) -> None:
                exchange.add_account_listener(lambda e: self.alive and listener(e))

        self.gateway = Wire()
        self.controller = PositionController(
            clock, self.gateway, store, FILTERS, ExitSettings(max_hold_ms=0)  # type: ignore[arg-type]
        )


async def working(exchange: FakeExchange) -> list[WorkingOrder]:
    return [
        WorkingOrder(o.client_id, o.symbol, True, True) for o in await exchange.open_orders()
    ]


class World:
    def __init__(self) -> None:
        self.clock = SimulatedClock(1_000)
        self.exchange = FakeExchange(FILTERS, self.clock)
        self.store = SqliteStore(":memory:")
        self.first = Process(self.clock, self.exchange, self.store)

    async def tick(self, bid: float, controller: PositionController | None = None) -> None:
        ts = self.clock.now_ms() + 1_000
        self.clock.advance(ts)
        q = quote(bid, bid + 0.1, ts)
        self.exchange.on_quote(q)
        if controller is not None:
            controller.on_quote(q)
        await self.clock.settle()

    async def open_long(self):  # type: ignore[no-untyped-def]
        await self.tick(10_000.0)
        candidate = Candidate("BTCUSDT", Direction.LONG, 1_000, 10_000.0, 100.0, 2.0, 0.0)
        sizing = Sizing(Decimal("0.5"), Decimal(5000), 5, Decimal(50))
        p = await self.first.controller.open_position(candidate, sizing, Decimal("10000.1"))
        await self.clock.settle()
        return p

    async def restart(self, policy: str = "halt"):  # type: ignore[no-untyped-def]
        self.first.alive = False
        second = Process(self.clock, self.exchange, self.store)
        report = await recover(second.controller, second.gateway, self.store,  # type: ignore[arg-type]
                               await working(self.exchange), policy, self.clock.now_ms())
        await self.clock.settle()
        return second.controller, report


def test_agreeing_restart_resumes_guards_and_fills() -> None:
    async def main() -> None:
        world = World()
        p = await world.open_long()
        controller, report = await world.restart()
        assert report.mismatches == () and not report.halted
        [resumed] = controller.positions.values()
        assert resumed.id == p.id and resumed.status == "open"
        await world.tick(10_200.1, controller)  # the take-profit of the resumed position
        assert resumed.status == "closed" and resumed.exit_reason == "take_profit"
        assert await world.exchange.positions() == []

    asyncio.run(main())


def test_position_stopped_out_while_down_is_closed_as_stopped_at_the_stop_fill() -> None:
    async def main() -> None:
        world = World()
        p = await world.open_long()
        world.first.alive = False
        await world.tick(9_900.0)  # the exchange stop fires with nobody listening
        controller, report = await world.restart()
        assert [m.kind for m in report.mismatches] == [MismatchKind.CLOSED_WHILE_DOWN]
        assert controller.positions == {}
        [trade] = world.store.trades()
        assert trade.position_id == p.id and trade.exit_reason == "stop_loss"
        assert trade.exit_price == Decimal("9900.0")
        assert world.store.open_positions() == []

    asyncio.run(main())


def test_unknown_exchange_position_halts_by_default_and_is_protected_when_adopted() -> None:
    async def main() -> None:
        for policy in ("halt", "adopt"):
            world = World()
            await world.tick(10_000.0)
            await world.exchange.place(OrderRequest("manual", "BTCUSDT", Side.BUY,
                                                    OrderType.MARKET, Decimal("0.2")))
            controller, report = await world.restart(policy)
            assert [m.kind for m in report.mismatches] == [MismatchKind.UNKNOWN_POSITION]
            if policy == "halt":
                assert report.halted and controller.positions == {}
            else:
                assert not report.halted
                [adopted] = controller.positions.values()
                assert adopted.qty == Decimal("0.2") and adopted.stop < Decimal("10000.1")
                [stop] = await world.exchange.open_orders("BTCUSDT")
                assert stop.client_id == f"slt{adopted.id}-s1"

    asyncio.run(main())


def test_exit_persisted_but_never_sent_is_queried_and_retried_not_resent_blind() -> None:
    async def main() -> None:
        world = World()
        p = await world.open_long()
        # crash after persisting the exit order, before sending it
        p.exit_reason = "take_profit"
        p.exit_attempts = 1
        p.machine.request_exit()
        world.store.save_position(p.to_record())
        world.store.save_order(p.id, "exit", OrderRequest(
            f"slt{p.id}-x1", "BTCUSDT", Side.SELL, OrderType.MARKET, Decimal("0.5"),
            reduce_only=True))
        controller, report = await world.restart()
        assert [m.kind for m in report.mismatches] == [MismatchKind.IN_FLIGHT]
        [resumed] = controller.positions.values()
        assert resumed.status == "open"  # nothing reached the exchange: the intent waits
        await run_clock(world.clock, resumed.next_exit_ms)
        assert resumed.status == "closed"
        exits = [o["client_id"] for o in world.store.orders(p.id) if o["purpose"] == "exit"]
        assert exits == [f"slt{p.id}-x1", f"slt{p.id}-x2"]

    asyncio.run(main())


def test_orphan_protective_order_is_canceled() -> None:
    async def main() -> None:
        world = World()
        await world.open_long()
        await world.exchange.place(OrderRequest("slt77-s1", "BTCUSDT", Side.SELL,
                                                OrderType.STOP_MARKET, Decimal("0.1"),
                                                stop_price=Decimal("9000.0"), reduce_only=True))
        _, report = await world.restart()
        assert [m.kind for m in report.mismatches] == [MismatchKind.ORPHAN_ORDER]
        assert "slt77-s1" not in {o.client_id for o in await world.exchange.open_orders()}

    asyncio.run(main())


def test_missing_protective_stop_is_placed_again() -> None:
    async def main() -> None:
        world = World()
        p = await world.open_long()
        await world.exchange.cancel("BTCUSDT", f"slt{p.id}-s1")
        _, report = await world.restart()
        assert [m.kind for m in report.mismatches] == [MismatchKind.UNPROTECTED]
        assert f"slt{p.id}-s2" in {o.client_id for o in await world.exchange.open_orders()}

    asyncio.run(main())




def test_kill_9_between_saving_closing_and_saving_the_exit_order_resolves_on_restart() -> None:
    async def main() -> None:
        world = World()
        p = await world.open_long()
        # A store written by a bot that saved `closing` and died before saving its exit order.
        p.exit_reason = "take_profit"
        p.exit_attempts = 1
        p.machine.request_exit()
        world.store.save_position(p.to_record())
        controller, report = await world.restart()
        assert [m.kind for m in report.mismatches] == [MismatchKind.IN_FLIGHT]
        [resumed] = controller.positions.values()
        assert resumed.status == "open" and resumed.exit_reason == "take_profit"
        await run_clock(world.clock, resumed.next_exit_ms)
        assert resumed.status == "closed"
        exits = [o["client_id"] for o in world.store.orders(p.id) if o["purpose"] == "exit"]
        assert exits == [f"slt{p.id}-x2"]
        assert await world.exchange.positions() == []

    asyncio.run(main())


def test_a_restart_sizes_the_stop_to_fills_made_while_down() -> None:
    async def main() -> None:
        world = World()
        p = await world.open_long()
        world.first.alive = False
        await world.exchange.place(OrderRequest("web_add", "BTCUSDT", Side.BUY,
                                                OrderType.MARKET, Decimal("0.2")))
        controller, report = await world.restart()
        assert [m.kind for m in report.mismatches] == [MismatchKind.SIZE_MISMATCH]
        [resumed] = controller.positions.values()
        assert resumed.qty == Decimal("0.7")
        stops = {o.client_id for o in await world.exchange.open_orders("BTCUSDT")}
        assert stops == {f"slt{p.id}-s2"}
        [s2] = [o for o in world.store.orders(p.id) if o["client_id"] == f"slt{p.id}-s2"]
        assert s2["qty"] == Decimal("0.7")

    asyncio.run(main())
