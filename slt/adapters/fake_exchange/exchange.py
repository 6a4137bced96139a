"""FakeExchange: the OrderGateway port over a simulated account (choices: see __init__)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from slt.adapters.fake_exchange import codes
from slt.adapters.fake_exchange.account import Account, opens_exposure
from slt.adapters.fake_exchange.book import SimOrder, WorkingBook, crosses, fires_at
from slt.adapters.fake_exchange.codes import rejected
from slt.domain.account_events import (
    AccountEvent,
    AccountListener,
    AlgoOrderUpdate,
    AlgoStatus,
    BalanceChange,
    PositionUpdate,
)
from slt.domain.filters import FilterViolation, SymbolFilters
from slt.domain.orders import (
    LIQUIDATION_CLIENT_PREFIX,
    Fill,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
)
from slt.domain.realism import (
    FUNDING_PERIOD_MS,
    FundingRates,
    Realism,
    liquidation_price,
    trigger_fill,
)
from slt.domain.values import Balance, ExchangePosition, Quote, Side
from slt.ports.clock import Clock
from slt.ports.order_gateway import FillListener, OrderGateway

KNOCKED_OUT = "reduce-only order expired: it no longer reduces the position"
INF = float("inf")
FUNDING_STEP = Decimal("1e-8")
NO_MARGIN = codes.MESSAGES[codes.MARGIN_INSUFFICIENT]


class FakeExchange(OrderGateway):
    """The OrderGateway port over a simulated account, driven by `on_quote`.

    Everything happens synchronously inside the call that causes it: `place` has executed, and
    every listener has seen the resulting fills, before its coroutine returns; a quote fires
    working orders before `on_quote` returns. Time comes only from `clock` (fill timestamps).

    Account events follow Binance's: a PositionUpdate after every fill (after the fill itself,
    so a listener sees the trade before the new amount), an AlgoOrderUpdate whenever a
    conditional order is placed, canceled, expired or triggered, a BalanceChange (FUNDING_FEE)
    per funding payment of a position, scheduled (`set_funding_events`, the realism's default
    every 8 h) or forced (`charge_funding`).
    """

    def __init__(
        self,
        filters: Mapping[str, SymbolFilters],
        clock: Clock,
        *,
        wallet: Decimal = Decimal("10000"),
        taker_fee: Decimal = Decimal("0.0005"),
        maker_fee: Decimal = Decimal("0.0002"),
        default_leverage: int = 10,
        max_leverage: int = 125,
        realism: Realism | None = None,
    ) -> None:
        self._filters = dict(filters)
        self._clock = clock
        self._taker_fee = taker_fee
        self._maker_fee = maker_fee
        self._max_leverage = max_leverage
        self._account = Account(wallet, default_leverage)
        self._book = WorkingBook()
        self._thresholds = self._book.thresholds  # aliased: one attribute hop less per quote
        self._quotes: dict[str, Quote] = {}
        self._orders: dict[tuple[str, str], SimOrder] = {}
        self._listeners: list[FillListener] = []
        self._account_listeners: list[AccountListener] = []
        self._held_back: Decimal | None = None
        self._fills: list[Fill] = []
        self._last_order_id = 0
        self._fault: tuple[BaseException, bool] | None = None
        self._realism = realism or Realism()
        self._bar_ms: dict[str, int] = {}  # symbols whose quotes are expanded klines
        self._next_funding_ms = 0  # 0: set from the first quote
        self._next_default_funding_ms = 0
        # Recorded funding events (time, symbol, rate), charged at their own time; symbols
        # that have them are not charged the default rate.
        self._recorded: list[tuple[int, str, Decimal]] = []
        self._recorded_symbols: frozenset[str] = frozenset()
        self._recorded_next = 0  # index of the first event not yet settled
        # (liquidate a long if bid <= a, a short if ask >= b) per symbol with a position
        self._liquidation: dict[str, tuple[float, float]] = {}
        self.funding_paid = Decimal(0)  # net, over every position: > 0 is a cost
        self.liquidations = 0

    # -- market data and set-up (beyond the port) -------------------------------------------

    def on_quote(self, q: Quote) -> None:
        """Take a market update; fire the symbol's working orders that it reaches."""
        symbol = q[0]
        self._quotes[symbol] = q
        if q[1] >= self._next_funding_ms:
            self._settle_funding(q[1])
        liq = self._liquidation.get(symbol)
        if liq is not None and (q[2] <= liq[0] or q[4] >= liq[1]):
            self._liquidate(symbol, q)
        at = self._thresholds.get(symbol)
        if at is not None:
            bid_stop, bid_take, ask_stop, ask_take = at
            # Chained comparisons: the quickest "strictly inside every threshold" test.
            if not (bid_stop < q[2] < bid_take and ask_take < q[4] < ask_stop):
                self._fire_working(symbol, q[2], q[4])

    def credit(self, amount: Decimal) -> None:
        """Money that moves outside fills (a funding fee, an adjustment): the wallet changes by
        signed `amount`."""
        self._account.wallet += amount

    def add_symbol(self, filters: SymbolFilters) -> None:
        self._filters[filters.symbol] = filters

    def set_bar_intervals(self, intervals_ms: Mapping[str, int]) -> None:
        """Name the symbols whose quotes are expanded klines, with their bar length: inside a
        bar a triggered stop fills at its trigger (slt.domain.realism)."""
        self._bar_ms.update(intervals_ms)

    def set_funding(self, funding: FundingRates) -> None:
        """The rates charged every 8 h (00, 08, 16 UTC) to symbols without recorded events."""
        self._realism = replace(self._realism, funding=funding)

    def set_funding_events(self, events: Iterable[tuple[int, str, Decimal]]) -> None:
        """Recorded funding events `(calc_time_ms, symbol, rate)` (Binance's funding-rate
        archive): each open position of the symbol pays `qty * mark * rate` at the first quote
        at or after the event's time, the symbol's only funding. Archive times are the funding
        moments a few ms late and some symbols settle every 4 h: charging at the recorded times
        keeps both exact, where an 8-hour grid would pick the wrong event or miss some."""
        self._recorded = sorted(events)
        self._recorded_symbols = frozenset(symbol for _, symbol, _ in self._recorded)
        self._recorded_next = 0
        if self._next_default_funding_ms:  # already running: the next event may be sooner
            times = [t for t, _, _ in self._recorded]
            self._recorded_next = bisect.bisect_right(times, self._clock.now_ms())
            self._next_funding_ms = self._next_due()

    @property
    def fills(self) -> Sequence[Fill]:
        """Every execution so far, oldest first (a copy: for streaming, add a fill listener)."""
        return tuple(self._fills)

    def fail_next(self, exc: BaseException, *, after_execution: bool = False) -> None:
        """Make the next `place` raise `exc` once.

        By default the order never reaches the exchange; with `after_execution` it is processed
        (and may fill) before `exc` is raised, like an acknowledgement lost on the way back.
        """
        self._fault = (exc, after_execution)

    def fill_next_partly(self, qty: Decimal) -> None:
        """Make the next MARKET order execute only `qty` now (0: nothing); the rest stays
        working until `fill_rest` or `expire_rest`, like an order eating a thin book."""
        self._held_back = qty

    def fill_rest(self, symbol: str, client_id: str) -> None:
        """Execute what remains of a partly filled order at the current quote."""
        order = self._orders[(symbol, client_id)]
        quote = self._quotes[symbol]
        qty = self._executable(order.request, order.remaining)
        if qty > 0:
            self._execute(order, qty, _taker_price(order.request.side, quote), maker=False)

    def expire_rest(self, symbol: str, client_id: str) -> None:
        """End a partly filled order: EXPIRED, keeping what it filled."""
        order = self._orders[(symbol, client_id)]
        self._finish(order, OrderStatus.EXPIRED, "expired in match")

    def charge_funding(self, symbol: str, rate: Decimal) -> Decimal:
        """Settle funding on `symbol`'s position at the mark: longs pay a positive rate.
        Returns the signed change of the wallet."""
        return self._pay_funding(symbol, rate, self._clock.now_ms())

    def _pay_funding(self, symbol: str, rate: Decimal, ts_ms: int) -> Decimal:
        qty = self._account.qty(symbol)
        # Binance books funding fees to 8 decimals; the mark comes from float quotes.
        amount = (-qty * self._mark(symbol) * rate).quantize(FUNDING_STEP)
        if amount:
            self._account.wallet += amount
            self.funding_paid -= amount
            self._emit(BalanceChange("USDT", amount, "FUNDING_FEE", symbol, ts_ms))
        return amount

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        """Working orders, of one symbol or all, in arrival order."""
        lists = [self._book.of(symbol)] if symbol else list(self._book.orders.values())
        working = sorted((o for lst in lists for o in lst), key=lambda o: int(o.exchange_id))
        return [o.state() for o in working]

    # -- OrderGateway ------------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderState:
        fault, self._fault = self._fault, None
        if fault is not None and not fault[1]:
            raise fault[0]
        try:
            return self._place(order)
        finally:
            if fault is not None:
                # The outcome happened; only its acknowledgement is lost.
                raise fault[0]

    async def cancel(self, symbol: str, client_id: str) -> OrderState:
        if symbol not in self._filters:
            raise rejected(codes.INVALID_SYMBOL)
        order = self._orders.get((symbol, client_id))
        if order is None or order.status.is_final:
            raise rejected(codes.UNKNOWN_ORDER)
        self._finish(order, OrderStatus.CANCELED)
        return order.state()

    async def orders_since(self, symbol: str, since_ms: int) -> list[OrderState]:
        return [
            o.state() for (s, _), o in self._orders.items()
            if s == symbol and o.placed_ms >= since_ms
        ]

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        order = self._orders.get((symbol, client_id))
        return order.state() if order is not None else None

    async def positions(self) -> list[ExchangePosition]:
        account = self._account
        return [
            ExchangePosition(
                symbol=symbol,
                qty=pos.qty,
                entry_price=pos.entry,
                unrealized_pnl=pos.unrealised(self._mark(symbol)),
                leverage=account.leverage_of(symbol),
            )
            for symbol, pos in account.positions.items()
            if pos.qty
        ]

    async def balance(self) -> Balance:
        account = self._account
        return Balance(
            wallet=account.wallet,
            available=account.available(self._mark),
            unrealized_pnl=account.unrealised(self._mark),
        )

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        if symbol not in self._filters:
            raise rejected(codes.INVALID_SYMBOL)
        if not 1 <= leverage <= self._max_leverage:
            raise rejected(codes.INVALID_LEVERAGE, f"Leverage {leverage} is not valid")
        self._account.leverage[symbol] = leverage
        self._watch_liquidation(symbol)
        return leverage

    async def symbol_filters(self) -> dict[str, SymbolFilters]:
        return dict(self._filters)

    def add_fill_listener(self, listener: FillListener) -> None:
        self._listeners.append(listener)

    def add_account_listener(self, listener: AccountListener) -> None:
        self._account_listeners.append(listener)

    def _emit(self, event: AccountEvent) -> None:
        for listener in tuple(self._account_listeners):
            listener(event)

    def _algo(self, order: SimOrder, status: AlgoStatus) -> None:
        req = order.request
        if req.type.is_conditional:
            self._emit(
                AlgoOrderUpdate(req.client_id, req.symbol, status, order.reason,
                                self._clock.now_ms())
            )

    # -- placement ---------------------------------------------------------------------------

    def _place(self, req: OrderRequest) -> OrderState:
        filters = self._filters.get(req.symbol)
        if filters is None:
            raise rejected(codes.INVALID_SYMBOL)
        if (req.symbol, req.client_id) in self._orders:
            raise rejected(codes.DUPLICATE_CLIENT_ID)
        quote = self._quotes.get(req.symbol)
        market = req.type is OrderType.MARKET
        try:
            filters.check(
                req.qty, self._check_price(req, quote), market=market, reduce_only=req.reduce_only
            )
        except FilterViolation as violation:
            raise rejected(violation.code, str(violation)) from None
        if req.reduce_only and not _reduces(self._account.qty(req.symbol), req.side):
            raise rejected(codes.REDUCE_ONLY_REJECTED)
        if quote is not None and crosses(fires_at(req), quote.bid, quote.ask):
            if req.type.is_conditional:
                raise rejected(codes.WOULD_IMMEDIATELY_TRIGGER)
            market = True  # a crossing LIMIT takes liquidity like a MARKET order
        if market:
            assert quote is not None  # _check_price refused MARKET orders without a quote
            return self._take(req, quote)
        return self._rest(req, quote)

    def _check_price(self, req: OrderRequest, quote: Quote | None) -> Decimal:
        """The price the filters judge: the touch for MARKET, else the limit or trigger."""
        if req.type is OrderType.MARKET:
            if quote is None:
                raise rejected(
                    codes.UNABLE_TO_FILL, f"Unable to fill: no quote for {req.symbol} yet."
                )
            return _taker_price(req.side, quote)
        name, level = (
            ("stopPrice", req.stop_price) if req.type.is_conditional else ("price", req.price)
        )
        if level is None:
            raise rejected(codes.MANDATORY_PARAM, f"Mandatory parameter '{name}' was not sent.")
        return level

    def _take(self, req: OrderRequest, quote: Quote) -> OrderState:
        price = _taker_price(req.side, quote)
        if req.reacts_to is not None and req.symbol in self._bar_ms:
            # A price-rule exit on a kline's path: filled where price crossed its level, as a
            # triggered stop is (slt.domain.realism), not at the bar's extreme.
            price = self._trigger_price(req, price, req.reacts_to)
        qty = self._executable(req, req.qty)
        if not self._margin_ok(req, qty, price, self._taker_fee):
            raise rejected(codes.MARGIN_INSUFFICIENT)
        order = self._accept(req, qty)
        now, self._held_back = self._held_back, None
        if now is not None:
            qty = min(qty, now)
        if qty > 0:
            self._execute(order, qty, price, maker=False)
        return order.state()

    def _rest(self, req: OrderRequest, quote: Quote | None) -> OrderState:
        if req.type is OrderType.LIMIT:
            assert req.price is not None
            if not self._margin_ok(req, req.qty, req.price, self._maker_fee):
                raise rejected(codes.MARGIN_INSUFFICIENT)
        order = self._accept(req, req.qty)
        order.fires_at = fires_at(req)
        self._book.add(order)
        self._algo(order, AlgoStatus.NEW)
        return order.state()

    def _accept(self, req: OrderRequest, qty: Decimal) -> SimOrder:
        self._last_order_id += 1
        order = SimOrder(request=req, exchange_id=str(self._last_order_id), qty=qty,
                         placed_ms=self._clock.now_ms())
        self._orders[(req.symbol, req.client_id)] = order
        return order

    # -- execution ---------------------------------------------------------------------------

    def _fire_working(self, symbol: str, bid: float, ask: float) -> None:
        # Snapshot first: each execution can fill, expire or remove other working orders.
        for order in [o for o in self._book.of(symbol) if o.fires(bid, ask)]:
            if not order.status.is_final:
                self._fire(order, bid, ask)

    def _fire(self, order: SimOrder, bid: float, ask: float) -> None:
        req = order.request
        if req.type is OrderType.LIMIT:
            assert req.price is not None
            price, maker, rate = req.price, True, self._maker_fee
        else:
            price = self._trigger_price(req, _dec(ask if req.side is Side.BUY else bid))
            maker, rate = False, self._taker_fee
        qty = self._executable(req, order.remaining)
        if qty <= 0:
            self._finish(order, OrderStatus.EXPIRED, KNOCKED_OUT)
        elif not self._margin_ok(req, qty, price, rate):
            self._finish(order, OrderStatus.EXPIRED, NO_MARGIN)
        else:
            order.qty = order.filled_qty + qty
            self._algo(order, AlgoStatus.TRIGGERED)
            self._execute(order, qty, price, maker=maker)
            self._algo(order, AlgoStatus.FINISHED)

    def _execute(self, order: SimOrder, qty: Decimal, price: Decimal, *, maker: bool) -> None:
        """Book one trade of `qty` (all or part of what remains) and publish its Fill."""
        req = order.request
        fee = price * qty * (self._maker_fee if maker else self._taker_fee)
        signed = qty if req.side is Side.BUY else -qty
        realised = self._account.trade(req.symbol, signed, price, fee)
        order.record_fill(qty, price)
        if order.status.is_final:
            self._book.remove(order)
        fill = Fill(
            symbol=req.symbol,
            client_id=req.client_id,
            trade_id=len(self._fills) + 1,
            side=req.side,
            qty=qty,
            price=price,
            fee=fee,
            realized_pnl=realised,
            ts_ms=self._clock.now_ms(),
            order_status=order.status,
            reduce_only=req.reduce_only,
            is_maker=maker,
        )
        self._fills.append(fill)
        self._watch_liquidation(req.symbol)
        for listener in tuple(self._listeners):
            listener(fill)
        self._knock_out_reduce_only(req.symbol)  # after the fill, as Binance reports it
        position = self._account.position(req.symbol)
        self._emit(PositionUpdate(req.symbol, position.qty, position.entry, "ORDER", fill.ts_ms))

    def _knock_out_reduce_only(self, symbol: str) -> None:
        position = self._account.qty(symbol)
        for order in list(self._book.of(symbol)):
            if order.request.reduce_only and not _reduces(position, order.request.side):
                self._finish(order, OrderStatus.EXPIRED, KNOCKED_OUT)

    def _finish(self, order: SimOrder, status: OrderStatus, reason: str = "") -> None:
        order.status = status
        order.reason = reason
        self._book.remove(order)
        self._algo(order, AlgoStatus(status))

    # -- realism: stop fills, funding, liquidation ------------------------------------------

    def _trigger_price(
        self, req: OrderRequest, quote_price: Decimal, level: Decimal | None = None
    ) -> Decimal:
        level = req.stop_price if level is None else level
        assert level is not None  # only conditional orders and price-rule exits have one
        buy = req.side is Side.BUY
        bar_ms = self._bar_ms.get(req.symbol)
        in_bar = bar_ms is not None and self._quotes[req.symbol][1] % bar_ms != 0
        price = trigger_fill(level, quote_price, buy, in_bar, self._realism.slippage_bps)
        return self._filters[req.symbol].round_price(price, up=buy)  # rounded against the trader

    def _settle_funding(self, ts_ms: int) -> None:
        """Charge every funding moment up to `ts_ms`: recorded events, and the default grid
        for the other symbols (the first quote only sets the schedule)."""
        recorded = self._recorded
        if not self._next_default_funding_ms:
            self._next_default_funding_ms = ts_ms - ts_ms % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS
            times = [t for t, _, _ in recorded]
            self._recorded_next = bisect.bisect_right(times, ts_ms)
        while self._recorded_next < len(recorded) and recorded[self._recorded_next][0] <= ts_ms:
            at, symbol, rate = recorded[self._recorded_next]
            self._recorded_next += 1
            self._pay_funding(symbol, rate, at)
        rates, skip = self._realism.funding, self._recorded_symbols
        while self._next_default_funding_ms <= ts_ms:
            at = self._next_default_funding_ms
            self._next_default_funding_ms += FUNDING_PERIOD_MS
            for symbol, pos in list(self._account.positions.items()):
                if pos.qty and symbol not in skip:
                    self._pay_funding(symbol, rates.rate_at(symbol, at), at)
        self._next_funding_ms = self._next_due()

    def _next_due(self) -> int:
        recorded, i = self._recorded, self._recorded_next
        return min(recorded[i][0], self._next_default_funding_ms) if i < len(recorded) else (
            self._next_default_funding_ms
        )

    def _watch_liquidation(self, symbol: str) -> None:
        pos = self._account.positions.get(symbol)
        if pos is None or not pos.qty:
            self._liquidation.pop(symbol, None)
            return
        long = pos.qty > 0
        level = float(
            liquidation_price(
                pos.entry, long, self._account.leverage_of(symbol),
                self._realism.maintenance_margin_rate,
            )
        )
        self._liquidation[symbol] = (level, INF) if long else (-INF, level)

    def _liquidate(self, symbol: str, q: Quote) -> None:
        """Close the position at its liquidation price (or the quote, past a gap), with the
        taker fee, cancelling the symbol's working orders, as Binance's liquidation engine does."""
        for order in list(self._book.of(symbol)):
            self._finish(order, OrderStatus.CANCELED)
        qty = self._account.qty(symbol)
        long = qty > 0
        level = _dec(self._liquidation[symbol][0 if long else 1])
        touch = _dec(q[2] if long else q[4])
        price = min(level, touch) if long else max(level, touch)
        self.liquidations += 1
        req = OrderRequest(
            symbol=symbol,
            side=Side.SELL if long else Side.BUY,
            type=OrderType.MARKET,
            qty=abs(qty),
            client_id=f"{LIQUIDATION_CLIENT_PREFIX}{self.liquidations}",
            reduce_only=True,
        )
        self._execute(self._accept(req, abs(qty)), abs(qty), price, maker=False)

    # -- account helpers ---------------------------------------------------------------------

    def _executable(self, req: OrderRequest, qty: Decimal) -> Decimal:
        """`qty`, cut to the open position for a reduce-only order (0 if nothing to reduce)."""
        if not req.reduce_only:
            return qty
        position = self._account.qty(req.symbol)
        return min(qty, abs(position)) if _reduces(position, req.side) else Decimal(0)

    def _margin_ok(self, req: OrderRequest, qty: Decimal, price: Decimal, rate: Decimal) -> bool:
        signed = qty if req.side is Side.BUY else -qty
        if req.reduce_only or not opens_exposure(self._account.qty(req.symbol), signed):
            return True
        quote = self._quotes.get(req.symbol)
        own_mark = _dec(quote.mid) if quote is not None else price
        after = self._account.available_after(
            req.symbol, signed, price, price * qty * rate, self._mark, own_mark
        )
        return after >= 0

    def _mark(self, symbol: str) -> Decimal:
        quote = self._quotes.get(symbol)
        return _dec(quote.mid) if quote is not None else self._account.position(symbol).entry


def _dec(price: float) -> Decimal:
    """Exact Decimal of a quote price: repr is the shortest string that round-trips."""
    return Decimal(repr(price))


def _taker_price(side: Side, quote: Quote) -> Decimal:
    return _dec(quote.ask if side is Side.BUY else quote.bid)


def _reduces(position: Decimal, side: Side) -> bool:
    return position != 0 and (position > 0) == (side is Side.SELL)
