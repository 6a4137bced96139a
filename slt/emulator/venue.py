"""Trading through the FakeExchange, reported the way Binance reports it.

The FakeExchange decides every outcome (fills, prices, fees, margin, reduce-only, triggers);
this module adds Binance's order records and turns each change into user-stream events.
Every request or quote is handled in one synchronous step, so its events leave in the order
they happened and nothing else interleaves: NEW, then each TRADE with its ACCOUNT_UPDATE, then
the expiries the change caused.

Choices where Binance leaves room:

- A conditional (algo) order rests in the FakeExchange under its clientAlgoId. When it fires,
  the emulator reports ALGO_UPDATE TRIGGERED (with `ai`), the triggered MARKET order as
  ORDER_TRADE_UPDATE NEW and TRADE (`c` = clientAlgoId, `ot` = the algo type, `sp` = trigger),
  ACCOUNT_UPDATE, then ALGO_UPDATE FINISHED. An algo that fires without margin is REJECTED;
  one knocked out because it no longer reduces the position is EXPIRED.
- closePosition=true is a reduce-only order for the symbol's maximum quantity, which the engine
  cuts to the position when it fires. Like any reduce-only order it is refused (-2022) when
  there is no position to reduce.
- IOC/FOK limits that do not cross the book are accepted and at once EXPIRED (er=2); GTX ones
  that would cross are refused with -5022. GTD and RPI are refused with -1115.
- Hedge mode is not emulated: with dualSidePosition on, every order gets -4061. Margin is
  cross and single-asset only: switching to ISOLATED or multi-assets mode is refused.
- PERCENT_PRICE is judged against the mark price (the mid of the book) with slt's own
  filter check; closePosition belongs to the algo service and is refused on /fapi/v1/order.
- A modified (PUT) order keeps its ids; the engine replaces it under a new engine id, so
  the amended order's fills still report the order the client knows.
- Funding is settled by the emulator at each funding time on its clock (`settle_funding`):
  each open position pays or receives qty * mark * rate, the mark being the book's mid, the
  rate the recorded one where given, else the configured one.
- countdownCancelAll deadlines are checked on every quote and request (the emulator has no
  timer of its own for them): the open orders of a symbol are cancelled at the first of those
  after the deadline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.fake_exchange.exchange import KNOCKED_OUT, NO_MARGIN
from slt.domain.filters import FilterViolation, SymbolFilters
from slt.domain.orders import Fill, OrderRequest, OrderStatus, OrderType
from slt.domain.realism import FundingRates
from slt.domain.values import ExchangePosition, Quote, Side
from slt.emulator import errors, payloads
from slt.emulator.errors import ApiError, api_error
from slt.emulator.history import AccountHistory, IncomeType
from slt.emulator.ledger import FillSent, Ledger
from slt.emulator.market import MarketState
from slt.emulator.orders import ZERO, AlgoOrder, AlgoStatus, ExpiryReason, WireOrder
from slt.emulator.payloads import AccountView, Json, Numbers, PositionView, Trade
from slt.ports.clock import Clock
from slt.ports.order_gateway import OrderRejected

T = TypeVar("T")
IMMEDIATE = frozenset({"IOC", "FOK"})
TIME_IN_FORCE = frozenset({"GTC", "GTX"}) | IMMEDIATE
Emit = Callable[[Json], None]
FUNDING_STEP = Decimal("1e-8")  # funding fees are booked in whole 1e-8 USDT


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to completion, here and now.

    The FakeExchange's methods are coroutines (the OrderGateway port is async) that complete
    without awaiting anything. Driving them synchronously keeps a request and its events one
    indivisible step, and lets quote pushes (synchronous) report fills at once.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError("a FakeExchange call suspended; the emulator relies on it not doing so")


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated POST /fapi/v1/order (LIMIT or MARKET)."""

    client_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    time_in_force: str
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class NewAlgo:
    """A validated POST /fapi/v1/algoOrder (STOP_MARKET or TAKE_PROFIT_MARKET).

    `qty` is None with close_position."""

    client_algo_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal | None
    trigger_price: Decimal
    working_type: str
    time_in_force: str
    reduce_only: bool
    close_position: bool
    price_protect: bool


@dataclass(frozen=True, slots=True)
class _Execution:
    """A fill and the account right after it (the engine moves on before events are sent)."""

    fill: Fill
    wallet: Decimal
    position: PositionView


class Venue:
    def __init__(
        self,
        exchange: FakeExchange,
        filters: Mapping[str, SymbolFilters],
        numbers: Numbers,
        market: MarketState,
        clock: Clock,
        ledger: Ledger,
        emit: Emit,
        *,
        default_leverage: int,
        dual_side_position: bool = False,
    ) -> None:
        self.dual_side_position = dual_side_position
        self._x = exchange
        self._filters = filters
        self._n = numbers
        self._market = market
        self._clock = clock
        self._ledger = ledger
        self._emit = emit
        self._default_leverage = default_leverage
        self.created_ms = clock.now_ms()
        self.history = AccountHistory()
        self._countdowns: dict[str, int] = {}  # symbol -> cancel-all deadline (ms)
        self._leverage: dict[str, int] = {}
        self._margin_types: dict[str, str] = {}  # symbol -> ISOLATED / CROSSED
        self._realized: dict[str, Decimal] = {}
        self._position_ms: dict[str, int] = {}
        self._orders: dict[int, WireOrder] = {}
        self._by_client: dict[tuple[str, str], WireOrder] = {}
        self._by_engine_key: dict[tuple[str, str], WireOrder] = {}
        self._open: dict[int, WireOrder] = {}
        self._algos: dict[int, AlgoOrder] = {}
        self._algo_by_client: dict[str, AlgoOrder] = {}
        self._algo_by_engine_key: dict[tuple[str, str], AlgoOrder] = {}
        self._open_algos: dict[int, AlgoOrder] = {}
        self._last_algo_id = 0
        self._last_amendment = 0
        self._pending: list[_Execution] = []
        exchange.add_fill_listener(self._on_fill)

    # -- market ----------------------------------------------------------------------------

    def on_quote(self, q: Quote) -> None:
        """Give the engine a quote and report what it filled, triggered or expired."""
        self._x.on_quote(q)
        self._settle(q.symbol)
        if self._countdowns:
            self.expire_countdowns()

    # -- orders ----------------------------------------------------------------------------

    def place_order(self, p: NewOrder) -> WireOrder:
        self._check_one_way()
        self.check_percent_price(p)
        quote = self._market.quotes.get(p.symbol)
        crosses = (
            p.price is not None
            and quote is not None
            and (
                p.price >= Decimal(repr(quote.ask))
                if p.side is Side.BUY
                else p.price <= Decimal(repr(quote.bid))
            )
        )
        if p.time_in_force == "GTX" and crosses:
            raise api_error(errors.POST_ONLY_REJECT)
        request = OrderRequest(
            client_id=p.client_id,
            symbol=p.symbol,
            side=p.side,
            type=p.type,
            qty=p.qty,
            price=p.price,
            reduce_only=p.reduce_only,
        )
        state = self._engine(self._x.place(request))
        now = self._clock.now_ms()
        order = WireOrder(
            order_id=int(state.exchange_id),
            client_id=p.client_id,
            symbol=p.symbol,
            side=p.side,
            type=str(p.type),
            orig_type=str(p.type),
            time_in_force=p.time_in_force,
            qty=p.qty,
            price=p.price or ZERO,
            stop_price=ZERO,
            reduce_only=p.reduce_only,
            close_position=False,
            time_ms=now,
            update_ms=now,
        )
        self._register(order)
        self._report(order, "NEW")
        self._settle(p.symbol)
        if p.time_in_force in IMMEDIATE and not order.status.is_final:
            self._engine(self._x.cancel(order.symbol, order.engine_key))
            self._finish(order, OrderStatus.EXPIRED, ExpiryReason.IOC_REMAINDER)
        return order

    def cancel_order(self, symbol: str, order_id: int | None, client_id: str | None) -> WireOrder:
        order = self._find(symbol, order_id, client_id)
        if order is None or order.status.is_final:
            raise api_error(errors.UNKNOWN_ORDER)
        self._engine(self._x.cancel(symbol, order.engine_key))
        self._finish(order, OrderStatus.CANCELED)
        return order

    def check_percent_price(self, p: NewOrder) -> None:
        """PERCENT_PRICE against the mark: the limit price, or the touch a MARKET order takes."""
        quote = self._market.quotes.get(p.symbol)
        if p.price is not None:
            price = p.price
        elif quote is not None:
            price = Decimal(repr(quote.ask if p.side is Side.BUY else quote.bid))
        else:
            return
        try:
            self._filters[p.symbol].check_percent_price(
                p.side, price, self._market.mark(p.symbol), market=p.price is None
            )
        except FilterViolation as violation:
            raise ApiError(violation.code, str(violation)) from None

    def modify_order(
        self,
        symbol: str,
        order_id: int | None,
        client_id: str | None,
        side: Side,
        qty: Decimal,
        price: Decimal,
    ) -> WireOrder:
        """PUT /fapi/v1/order: a resting LIMIT order gets a new quantity and price in place."""
        order = self._find(symbol, order_id, client_id)
        if order is None or order.status.is_final:
            raise api_error(errors.UNKNOWN_ORDER)
        if side is not order.side:
            raise ApiError(errors.INVALID_PARAMETER, "The side of an order cannot be modified.")
        if order.type != str(OrderType.LIMIT):
            raise ApiError(errors.INVALID_ORDER_TYPE, "Only LIMIT orders can be modified.")
        if qty == order.qty and price == order.price:
            raise api_error(errors.NO_NEED_TO_MODIFY)
        if qty <= order.executed:
            raise api_error(errors.INVALID_PARAMETER, "quantity")
        self.check_percent_price(
            NewOrder(order.client_id, symbol, order.side, OrderType.LIMIT, qty, price, "GTC", False)
        )
        self._engine(self._x.cancel(symbol, order.engine_key))
        try:
            self._rest_again(order, qty, price)
        except ApiError:
            # Refused as amended (margin, say): the order stays as it was, as on Binance.
            self._rest_again(order, order.qty, order.price)
            raise
        order.qty, order.price, order.update_ms = qty, price, self._clock.now_ms()
        self._report(order, "AMENDMENT")
        self._settle(symbol)
        return order

    def _rest_again(self, order: WireOrder, qty: Decimal, price: Decimal) -> None:
        """Put the unfilled rest of `order` on the engine at `qty`/`price`, under a new
        engine id (the engine never reuses one)."""
        self._last_amendment += 1
        engine_key = f"{order.client_id[:20]}~amend{self._last_amendment}"
        self._engine(
            self._x.place(
                OrderRequest(
                    client_id=engine_key,
                    symbol=order.symbol,
                    side=order.side,
                    type=OrderType.LIMIT,
                    qty=qty - order.executed,
                    price=price,
                    reduce_only=order.reduce_only,
                )
            )
        )
        order.engine_client_id = engine_key
        self._by_engine_key[(order.symbol, engine_key)] = order

    def all_orders(self, symbol: str) -> list[WireOrder]:
        self.check_symbol(symbol)
        return [o for _, o in sorted(self._orders.items()) if o.symbol == symbol]

    def all_algos(self, symbol: str) -> list[AlgoOrder]:
        self.check_symbol(symbol)
        return [a for _, a in sorted(self._algos.items()) if a.symbol == symbol]

    def set_countdown(self, symbol: str, countdown_ms: int) -> None:
        """Cancel every open order of `symbol` once `countdown_ms` pass without a new call
        (0 switches the countdown off)."""
        self.check_symbol(symbol)
        if countdown_ms:
            self._countdowns[symbol] = self._clock.now_ms() + countdown_ms
        else:
            self._countdowns.pop(symbol, None)

    def expire_countdowns(self) -> None:
        now = self._clock.now_ms()
        for symbol, deadline in list(self._countdowns.items()):
            if now >= deadline:
                del self._countdowns[symbol]
                self.cancel_all(symbol)

    def query_order(self, symbol: str, order_id: int | None, client_id: str | None) -> WireOrder:
        order = self._find(symbol, order_id, client_id)
        if order is None:
            raise api_error(errors.NO_SUCH_ORDER)
        return order

    def open_orders(self, symbol: str | None) -> list[WireOrder]:
        if symbol is not None:
            self.check_symbol(symbol)
        return [o for _, o in sorted(self._open.items()) if symbol in (None, o.symbol)]

    def cancel_all(self, symbol: str) -> None:
        for order in self.open_orders(symbol):
            self.cancel_order(symbol, order.order_id, None)

    # -- algo orders -----------------------------------------------------------------------

    def place_algo(self, p: NewAlgo) -> AlgoOrder:
        self._check_one_way()
        if p.client_algo_id in self._algo_by_client:
            raise api_error(errors.DUPLICATE_CLIENT_ID)
        filters = self.check_symbol(p.symbol)
        qty = p.qty if p.qty is not None else filters.round_qty(filters.max_qty)
        request = OrderRequest(
            client_id=p.client_algo_id,
            symbol=p.symbol,
            side=p.side,
            type=p.type,
            qty=qty,
            stop_price=p.trigger_price,
            reduce_only=p.reduce_only or p.close_position,
        )
        state = self._engine(self._x.place(request))
        now = self._clock.now_ms()
        self._last_algo_id += 1
        algo = AlgoOrder(
            algo_id=self._last_algo_id,
            client_algo_id=p.client_algo_id,
            engine_id=int(state.exchange_id),
            symbol=p.symbol,
            side=p.side,
            order_type=str(p.type),
            qty=p.qty or ZERO,
            trigger_price=p.trigger_price,
            working_type=p.working_type,
            time_in_force=p.time_in_force,
            reduce_only=p.reduce_only,
            close_position=p.close_position,
            price_protect=p.price_protect,
            create_ms=now,
            update_ms=now,
        )
        self._algos[algo.algo_id] = algo
        self._algo_by_client[algo.client_algo_id] = algo
        self._algo_by_engine_key[(algo.symbol, algo.client_algo_id)] = algo
        self._open_algos[algo.algo_id] = algo
        self._report_algo(algo)
        self._settle(p.symbol)
        return algo

    def cancel_algo(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder:
        algo = self._find_algo(algo_id, client_algo_id)
        if algo is None or not algo.status.is_open:
            raise api_error(errors.UNKNOWN_ORDER)
        self._engine(self._x.cancel(algo.symbol, algo.client_algo_id))
        self._end_algo(algo, AlgoStatus.CANCELED)
        return algo

    def end_algo_outside(
        self, client_algo_id: str, status: AlgoStatus, reason: str = ""
    ) -> AlgoOrder:
        """End a working conditional order as the exchange (or the user on the website) does,
        without a request from the client: CANCELED, EXPIRED or REJECTED, with its `rm`."""
        algo = self._find_algo(None, client_algo_id)
        if algo is None or not algo.status.is_open:
            raise api_error(errors.UNKNOWN_ORDER)
        self._engine(self._x.cancel(algo.symbol, algo.client_algo_id))
        algo.reason = reason
        self._end_algo(algo, status)
        return algo

    def query_algo(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder:
        algo = self._find_algo(algo_id, client_algo_id)
        if algo is None:
            raise api_error(errors.NO_SUCH_ORDER)
        return algo

    def open_algos(self, symbol: str | None) -> list[AlgoOrder]:
        if symbol is not None:
            self.check_symbol(symbol)
        return [a for _, a in sorted(self._open_algos.items()) if symbol in (None, a.symbol)]

    def cancel_all_algos(self, symbol: str) -> None:
        for algo in self.open_algos(symbol):
            self.cancel_algo(algo.algo_id, None)

    # -- account ---------------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: int) -> int:
        self.check_symbol(symbol)
        self._leverage[symbol] = self._engine(self._x.set_leverage(symbol, leverage))
        return self._leverage[symbol]

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        """Binance's rules: the same type again is -4046; no change with orders or a position."""
        self.check_symbol(symbol)
        if self._margin_types.get(symbol, "CROSSED") == margin_type:
            raise api_error(errors.NO_NEED_TO_CHANGE_MARGIN_TYPE)
        if self.has_open_orders(symbol):
            raise api_error(errors.MARGIN_TYPE_WITH_OPEN_ORDERS)
        if any(p.symbol == symbol and p.qty for p in self._engine(self._x.positions())):
            raise api_error(errors.MARGIN_TYPE_WITH_POSITION)
        self._margin_types[symbol] = margin_type

    def margin_type(self, symbol: str) -> str:
        return self._margin_types.get(symbol, "CROSSED")

    def close_by_exchange(self, symbol: str, client_id: str) -> WireOrder | None:
        """Close `symbol`'s whole position with an order of the exchange's own, as a
        liquidation (`autoclose-<ms>`) or an ADL (`adl_autoclose`) does; None if it is flat."""
        held = next((p for p in self._engine(self._x.positions()) if p.symbol == symbol), None)
        if held is None or held.qty == 0:
            return None
        side = Side.SELL if held.qty > 0 else Side.BUY
        return self.place_order(
            NewOrder(client_id, symbol, side, OrderType.MARKET, abs(held.qty), None, "GTC", True)
        )

    def charge_funding(self, symbol: str, amount: Decimal, funding_ms: int | None = None) -> None:
        """A funding settlement of signed `amount` USDT on `symbol` (negative: paid), reported
        as Binance does for cross margin: an ACCOUNT_UPDATE FUNDING_FEE with the balance only,
        and a FUNDING_FEE income row dated at the funding time (default: now)."""
        self.check_symbol(symbol)
        self._x.credit(amount)
        wallet = self._engine(self._x.balance()).wallet
        now = self._clock.now_ms()
        at = now if funding_ms is None else funding_ms
        self.history.add_income(symbol, IncomeType.FUNDING_FEE, amount, at)
        self._emit(payloads.funding_update(wallet, symbol, amount, now, at))

    def settle_funding(self, funding_ms: int, rates: FundingRates) -> int:
        """Charge the funding time `funding_ms` to every open position at the mark: a long pays
        qty * mark * rate, a short receives it (the other way round for a negative rate), in
        whole 1e-8 USDT as Binance books it. Returns how many positions were charged."""
        charged = 0
        for p in sorted(self._engine(self._x.positions()), key=lambda p: p.symbol):
            if not p.qty:
                continue
            rate = rates.rate_at(p.symbol, funding_ms)
            amount = (-p.qty * self._market.mark(p.symbol) * rate).quantize(FUNDING_STEP)
            if amount:
                self.charge_funding(p.symbol, amount, funding_ms)
                charged += 1
        return charged

    def leverage_of(self, symbol: str) -> int:
        self.check_symbol(symbol)
        return self._leverage.get(symbol, self._default_leverage)

    def set_position_mode(self, dual: bool) -> None:
        if dual == self.dual_side_position:
            raise api_error(errors.NO_NEED_TO_CHANGE_POSITION_SIDE)
        if self._open or self._open_algos:
            raise api_error(errors.POSITION_SIDE_OPEN_ORDERS)
        if any(p.qty for p in self._engine(self._x.positions())):
            raise api_error(errors.POSITION_SIDE_POSITIONS)
        self.dual_side_position = dual

    def account(self) -> AccountView:
        balance = self._engine(self._x.balance())
        held = {p.symbol: p for p in self._engine(self._x.positions())}
        return AccountView(
            wallet=balance.wallet,
            available=balance.available,
            unrealized=balance.unrealized_pnl,
            positions=tuple(self._position(s, held.get(s)) for s in sorted(self._filters)),
            # Clients skip assets never updated (0): a fresh account dates from its creation.
            update_ms=max(self._position_ms.values(), default=self.created_ms),
        )

    def open_interest(self, symbol: str) -> Decimal:
        """The account is the only trader: open interest is the size of its position."""
        held = self._engine(self._x.positions())
        return next((abs(p.qty) for p in held if p.symbol == symbol), ZERO)

    def has_open_orders(self, symbol: str) -> bool:
        return any(o.symbol == symbol for o in self._open.values()) or any(
            a.symbol == symbol for a in self._open_algos.values()
        )

    # -- events ----------------------------------------------------------------------------

    def _on_fill(self, fill: Fill) -> None:
        # Called by the engine in the middle of an execution: only take a snapshot here.
        wallet = self._engine(self._x.balance()).wallet
        held = next((p for p in self._engine(self._x.positions()) if p.symbol == fill.symbol), None)
        self._pending.append(_Execution(fill, wallet, self._position(fill.symbol, held)))

    def _settle(self, symbol: str) -> None:
        """Report the executions of the step just taken, then what they ended in `symbol`
        (a fill, and only a fill, can knock other orders of its symbol out)."""
        pending, self._pending = self._pending, []
        for execution in pending:
            self._report_execution(execution)
        self._sweep(symbol)

    def _report_execution(self, ex: _Execution) -> None:
        fill = ex.fill
        key = (fill.symbol, fill.client_id)
        algo = self._algo_by_engine_key.get(key)
        if algo is not None and algo.actual_order is None:
            self._trigger(algo, fill)
        realized = self._realized.get(fill.symbol, ZERO) + fill.realized_pnl
        self._realized[fill.symbol] = realized
        self._position_ms[fill.symbol] = fill.ts_ms
        # An order placed on the engine directly (a test seeding the account) has no record:
        # only its effect on the account is reported.
        order = self._by_engine_key.get(key)
        if order is not None:
            self._record_fill(order, fill)
        self.history.record_fill(fill, order.order_id if order is not None else 0)
        position = dataclasses.replace(ex.position, realized=realized, update_ms=fill.ts_ms)
        self._emit(payloads.account_update(ex.wallet, position, fill.ts_ms, self._n))
        self._ledger.fills.append(
            FillSent(
                fill.ts_ms,
                fill.symbol,
                fill.client_id,
                order.order_id if order is not None else 0,
                fill.trade_id,
                fill.side,
                fill.qty,
                fill.price,
            )
        )
        if algo is not None and order is not None and order.status.is_final:
            self._end_algo(algo, AlgoStatus.FINISHED)

    def _record_fill(self, order: WireOrder, fill: Fill) -> None:
        order.executed += fill.qty
        order.cum_quote += fill.qty * fill.price
        order.status = fill.order_status
        order.update_ms = fill.ts_ms
        if order.status is OrderStatus.FILLED:
            order.qty = order.executed  # a reduce-only order cut to the position it closed
            self._open.pop(order.order_id, None)
        trade = Trade(
            trade_id=fill.trade_id,
            qty=fill.qty,
            price=fill.price,
            commission=fill.fee,
            realized=fill.realized_pnl,
            maker=fill.is_maker,
            ts_ms=fill.ts_ms,
        )
        # The exchange's own closing orders report x=CALCULATED (BINANCE.md §8).
        closed_by_exchange = order.client_id.startswith(("autoclose-", "adl_autoclose"))
        self._report(order, "CALCULATED" if closed_by_exchange else "TRADE", trade)

    def _trigger(self, algo: AlgoOrder, fill: Fill) -> None:
        child = WireOrder(
            order_id=algo.engine_id,
            client_id=algo.client_algo_id,
            symbol=algo.symbol,
            side=algo.side,
            type=str(OrderType.MARKET),
            orig_type=algo.order_type,
            time_in_force=algo.time_in_force,
            qty=algo.qty or fill.qty,
            price=ZERO,
            stop_price=algo.trigger_price,
            reduce_only=algo.reduce_only,
            close_position=algo.close_position,
            time_ms=fill.ts_ms,
            update_ms=fill.ts_ms,
        )
        algo.actual_order = child
        algo.status = AlgoStatus.TRIGGERED
        algo.trigger_ms = algo.update_ms = fill.ts_ms
        self._report_algo(algo)
        self._register(child)
        self._report(child, "NEW")

    def _sweep(self, symbol: str) -> None:
        """Report the orders of `symbol` the engine ended without a fill (knocked out, or
        fired without margin): the engine tells listeners only about fills."""
        if not self._open and not self._open_algos:
            return  # the common case on the quote path
        for order in [o for o in self._open.values() if o.symbol == symbol]:
            state = self._engine(self._x.query(order.symbol, order.engine_key))
            if state is not None and state.status is OrderStatus.EXPIRED:
                reason = ExpiryReason.REDUCE_ONLY_KNOCKED_OUT if state.reason == KNOCKED_OUT else 0
                self._finish(order, OrderStatus.EXPIRED, reason)
        for algo in [a for a in self._open_algos.values() if a.symbol == symbol]:
            state = self._engine(self._x.query(algo.symbol, algo.client_algo_id))
            if state is not None and state.status is OrderStatus.EXPIRED:
                algo.reason = state.reason
                self._end_algo(
                    algo, AlgoStatus.REJECTED if state.reason == NO_MARGIN else AlgoStatus.EXPIRED
                )

    def _finish(self, order: WireOrder, status: OrderStatus, reason: int = 0) -> None:
        order.status = status
        order.expiry_reason = reason
        order.update_ms = self._clock.now_ms()
        self._open.pop(order.order_id, None)
        self._report(order, str(status))

    def _end_algo(self, algo: AlgoOrder, status: AlgoStatus) -> None:
        algo.status = status
        algo.update_ms = self._clock.now_ms()
        self._open_algos.pop(algo.algo_id, None)
        self._report_algo(algo)

    def _report(self, order: WireOrder, execution: str, trade: Trade | None = None) -> None:
        now = self._clock.now_ms()
        self._emit(
            payloads.order_update(order, self._n, execution=execution, now_ms=now, trade=trade)
        )

    def _report_algo(self, algo: AlgoOrder) -> None:
        self._emit(payloads.algo_update(algo, self._n, self._clock.now_ms()))

    # -- helpers ---------------------------------------------------------------------------

    def _register(self, order: WireOrder) -> None:
        self._orders[order.order_id] = order
        self._by_client[(order.symbol, order.client_id)] = order
        self._by_engine_key[(order.symbol, order.engine_key)] = order
        self._open[order.order_id] = order

    def _find(self, symbol: str, order_id: int | None, client_id: str | None) -> WireOrder | None:
        self.check_symbol(symbol)
        if order_id is not None:
            order = self._orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        return self._by_client.get((symbol, client_id or ""))

    def _find_algo(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder | None:
        if algo_id is not None:
            return self._algos.get(algo_id)
        return self._algo_by_client.get(client_algo_id or "")

    def check_symbol(self, symbol: str) -> SymbolFilters:
        """The symbol's filters; -1121 for a symbol the emulator does not serve."""
        filters = self._filters.get(symbol)
        if filters is None:
            raise api_error(errors.INVALID_SYMBOL)
        return filters

    def _check_one_way(self) -> None:
        if self.dual_side_position:
            raise api_error(errors.POSITION_SIDE_NOT_MATCH)

    def _position(self, symbol: str, held: ExchangePosition | None) -> PositionView:
        mark = self._market.mark(symbol)
        return PositionView(
            symbol=symbol,
            qty=held.qty if held else ZERO,
            entry=held.entry_price if held else ZERO,
            mark=mark if mark or held is None else held.entry_price,
            unrealized=held.unrealized_pnl if held else ZERO,
            leverage=self._leverage.get(symbol, self._default_leverage),
            realized=self._realized.get(symbol, ZERO),
            update_ms=self._position_ms.get(symbol, 0),
        )

    @staticmethod
    def _engine(coro: Coroutine[Any, Any, T]) -> T:
        """Run a FakeExchange call; its business refusals become Binance error answers."""
        try:
            return run_now(coro)
        except OrderRejected as rejected:
            raise ApiError(rejected.code, rejected.message) from None
