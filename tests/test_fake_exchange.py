"""FakeExchange: fills, fees, pnl, margin, reduce-only, working orders and rejections.

Expected money values are worked out by hand in the comments, in exact decimals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal as D
from typing import Any, TypeVar

import pytest

from slt.adapters.fake_exchange import FakeExchange
from slt.domain.account_events import AccountEvent, AlgoOrderUpdate, AlgoStatus, PositionUpdate
from slt.domain.filters import FilterViolation, SymbolFilters
from slt.domain.orders import Fill, OrderRequest, OrderStatus, OrderType
from slt.domain.values import Quote, Side
from slt.ports.clock import Clock
from slt.ports.order_gateway import GatewayUnavailable, OrderOutcomeUnknown, OrderRejected

T = TypeVar("T")
BTC = "BTCUSDT"
BTC_FILTERS = SymbolFilters(
    symbol=BTC,
    tick_size=D("0.1"),
    step_size=D("0.001"),
    min_qty=D("0.002"),
    max_qty=D("1000"),
    min_notional=D("200"),
)
BUY, SELL = Side.BUY, Side.SELL
MKT, LIMIT = OrderType.MARKET, OrderType.LIMIT
STOP, TP = OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET


class ManualClock(Clock):
    def __init__(self, now_ms: int) -> None:
        self.t = now_ms

    def now_ms(self) -> int:
        return self.t

    async def sleep_until(self, ts_ms: int) -> None:
        self.t = max(self.t, ts_ms)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(coro, name=name)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def quote(ex: FakeExchange, bid: float, ask: float, symbol: str = BTC) -> None:
    ex.on_quote(Quote(symbol, 0, bid, 1.0, ask, 1.0))


def order(
    cid: str,
    side: Side,
    qty: str,
    type_: OrderType = MKT,
    *,
    price: str | None = None,
    stop: str | None = None,
    reduce_only: bool = False,
    symbol: str = BTC,
) -> OrderRequest:
    return OrderRequest(
        client_id=cid,
        symbol=symbol,
        side=side,
        type=type_,
        qty=D(qty),
        price=D(price) if price is not None else None,
        stop_price=D(stop) if stop is not None else None,
        reduce_only=reduce_only,
    )


def place(ex: FakeExchange, req: OrderRequest) -> OrderStatus:
    return run(ex.place(req)).status


def rejection(ex: FakeExchange, req: OrderRequest) -> int:
    with pytest.raises(OrderRejected) as info:
        run(ex.place(req))
    return info.value.code


def position(ex: FakeExchange, symbol: str = BTC) -> tuple[D, D] | None:
    found = [p for p in run(ex.positions()) if p.symbol == symbol]
    return (found[0].qty, found[0].entry_price) if found else None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000_000)


@pytest.fixture
def ex(clock: ManualClock) -> FakeExchange:
    exchange = FakeExchange({BTC: BTC_FILTERS}, clock)
    quote(exchange, 60000.0, 60000.5)
    return exchange


def long_001(ex: FakeExchange) -> None:
    """Open long 0.01 at the ask 60000.5 (fee 60000.5 * 0.01 * 0.0005 = 0.3000025)."""
    assert place(ex, order("open", BUY, "0.01")) is OrderStatus.FILLED


def short_001(ex: FakeExchange) -> None:
    """Open short 0.01 at the bid 60000.0 (fee 0.3)."""
    assert place(ex, order("open", SELL, "0.01")) is OrderStatus.FILLED


# -- market orders, fees, wallet -------------------------------------------------------------


def test_market_buy_fills_at_the_ask_with_taker_fee(ex: FakeExchange, clock: ManualClock) -> None:
    clock.t = 1_700_000_000_123
    state = run(ex.place(order("b1", BUY, "0.01")))

    assert (state.status, state.filled_qty, state.avg_price) == (
        OrderStatus.FILLED,
        D("0.01"),
        D("60000.5"),
    )
    assert ex.fills == (
        Fill(
            symbol=BTC,
            client_id="b1",
            trade_id=1,
            side=BUY,
            qty=D("0.01"),
            price=D("60000.5"),
            fee=D("0.3000025"),
            realized_pnl=D(0),
            ts_ms=1_700_000_000_123,
            order_status=OrderStatus.FILLED,
            reduce_only=False,
            is_maker=False,
        ),
    )
    assert run(ex.balance()).wallet == D("9999.6999975")
    assert position(ex) == (D("0.01"), D("60000.5"))


def test_market_sell_fills_at_the_bid(ex: FakeExchange) -> None:
    short_001(ex)

    (fill,) = ex.fills
    assert (fill.price, fill.fee) == (D("60000.0"), D("0.3"))
    assert run(ex.balance()).wallet == D("9999.7")
    assert position(ex) == (D("-0.01"), D("60000.0"))


def test_balance_marks_unrealised_pnl_and_margin_at_the_mid(ex: FakeExchange) -> None:
    long_001(ex)

    balance = run(ex.balance())
    # mid 60000.25: upnl = 0.01 * (60000.25 - 60000.5) = -0.0025
    # margin = 0.01 * 60000.25 / 10 = 60.000250
    assert balance.unrealized_pnl == D("-0.0025")
    assert balance.available == D("9999.6999975") - D("0.0025") - D("60.000250")
    assert run(ex.positions())[0].unrealized_pnl == D("-0.0025")


def test_increase_averages_the_entry_price(ex: FakeExchange) -> None:
    long_001(ex)
    quote(ex, 60100.0, 60100.5)
    place(ex, order("add", BUY, "0.03"))

    # (0.01 * 60000.5 + 0.03 * 60100.5) / 0.04 = 2403.02 / 0.04 = 60075.5
    assert position(ex) == (D("0.04"), D("60075.5"))


def test_closing_a_long_realises_pnl_gross_of_fees(ex: FakeExchange) -> None:
    long_001(ex)
    quote(ex, 61000.0, 61000.5)
    place(ex, order("close", SELL, "0.01", reduce_only=True))

    close = ex.fills[-1]
    # rp = 0.01 * (61000.0 - 60000.5) = 9.995; fee = 61000 * 0.01 * 0.0005 = 0.305
    assert (close.realized_pnl, close.fee, close.reduce_only) == (D("9.995"), D("0.305"), True)
    assert run(ex.balance()).wallet == D("10000") + D("9.995") - D("0.3000025") - D("0.305")
    assert position(ex) is None


def test_closing_a_short_realises_pnl_gross_of_fees(ex: FakeExchange) -> None:
    short_001(ex)
    quote(ex, 58999.5, 59000.0)
    place(ex, order("close", BUY, "0.01", reduce_only=True))

    close = ex.fills[-1]
    # rp = 0.01 * (60000.0 - 59000.0) = 10; fee = 59000 * 0.01 * 0.0005 = 0.295
    assert (close.realized_pnl, close.fee) == (D("10"), D("0.295"))
    assert run(ex.balance()).wallet == D("10009.405")
    assert position(ex) is None


def test_position_flips_through_zero(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("flip", SELL, "0.03"))

    flip = ex.fills[-1]
    # Closes 0.01 at 60000.0: rp = 0.01 * (60000.0 - 60000.5) = -0.005; opens -0.02 at 60000.0.
    assert (flip.qty, flip.realized_pnl, flip.fee) == (D("0.03"), D("-0.005"), D("0.9"))
    assert position(ex) == (D("-0.02"), D("60000.0"))
    assert run(ex.balance()).wallet == D("10000") - D("0.3000025") - D("0.005") - D("0.9")


def test_market_order_before_any_quote_is_refused(clock: ManualClock) -> None:
    ex = FakeExchange({BTC: BTC_FILTERS}, clock)
    assert rejection(ex, order("b1", BUY, "0.01")) == -2020


# -- reduce-only -----------------------------------------------------------------------------


def test_reduce_only_is_refused_when_flat(ex: FakeExchange) -> None:
    assert rejection(ex, order("r", SELL, "0.01", reduce_only=True)) == -2022
    assert rejection(ex, order("r", BUY, "0.01", reduce_only=True)) == -2022
    assert run(ex.query(BTC, "r")) is None


def test_reduce_only_on_the_same_side_is_refused(ex: FakeExchange) -> None:
    long_001(ex)
    assert rejection(ex, order("r", BUY, "0.01", reduce_only=True)) == -2022
    stop = order("rs", BUY, "0.01", STOP, stop="61000.0", reduce_only=True)
    assert rejection(ex, stop) == -2022


def test_reduce_only_market_order_is_cut_to_the_position(ex: FakeExchange) -> None:
    long_001(ex)
    state = run(ex.place(order("r", SELL, "0.05", reduce_only=True)))

    assert (state.status, state.filled_qty) == (OrderStatus.FILLED, D("0.01"))
    assert ex.fills[-1].qty == D("0.01")
    assert position(ex) is None


# -- filters and other refusals ----------------------------------------------------------------


def filter_code(qty: str, price: str, *, market: bool) -> int:
    with pytest.raises(FilterViolation) as info:
        BTC_FILTERS.check(D(qty), D(price), market=market, reduce_only=False)
    return info.value.code


def test_off_step_quantity_is_refused_with_the_filter_code(ex: FakeExchange) -> None:
    assert rejection(ex, order("x", BUY, "0.0105")) == filter_code("0.0105", "60000.5", market=True)
    assert run(ex.query(BTC, "x")) is None


def test_quantity_below_minimum_is_refused(ex: FakeExchange) -> None:
    assert rejection(ex, order("x", BUY, "0.001")) == filter_code("0.001", "60000.5", market=True)


def test_market_notional_is_checked_at_the_touch(ex: FakeExchange) -> None:
    # 0.003 * 60000.5 = 180.0015 < 200
    assert rejection(ex, order("x", BUY, "0.003")) == -4164
    # 0.004 * 60000.5 = 240.002
    assert place(ex, order("y", BUY, "0.004")) is OrderStatus.FILLED


def test_limit_price_off_tick_is_refused(ex: FakeExchange) -> None:
    code = rejection(ex, order("x", BUY, "0.01", LIMIT, price="59000.05"))
    assert code == filter_code("0.01", "59000.05", market=False)


def test_unknown_symbol_is_refused(ex: FakeExchange) -> None:
    with pytest.raises(OrderRejected) as info:
        run(ex.place(order("x", BUY, "0.01", symbol="NOPEUSDT")))
    assert (info.value.code, info.value.message) == (-1121, "Invalid symbol.")


def test_symbol_added_later_trades(ex: FakeExchange) -> None:
    eth = SymbolFilters("ETHUSDT", D("0.01"), D("0.001"), D("0.001"), D("10000"), D("20"))
    ex.add_symbol(eth)
    quote(ex, 3000.0, 3000.01, symbol="ETHUSDT")

    assert place(ex, order("e", BUY, "0.01", symbol="ETHUSDT")) is OrderStatus.FILLED
    assert "ETHUSDT" in run(ex.symbol_filters())


def test_duplicate_client_id_is_refused_while_the_order_is_known(ex: FakeExchange) -> None:
    place(ex, order("dup", BUY, "0.01", LIMIT, price="59000.0"))
    assert rejection(ex, order("dup", BUY, "0.01", LIMIT, price="58000.0")) == -4116
    run(ex.cancel(BTC, "dup"))
    assert rejection(ex, order("dup", BUY, "0.01")) == -4116


def test_missing_stop_price_is_refused(ex: FakeExchange) -> None:
    assert rejection(ex, order("s", SELL, "0.01", STOP)) == -1102


# -- margin ----------------------------------------------------------------------------------


def test_margin_boundary_is_exact(clock: ManualClock) -> None:
    # Buying 0.01 at 60000.5 leaves: wallet - fee 0.3000025 + upnl -0.0025 - margin 60.00025.
    needed = D("0.3000025") + D("0.0025") + D("60.00025")
    enough = FakeExchange({BTC: BTC_FILTERS}, clock, wallet=needed)
    short = FakeExchange({BTC: BTC_FILTERS}, clock, wallet=needed - D("0.0000001"))
    for exchange in (enough, short):
        quote(exchange, 60000.0, 60000.5)

    assert place(enough, order("b", BUY, "0.01")) is OrderStatus.FILLED
    assert run(enough.balance()).available == 0
    with pytest.raises(OrderRejected) as info:
        run(short.place(order("b", BUY, "0.01")))
    assert (info.value.code, info.value.message) == (-2019, "Margin is insufficient.")
    assert short.fills == ()


def test_margin_counts_other_positions_and_leverage(clock: ManualClock) -> None:
    ex = FakeExchange({BTC: BTC_FILTERS}, clock, wallet=D("100"))
    quote(ex, 60000.0, 60000.5)
    long_001(ex)  # uses 60.00025 margin + 0.3025025 costs: about 39.70 left at leverage 10

    assert rejection(ex, order("more", BUY, "0.007")) == -2019  # needs about 42 more
    run(ex.set_leverage(BTC, 20))  # halves the margin of both: 30.0 + 21.0
    assert place(ex, order("more", BUY, "0.007")) is OrderStatus.FILLED


def test_reductions_are_allowed_with_negative_available_balance(clock: ManualClock) -> None:
    ex = FakeExchange({BTC: BTC_FILTERS}, clock, wallet=D("70"))
    quote(ex, 60000.0, 60000.5)
    long_001(ex)
    quote(ex, 58000.0, 58000.5)
    assert run(ex.balance()).available < 0

    # A reduce-only order is never margin-checked, even one larger than the position.
    assert place(ex, order("tp", SELL, "0.05", LIMIT, price="60000.0", reduce_only=True)) is (
        OrderStatus.NEW
    )
    assert place(ex, order("close", SELL, "0.01", reduce_only=True)) is OrderStatus.FILLED


def test_leverage_bounds(ex: FakeExchange) -> None:
    for bad in (0, 126, -3):
        with pytest.raises(OrderRejected) as info:
            run(ex.set_leverage(BTC, bad))
        assert info.value.code == -4028
    assert run(ex.set_leverage(BTC, 1)) == 1
    assert run(ex.set_leverage(BTC, 125)) == 125
    long_001(ex)
    assert run(ex.positions())[0].leverage == 125


def test_leverage_of_an_unknown_symbol_is_refused(ex: FakeExchange) -> None:
    with pytest.raises(OrderRejected) as info:
        run(ex.set_leverage("NOPEUSDT", 5))
    assert info.value.code == -1121


# -- working orders --------------------------------------------------------------------------


def test_long_protective_stop_triggers_on_the_bid(ex: FakeExchange) -> None:
    long_001(ex)
    stop = order("sl", SELL, "0.01", STOP, stop="59000.0", reduce_only=True)
    assert place(ex, stop) is OrderStatus.NEW

    quote(ex, 59000.1, 59000.2)
    assert len(ex.fills) == 1
    quote(ex, 59000.0, 59001.0)  # mid 59000.5 is above the stop: only the bid reaches it

    fill = ex.fills[-1]
    # rp = 0.01 * (59000.0 - 60000.5) = -10.005, taker fee 59000 * 0.01 * 0.0005 = 0.295
    assert (fill.client_id, fill.price, fill.realized_pnl, fill.fee, fill.is_maker) == (
        "sl",
        D("59000.0"),
        D("-10.005"),
        D("0.295"),
        False,
    )
    assert run(ex.query(BTC, "sl")).status is OrderStatus.FILLED
    assert position(ex) is None


def test_short_protective_stop_triggers_on_the_ask(ex: FakeExchange) -> None:
    short_001(ex)
    place(ex, order("sl", BUY, "0.01", STOP, stop="61000.0", reduce_only=True))

    quote(ex, 60999.0, 60999.9)
    assert len(ex.fills) == 1
    quote(ex, 60999.0, 61000.0)  # mid 60999.5 is below the stop

    fill = ex.fills[-1]
    assert (fill.price, fill.realized_pnl) == (D("61000.0"), D("-10"))
    assert position(ex) is None


def test_take_profit_of_a_long_triggers_when_the_bid_reaches_it(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("tp", SELL, "0.01", TP, stop="61000.0", reduce_only=True))

    quote(ex, 60999.9, 61000.5)
    assert len(ex.fills) == 1
    quote(ex, 61000.2, 61000.5)

    fill = ex.fills[-1]  # at the bid, which is through the trigger: rp = 0.01 * 999.7
    assert (fill.price, fill.realized_pnl) == (D("61000.2"), D("9.997"))


def test_take_profit_of_a_short_triggers_when_the_ask_reaches_it(ex: FakeExchange) -> None:
    short_001(ex)
    place(ex, order("tp", BUY, "0.01", TP, stop="59000.0", reduce_only=True))

    quote(ex, 58999.0, 59000.1)
    assert len(ex.fills) == 1
    quote(ex, 58999.0, 59000.0)

    assert (ex.fills[-1].price, ex.fills[-1].realized_pnl) == (D("59000.0"), D("10"))


def test_conditional_order_already_crossed_is_refused(ex: FakeExchange) -> None:
    long_001(ex)
    stop = order("sl", SELL, "0.01", STOP, stop="60000.0", reduce_only=True)  # bid is 60000.0
    take = order("tp", SELL, "0.01", TP, stop="59000.0", reduce_only=True)
    assert rejection(ex, stop) == rejection(ex, take) == -2021
    assert run(ex.open_orders()) == []


def test_resting_limit_buy_fills_at_its_price_as_maker(ex: FakeExchange) -> None:
    state = run(ex.place(order("lb", BUY, "0.01", LIMIT, price="59000.0")))
    assert state.status is OrderStatus.NEW

    quote(ex, 58999.0, 59000.1)
    assert ex.fills == ()
    quote(ex, 58900.0, 58950.0)

    (fill,) = ex.fills
    # maker fee: 59000 * 0.01 * 0.0002 = 0.118
    assert (fill.price, fill.fee, fill.is_maker, fill.order_status) == (
        D("59000.0"),
        D("0.118"),
        True,
        OrderStatus.FILLED,
    )
    assert run(ex.balance()).wallet == D("9999.882")


def test_resting_limit_sell_fills_when_the_bid_reaches_it(ex: FakeExchange) -> None:
    place(ex, order("ls", SELL, "0.01", LIMIT, price="61000.0"))
    quote(ex, 60999.9, 61000.0)
    assert ex.fills == ()
    quote(ex, 61000.0, 61000.1)

    assert (ex.fills[-1].price, ex.fills[-1].is_maker) == (D("61000.0"), True)
    assert position(ex) == (D("-0.01"), D("61000.0"))


def test_crossing_limit_fills_at_once_at_the_quote_as_taker(ex: FakeExchange) -> None:
    state = run(ex.place(order("lx", BUY, "0.01", LIMIT, price="60100.0")))

    assert (state.status, state.avg_price) == (OrderStatus.FILLED, D("60000.5"))
    assert (ex.fills[-1].is_maker, ex.fills[-1].fee) == (False, D("0.3000025"))
    assert run(ex.open_orders()) == []


def test_cancel_and_query(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("sl", SELL, "0.01", STOP, stop="59000.0", reduce_only=True))
    assert [o.client_id for o in run(ex.open_orders(BTC))] == ["sl"]

    canceled = run(ex.cancel(BTC, "sl"))
    assert canceled.status is OrderStatus.CANCELED
    assert run(ex.query(BTC, "sl")).status is OrderStatus.CANCELED
    assert run(ex.open_orders()) == []
    quote(ex, 58000.0, 58000.5)
    assert len(ex.fills) == 1

    for cid in ("sl", "open", "never-sent"):  # final twice over, filled, unknown
        with pytest.raises(OrderRejected) as info:
            run(ex.cancel(BTC, cid))
        assert (info.value.code, info.value.message) == (-2011, "Unknown order sent.")
    assert run(ex.query(BTC, "never-sent")) is None
    assert run(ex.query("ETHUSDT", "open")) is None


def test_reduce_only_orders_expire_when_the_position_closes(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("sl", SELL, "0.01", STOP, stop="59000.0", reduce_only=True))
    place(ex, order("tp", SELL, "0.01", TP, stop="61000.0", reduce_only=True))
    place(ex, order("entry", BUY, "0.01", LIMIT, price="58000.0"))

    place(ex, order("close", SELL, "0.01", reduce_only=True))

    for cid in ("sl", "tp"):
        state = run(ex.query(BTC, cid))
        assert (state.status, state.filled_qty) == (OrderStatus.EXPIRED, D(0))
        assert state.reason
    assert [o.client_id for o in run(ex.open_orders())] == ["entry"]
    quote(ex, 62000.0, 62000.5)
    assert len(ex.fills) == 2


def test_stop_fill_expires_its_take_profit(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("sl", SELL, "0.01", STOP, stop="59000.0", reduce_only=True))
    place(ex, order("tp", SELL, "0.01", TP, stop="61000.0", reduce_only=True))

    quote(ex, 58990.0, 58990.5)

    assert run(ex.query(BTC, "sl")).status is OrderStatus.FILLED
    assert run(ex.query(BTC, "tp")).status is OrderStatus.EXPIRED
    assert ex.fills[-1].price == D("58990.0")


def test_two_stops_on_one_quote_close_the_position_once(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("sl1", SELL, "0.01", STOP, stop="59000.0", reduce_only=True))
    place(ex, order("sl2", SELL, "0.01", STOP, stop="59500.0", reduce_only=True))

    quote(ex, 58000.0, 58000.5)

    assert [f.client_id for f in ex.fills] == ["open", "sl1"]
    assert run(ex.query(BTC, "sl2")).status is OrderStatus.EXPIRED
    assert position(ex) is None


def test_triggered_entry_without_margin_expires(clock: ManualClock) -> None:
    ex = FakeExchange({BTC: BTC_FILTERS}, clock, wallet=D("50"))
    quote(ex, 60000.0, 60000.5)
    place(ex, order("breakout", BUY, "0.01", STOP, stop="61000.0"))

    quote(ex, 61000.0, 61000.5)

    state = run(ex.query(BTC, "breakout"))
    assert (state.status, state.reason) == (OrderStatus.EXPIRED, "Margin is insufficient.")
    assert ex.fills == ()


# -- events and fault injection ----------------------------------------------------------------


def test_listeners_receive_fills_before_place_returns(ex: FakeExchange) -> None:
    seen: list[tuple[Fill, bool]] = []
    returned = False
    ex.add_fill_listener(lambda fill: seen.append((fill, returned)))
    other: list[Fill] = []
    ex.add_fill_listener(other.append)

    async def go() -> None:
        nonlocal returned
        await ex.place(order("b1", BUY, "0.01"))
        returned = True

    run(go())

    assert [(f.client_id, before) for f, before in seen] == [("b1", False)]
    assert other == [f for f, _ in seen] == list(ex.fills)


def test_trade_ids_increase_across_orders_and_triggers(ex: FakeExchange) -> None:
    long_001(ex)
    place(ex, order("sl", SELL, "0.01", STOP, stop="59000.0", reduce_only=True))
    quote(ex, 58000.0, 58000.5)
    place(ex, order("again", BUY, "0.01"))

    assert [f.trade_id for f in ex.fills] == [1, 2, 3]


def test_fail_next_raises_once_without_sending(ex: FakeExchange) -> None:
    ex.fail_next(GatewayUnavailable("down"))
    with pytest.raises(GatewayUnavailable):
        run(ex.place(order("b1", BUY, "0.01")))
    assert run(ex.query(BTC, "b1")) is None

    assert place(ex, order("b1", BUY, "0.01")) is OrderStatus.FILLED


def test_fail_next_after_execution_loses_only_the_ack(ex: FakeExchange) -> None:
    ex.fail_next(OrderOutcomeUnknown("timeout"), after_execution=True)
    with pytest.raises(OrderOutcomeUnknown):
        run(ex.place(order("b1", BUY, "0.01")))

    assert run(ex.query(BTC, "b1")).status is OrderStatus.FILLED
    assert position(ex) == (D("0.01"), D("60000.5"))


def test_account_events_follow_fills_and_conditional_orders() -> None:
    async def main() -> None:
        ex = FakeExchange({BTC: BTC_FILTERS}, ManualClock(1_000))
        events: list[AccountEvent] = []
        ex.add_account_listener(events.append)
        quote(ex, 100_000.0, 100_000.1)
        await ex.place(order("e", BUY, "0.01"))
        await ex.place(order("s1", SELL, "0.01", STOP, stop="99000", reduce_only=True))
        await ex.place(order("s2", SELL, "0.01", STOP, stop="98000", reduce_only=True))
        await ex.cancel(BTC, "s2")
        quote(ex, 98_999.9, 99_000.0)  # s1 fires
        kinds = [
            (e.client_algo_id, e.status) if isinstance(e, AlgoOrderUpdate) else e.amount
            for e in events
            if isinstance(e, AlgoOrderUpdate | PositionUpdate)
        ]
        assert kinds == [
            D("0.01"),
            ("s1", AlgoStatus.NEW),
            ("s2", AlgoStatus.NEW),
            ("s2", AlgoStatus.CANCELED),
            ("s1", AlgoStatus.TRIGGERED),
            D("0"),
            ("s1", AlgoStatus.FINISHED),
        ]

    run(main())


def test_an_order_filled_in_pieces_then_expired_keeps_what_it_filled() -> None:
    async def main() -> None:
        ex = FakeExchange({BTC: BTC_FILTERS}, ManualClock(1_000))
        quote(ex, 100_000.0, 100_000.1)
        ex.fill_next_partly(D("0.004"))
        state = await ex.place(order("e", BUY, "0.01"))
        assert (state.status, state.filled_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.004"))
        ex.fill_rest(BTC, "e")
        assert [f.qty for f in ex.fills] == [D("0.004"), D("0.006")]
        ex.fill_next_partly(D(0))
        await ex.place(order("x", SELL, "0.01", reduce_only=True))
        ex.expire_rest(BTC, "x")
        gone = await ex.query(BTC, "x")
        assert gone is not None and (gone.status, gone.filled_qty) == (OrderStatus.EXPIRED, 0)
        [held] = await ex.positions()
        assert held.qty == D("0.01")

    run(main())
