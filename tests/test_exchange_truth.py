"""Issue 9: positions follow the exchange's truth. Each test reproduces one reported failure
against the real PositionController, FakeExchange and SQLite store on a simulated clock."""

import asyncio
import dataclasses
import itertools
from decimal import Decimal

from test_position_controller import FILTERS, Rig

from slt.application.guarded_gateway import GuardedGateway
from slt.application.position_controller import ExitSettings, PositionController
from slt.domain.breaker import CircuitBreaker, FailureKind
from slt.domain.orders import Fill, OrderRequest, OrderStatus, OrderType, Priority
from slt.domain.values import Side
from slt.ports.order_gateway import ExchangeDown, OrderOutcomeUnknown, OrderRejected

from factories import quote, run_clock


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def working_stops(rig: Rig) -> list[tuple[str, Decimal]]:
    """(client id, quantity) of the orders working on the exchange."""
    sent = {o["client_id"]: o["qty"] for p in (1, 2) for o in rig.store.orders(p)}
    return [(o.client_id, sent[o.client_id]) for o in await rig.exchange.open_orders("BTCUSDT")]


def count_places(rig: Rig, purpose_prefix: str = "-x") -> list[str]:
    """Wrap the exchange's `place`: the client ids of the matching orders that reached it."""
    sent: list[str] = []
    real = rig.exchange.place

    async def counting(order: OrderRequest):  # type: ignore[no-untyped-def]
        if purpose_prefix in order.client_id:
            sent.append(order.client_id)
        return await real(order)

    rig.exchange.place = counting  # type: ignore[method-assign]
    return sent


# -- 1. entry filled in several pieces ----------------------------------------------------


def test_entry_filled_in_pieces_resizes_the_stop_to_the_filled_size_without_a_gap() -> None:
    async def main() -> None:
        rig = Rig()
        rig.exchange.fill_next_partly(Decimal("0.2"))
        p = await rig.open()
        assert p.status == "open" and p.qty == Decimal("0.2")
        assert [q for _, q in await working_stops(rig)] == [Decimal("0.2")]
        rig.exchange.fill_rest("BTCUSDT", f"slt{p.id}-e")
        await rig.clock.settle()
        assert p.qty == Decimal("0.5")
        # the new stop covers everything; the one it replaced is gone
        assert await working_stops(rig) == [(f"slt{p.id}-s2", Decimal("0.5"))]
        await rig.tick(9_900.0, 9_900.1)
        assert p.status == "closed" and p.exit_reason == "stop_loss"
        assert await rig.exchange.positions() == []

    run(main())


def test_an_entry_fill_while_closing_grows_the_position_and_the_exit_finishes_the_rest() -> None:
    async def main() -> None:
        rig = Rig()
        rig.exchange.fill_next_partly(Decimal("0.2"))
        p = await rig.open()
        rig.exchange.fill_next_partly(Decimal(0))  # the exit waits in the book
        await rig.tick(10_200.1, 10_200.2)  # take-profit
        assert p.status == "closing"
        rig.exchange.fill_rest("BTCUSDT", f"slt{p.id}-e")  # used to raise TransitionNotAllowed
        assert p.status == "closing" and p.qty == Decimal("0.5")
        rig.exchange.fill_rest("BTCUSDT", f"slt{p.id}-x1")  # fills the 0.2 it was sized for
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_reason == "take_profit"
        assert p.exit_qty == Decimal("0.5")
        assert await rig.exchange.positions() == []

    run(main())


def test_adopting_the_exchange_size_resizes_the_stop() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        rig.controller.adopt_size(p, Decimal("0.3"))
        await rig.clock.settle()
        assert await working_stops(rig) == [(f"slt{p.id}-s2", Decimal("0.3"))]

    run(main())


# -- 2. a stop fill that never arrives ----------------------------------------------------


def test_a_lost_stop_fill_settles_the_position_with_one_exit_attempt_not_one_per_quote() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        sent = count_places(rig)
        rig.exchange._listeners.clear()  # type: ignore[attr-defined]  # the stream is deaf
        rig.exchange._account_listeners.clear()  # type: ignore[attr-defined]
        for _ in range(21):
            await rig.tick(9_850.0, 9_850.1)  # the stop fired at the first of them
        assert sent == [f"slt{p.id}-x1"]  # refused -2022, then the re-read found it flat
        assert p.status == "closed" and p.exit_reason == "stop_loss"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("9850.0")  # the stop's fill, from its query
        assert rig.controller.positions == {}

    run(main())


# -- 3. exits back off under 429 and 418 ----------------------------------------------------


def test_a_429_storm_sends_one_exit_per_retry_after_not_one_per_quote() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        real = rig.exchange.place
        throttled = [True]

        async def limited(order: OrderRequest):  # type: ignore[no-untyped-def]
            if throttled[0]:
                raise ExchangeDown(FailureKind.RATE_LIMIT_429, "429", retry_after_ms=30_000)
            return await real(order)

        rig.exchange.place = limited  # type: ignore[method-assign]
        sent = count_places(rig)
        start = rig.clock.now_ms()
        for k in range(100):  # 10 s of quotes past the take-profit
            ts = start + 100 * (k + 1)
            await run_clock(rig.clock, ts)
            q = quote(10_300.0, 10_300.1, ts)
            rig.exchange.on_quote(q)
            rig.controller.on_quote(q)
        await rig.clock.settle()
        assert len(sent) == 1 and p.status == "open"
        assert p.next_exit_ms >= start + 100 + 30_000  # Retry-After honoured
        throttled[0] = False
        await run_clock(rig.clock, p.next_exit_ms)
        assert len(sent) == 2 and p.status == "closed"

    run(main())


def test_during_an_ip_ban_nothing_is_sent_or_written_per_quote() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        ban_until = rig.clock.now_ms() + 120_000
        rig.exchange.fail_next(ExchangeDown(FailureKind.IP_BAN_418, "418", ban_until_ms=ban_until))
        for _ in range(50):
            await rig.tick(10_300.0, 10_300.1)
        exits = [o for o in rig.store.orders(p.id) if o["purpose"] == "exit"]
        assert len(exits) == 1 and exits[0]["status"] is OrderStatus.REJECTED
        assert p.next_exit_ms == ban_until and p.status == "open"
        await run_clock(rig.clock, ban_until)
        assert p.status == "closed"

    run(main())


def test_backoff_doubles_while_the_exchange_keeps_refusing() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        real = rig.exchange.place
        times: list[int] = []

        async def down(order: OrderRequest):  # type: ignore[no-untyped-def]
            if "-x" in order.client_id and len(times) < 4:
                times.append(rig.clock.now_ms())
                raise ExchangeDown(FailureKind.SERVER_5XX, "502")
            return await real(order)

        rig.exchange.place = down  # type: ignore[method-assign]
        await rig.tick(10_300.0, 10_300.1)
        await run_clock(rig.clock, rig.clock.now_ms() + 60_000)
        assert p.status == "closed"
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps == [1_000, 2_000, 4_000]

    run(main())


# -- 5. no stop and the unprotected exit lost ---------------------------------------------


def test_an_unprotected_position_whose_exit_was_lost_is_retried_until_flat() -> None:
    async def main() -> None:
        rig = Rig()
        real = rig.exchange.place
        alarms: list[bool] = []
        rig.controller.add_protection_listener(lambda p, ok, detail: alarms.append(ok))

        async def no_stops(order: OrderRequest):  # type: ignore[no-untyped-def]
            if order.type is OrderType.STOP_MARKET:
                raise OrderRejected(-4045, "Reach max stop order limit.")
            if "-x1" in order.client_id:
                raise OrderOutcomeUnknown("timeout")  # never reached the exchange
            return await real(order)

        rig.exchange.place = no_stops  # type: ignore[method-assign]
        p = await rig.open()
        assert p.status == "open" and p.exit_reason == "unprotected"  # waiting for its retry
        await run_clock(rig.clock, rig.clock.now_ms() + 5_000)
        assert p.status == "closed" and p.exit_reason == "unprotected"
        assert alarms and not any(alarms)
        assert await rig.exchange.positions() == []

    run(main())


def test_a_stop_placement_that_fails_is_retried_until_it_stands_and_alarms_each_time() -> None:
    async def main() -> None:
        rig = Rig()
        real = rig.exchange.place
        refusals = [2]
        alarms: list[bool] = []
        rig.controller.add_protection_listener(lambda p, ok, detail: alarms.append(ok))
        ban_until = rig.clock.now_ms() + 600_000

        async def flaky(order: OrderRequest):  # type: ignore[no-untyped-def]
            if order.type is OrderType.STOP_MARKET and refusals[0]:
                refusals[0] -= 1
                raise ExchangeDown(FailureKind.SERVER_5XX, "503")
            if "-x" in order.client_id:  # the unprotected exit cannot go either
                raise ExchangeDown(FailureKind.IP_BAN_418, "418", ban_until_ms=ban_until)
            return await real(order)

        rig.exchange.place = flaky  # type: ignore[method-assign]
        p = await rig.open()
        await run_clock(rig.clock, rig.clock.now_ms() + 10_000)
        assert alarms == [False, False, True]
        assert await working_stops(rig) == [(f"slt{p.id}-s3", Decimal("0.5"))]
        assert p.status == "open" and p.next_exit_ms == ban_until

    run(main())


# -- 6. EXPIRED / CANCELED with nothing filled ----------------------------------------------


def test_an_entry_that_expires_unfilled_ends_canceled_and_frees_the_symbol() -> None:
    async def main() -> None:
        rig = Rig()
        rig.exchange.fill_next_partly(Decimal(0))
        p = await rig.open()
        assert p.status == "pending_open"
        rig.exchange.expire_rest("BTCUSDT", f"slt{p.id}-e")
        await rig.controller.resolve_stuck(rig.clock.now_ms() + 5_000)
        assert p.status == "canceled"
        assert rig.controller.open_symbols() == set() and rig.store.open_positions() == []

    run(main())


def test_an_exit_that_expires_unfilled_returns_to_open_and_is_sent_again() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fill_next_partly(Decimal(0))
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "closing"
        rig.exchange.expire_rest("BTCUSDT", f"slt{p.id}-x1")
        await rig.controller.resolve_stuck(rig.clock.now_ms() + 5_000)
        assert p.status == "open" and p.exit_reason == "take_profit"
        await run_clock(rig.clock, p.next_exit_ms)
        assert p.status == "closed" and p.exit_attempts == 2

    run(main())


def test_an_exit_whose_send_died_without_an_answer_is_asked_about_and_sent_again() -> None:
    """A failure nobody mapped (here a reset socket) ends the send with no answer: the exit's
    fills are then awaited for FILL_WAIT_MS like any other's, and the query that follows finds
    it never arrived, so the intent goes on. Before, the position stayed `closing` for ever."""

    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fail_next(ConnectionResetError("reset by peer"))
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "closing"
        await rig.controller.resolve_stuck(rig.clock.now_ms() + 4_999)
        assert p.status == "closing"  # its fills may still come
        await rig.controller.resolve_stuck(rig.clock.now_ms() + 5_000)
        assert p.status == "open" and p.exit_reason == "take_profit"
        await run_clock(rig.clock, p.next_exit_ms)
        assert p.status == "closed" and p.exit_attempts == 2

    run(main())


def test_a_late_answer_about_an_earlier_exit_does_not_undo_the_one_now_out() -> None:
    """Two resolutions of one position can overlap (the periodic one and the user stream's
    reconnect): the one that asked about x1 must not send the position, now waiting for x2,
    back to `open` with x2 still working."""

    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fail_next(OrderOutcomeUnknown("timeout"))  # x1 never reaches it
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "open" and p.exit_client_id == ""
        x1 = OrderRequest(f"slt{p.id}-x1", "BTCUSDT", Side.SELL, OrderType.MARKET,
                          Decimal("0.5"), reduce_only=True)
        rig.exchange.fill_next_partly(Decimal(0))  # x2 rests unfilled for now
        await run_clock(rig.clock, p.next_exit_ms)
        assert p.status == "closing" and p.exit_client_id == f"slt{p.id}-x2"
        await rig.controller._resolve(p, "exit", x1)  # the late answer: x1 was never seen
        assert p.status == "closing" and p.exit_client_id == f"slt{p.id}-x2"
        rig.exchange.fill_rest("BTCUSDT", f"slt{p.id}-x2")
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_attempts == 2

    run(main())


# -- 7. closed outside the bot ----------------------------------------------------------------


def outside(client_id: str, qty: str) -> OrderRequest:
    return OrderRequest(client_id, "BTCUSDT", Side.SELL, OrderType.MARKET, Decimal(qty),
                        reduce_only=True)


def test_a_liquidation_fill_closes_the_position_at_its_price() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        await rig.tick(9_950.0, 9_950.1)
        await rig.exchange.place(outside("autoclose-1733472000000", "0.5"))
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_reason == "liquidation"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("9950.0")
        assert await working_stops(rig) == []

    run(main())


def test_an_adl_fill_is_named_adl_and_a_manual_partial_close_resizes_the_stop() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        await rig.exchange.place(outside("web_manual1", "0.2"))
        await rig.clock.settle()
        assert p.status == "open" and p.remaining == Decimal("0.3")
        assert await working_stops(rig) == [(f"slt{p.id}-s2", Decimal("0.3"))]
        await rig.exchange.place(outside("adl_autoclose", "0.3"))
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_reason == "adl"

    run(main())


def test_a_flat_snapshot_without_fills_settles_at_the_last_quote_never_at_zero() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange._listeners.clear()  # type: ignore[attr-defined]
        rig.exchange._account_listeners.clear()  # type: ignore[attr-defined]
        await rig.tick(10_050.0, 10_050.1)
        await rig.exchange.place(outside("web_manual2", "0.5"))
        await rig.controller.reconcile(await rig.exchange.positions(), rig.clock.now_ms())
        assert p.status == "closed" and p.exit_reason == "external"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("10050.0")

    run(main())


def test_a_liquidation_whose_fill_never_came_is_named_and_priced_from_the_exchanges_order() -> None:
    """Liquidated before the stream was up: only the flat amount is seen. The exchange's own
    order, read back, names the reason and gives the price (not `external` at a guess)."""

    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange._listeners.clear()  # type: ignore[attr-defined]
        rig.exchange._account_listeners.clear()  # type: ignore[attr-defined]
        await rig.tick(9_950.0, 9_950.1)
        await rig.exchange.place(outside("autoclose-1733472000000", "0.5"))
        await rig.tick(9_990.0, 9_990.1)  # the last quote is not the liquidation's price
        await rig.controller.reconcile(await rig.exchange.positions(), rig.clock.now_ms())
        assert p.status == "closed" and p.exit_reason == "liquidation"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("9950.0")

    run(main())


def test_an_unknown_position_on_the_stream_halts_entries_by_default() -> None:
    async def main() -> None:
        rig = Rig()
        await rig.tick(10_000.0, 10_000.1)
        await rig.exchange.place(OrderRequest("web_x", "BTCUSDT", Side.BUY, OrderType.MARKET,
                                              Decimal("0.1")))
        await run_clock(rig.clock, rig.clock.now_ms() + 5_000)
        assert "unknown to the bot" in rig.controller.halted

    run(main())


# -- 8. algo updates, funding, fees in BNB ---------------------------------------------------


def test_a_stop_cancelled_on_the_exchange_is_placed_again() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        await rig.exchange.cancel("BTCUSDT", f"slt{p.id}-s1")
        await run_clock(rig.clock, rig.clock.now_ms() + 5_000)
        assert await working_stops(rig) == [(f"slt{p.id}-s2", Decimal("0.5"))]

    run(main())


def test_funding_is_booked_per_position_and_in_the_trade_pnl() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        paid = rig.exchange.charge_funding("BTCUSDT", Decimal("0.0001"))
        assert paid < 0
        [entry] = rig.store.ledger()
        assert (entry.kind, entry.amount, entry.position_id) == ("FUNDING_FEE", paid, p.id)
        await rig.tick(10_200.1, 10_200.2)
        [trade] = rig.store.trades()
        assert trade.pnl == p.realized_pnl - p.fees + paid

    run(main())


def test_a_fee_paid_in_bnb_is_never_booked_as_usdt() -> None:
    async def main() -> None:
        rig = Rig()
        listeners = rig.exchange._listeners  # type: ignore[attr-defined]
        deliver = listeners[0]

        def in_bnb(fill: Fill) -> None:
            deliver(dataclasses.replace(fill, fee=Decimal("0.004"), fee_asset="BNB"))

        listeners[0] = in_bnb
        p = await rig.open()
        assert p.fees == 0
        [entry] = rig.store.ledger()
        assert (entry.kind, entry.asset, entry.amount) == ("COMMISSION", "BNB", Decimal("-0.004"))

    run(main())


# -- 12. paper mode at shutdown ----------------------------------------------------------------


def test_paper_positions_are_closed_at_shutdown_at_their_last_quote() -> None:
    async def main() -> None:
        rig = Rig()
        p = await rig.open()
        await rig.tick(10_050.0, 10_050.1)
        await rig.controller.close_for_shutdown()
        assert p.status == "closed" and p.exit_reason == "shutdown"
        [trade] = rig.store.trades()
        assert trade.exit_price == Decimal("10050.0")
        assert await rig.exchange.positions() == []

    run(main())


def test_a_query_of_a_partly_filled_exit_does_not_count_its_fills_twice() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        p = await rig.open()
        rig.exchange.fill_next_partly(Decimal("0.2"))
        await rig.tick(10_300.0, 10_300.1)
        assert p.status == "closing" and p.exit_qty == Decimal("0.2")
        await rig.controller.resolve_stuck(rig.clock.now_ms() + 5_000)  # its fills are overdue
        assert p.status in ("closing", "exit_in_flight") and p.exit_qty == Decimal("0.2")
        rig.exchange.fill_rest("BTCUSDT", f"slt{p.id}-x1")
        assert p.status == "closed" and p.exit_qty == Decimal("0.5")
        assert await rig.exchange.positions() == []

    run(main())


def test_through_the_circuit_breaker_a_ban_costs_one_refused_exit_then_one_that_closes() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        guarded = GuardedGateway(rig.exchange, CircuitBreaker(), rig.clock, rig.store)
        rig.controller = PositionController(
            rig.clock, guarded, rig.store, FILTERS, ExitSettings(max_hold_ms=0,
                                                                 exchange_stop=False)
        )
        p = await rig.open()
        sent = count_places(rig)
        ban_until = rig.clock.now_ms() + 120_000
        rig.exchange.fail_next(ExchangeDown(FailureKind.IP_BAN_418, "418", ban_until_ms=ban_until))
        for _ in range(50):
            await rig.tick(10_300.0, 10_300.1)
        assert sent == [f"slt{p.id}-x1"] and p.status == "open"  # answered 418, then silence
        assert len([o for o in rig.store.orders(p.id) if o["purpose"] == "exit"]) == 1
        assert not guarded.breaker.admit(Priority.CRITICAL, rig.clock.now_ms()).allowed
        await run_clock(rig.clock, ban_until + 1_000)
        assert p.status == "closed" and sent == [f"slt{p.id}-x1", f"slt{p.id}-x2"]

    run(main())


def test_an_exit_held_back_by_a_ban_it_did_not_see_is_resent_at_the_ban_end() -> None:
    """The ban was learnt from another request: the breaker refuses the exit before it leaves
    and says until when, so the resend waits for the ban's end, not for a backoff step (which
    would have come at +1, +3, +7, ... +63, +123 s, every one refused, the last after it)."""

    async def main() -> None:
        settings = ExitSettings(max_hold_ms=0, exchange_stop=False)
        rig = Rig(settings)
        guarded = GuardedGateway(rig.exchange, CircuitBreaker(), rig.clock, rig.store)
        rig.controller = PositionController(rig.clock, guarded, rig.store, FILTERS, settings)
        p = await rig.open()
        sent = count_places(rig)
        ban_until = rig.clock.now_ms() + 120_000
        guarded.breaker.record_failure(
            FailureKind.IP_BAN_418, rig.clock.now_ms(), ban_until_ms=ban_until
        )
        await rig.tick(10_300.0, 10_300.1)
        assert sent == [] and p.status == "open" and p.next_exit_ms == ban_until
        await run_clock(rig.clock, ban_until)
        assert p.status == "closed" and sent == [f"slt{p.id}-x2"]

    run(main())
