"""BinanceGateway: the OrderGateway port over Binance USDT-M REST, in domain terms.

Orders go to two services since 2025-12 (BINANCE.md §4): MARKET and LIMIT to the matching engine
(/fapi/v1/order, client id `newClientOrderId`), STOP_MARKET and TAKE_PROFIT_MARKET to the algo
service (/fapi/v1/algoOrder, client id `clientAlgoId`). The gateway remembers which service each
client id went to; for ids it never saw (after a restart) it asks the matching engine first.

Never resent: a write that fails ambiguously raises OrderOutcomeUnknown and the caller queries.

Fills do not come from REST: the user-data stream (ws/) calls `deliver_fill`, which drops
repeats (the same trade arrives as TRADE_LITE and ORDER_TRADE_UPDATE, and again after a
reconnect) and passes each fill once to the listeners; fills of other clients' orders and of
the exchange's own (liquidation, ADL) pass too. Account events (ACCOUNT_UPDATE, ALGO_UPDATE, and
REST snapshots of the positions) reach the account listeners through `deliver_account`.

`query_*`-style reads beyond the port (open orders, tickers) return wire schemas; the port's
methods speak domain types.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from slt.adapters.binance.common import errors, weights
from slt.adapters.binance.common.errors import is_not_found
from slt.adapters.binance.common.schemas import (
    AlgoCancelResponse,
    AlgoOrderResponse,
    BookTicker,
    CodeAck,
    ExchangeInfo,
    LeverageResponse,
    ListenKey,
    OrderResponse,
    PositionMode,
    PositionRisk,
    PremiumIndex,
    SchemaError,
    ServerTime,
    SymbolConfig,
    Ticker24h,
    usdt_balance,
)
from slt.adapters.binance.common.weights import Endpoint
from slt.adapters.binance.http.client import BinanceHttpClient
from slt.adapters.binance.http.signing import Param
from slt.domain.account_events import AccountEvent, AccountListener, PositionUpdate
from slt.domain.filters import SymbolFilters
from slt.domain.orders import Fill, OrderRequest, OrderState, OrderType, Priority
from slt.domain.values import Balance, ExchangePosition, Quote
from slt.ports.order_gateway import FillListener, OrderGateway, OrderRejected

log = logging.getLogger(__name__)
R = TypeVar("R", OrderResponse, AlgoOrderResponse)
QUERYABLE_MS = 7 * 24 * 3_600_000 - 3_600_000  # allOrders' window, an hour of clock skew off

ZERO = Decimal(0)
FILL_MEMORY = 100_000  # (symbol, trade id) pairs remembered to drop repeated deliveries
KIND_MEMORY = 100_000  # client ids whose service is remembered


class Service(StrEnum):
    """Which Binance service holds an order."""

    ORDER = "ORDER"  # matching engine: /fapi/v1/order
    ALGO = "ALGO"  # algo service: /fapi/v1/algoOrder


class BinanceGateway(OrderGateway):
    def __init__(
        self,
        client: BinanceHttpClient,
        *,
        working_type: str = "CONTRACT_PRICE",
        position_endpoint: Endpoint = weights.POSITION_RISK_V2,
        balance_endpoint: Endpoint = weights.BALANCE_V2,
    ) -> None:
        """`working_type`: the price that triggers conditional orders (CONTRACT_PRICE, Binance's
        default, or MARK_PRICE, which ignores wicks of the last price)."""
        if working_type not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise ValueError(f"working_type must be CONTRACT_PRICE or MARK_PRICE: {working_type}")
        self._client = client
        self._working_type = working_type
        self._position_endpoint = position_endpoint
        self._balance_endpoint = balance_endpoint
        self._services: OrderedDict[str, Service] = OrderedDict()
        self._listeners: list[FillListener] = []
        self._account_listeners: list[AccountListener] = []
        self._seen_fills: OrderedDict[tuple[str, int], None] = OrderedDict()

    # -- OrderGateway: orders ----------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderState:
        """Send once. OrderRejected, OrderOutcomeUnknown, ExchangeDown or GatewayUnavailable
        (the order budget is exhausted: the order was not sent)."""
        if order.type.is_conditional:
            return await self._place_algo(order)
        return await self._place_order(order)

    async def cancel(self, symbol: str, client_id: str) -> OrderState:
        service = self._services.get(client_id)
        if service is Service.ALGO:
            return await self._cancel_algo(symbol, client_id)
        try:
            return await self._cancel_order(symbol, client_id)
        except OrderRejected as exc:
            if service is Service.ORDER or not is_not_found(exc):
                raise
            unknown_to_engine = exc
        try:
            return await self._cancel_algo(symbol, client_id)
        except OrderRejected as exc:
            if is_not_found(exc):
                raise unknown_to_engine from None
            raise

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        """None only when neither service knows the id (or it has been archived, see §4)."""
        service = self._services.get(client_id)
        if service is not Service.ALGO:
            state = await self._query_order(symbol, client_id)
            if state is not None or service is Service.ORDER:
                return state
        return await self._query_algo(symbol, client_id)

    async def orders_since(self, symbol: str, since_ms: int) -> list[OrderState]:
        # Binance answers at most 7 days from startTime and keeps 90 days: a week back at most.
        week_ago = self._client.time_sync.server_now_ms() - QUERYABLE_MS
        params: dict[str, Param | None] = {
            "symbol": symbol, "startTime": max(since_ms, week_ago), "limit": 100,
        }
        rows = await self._client.call(weights.ALL_ORDERS, OrderResponse.parse_list, params)
        return [row.to_state() for row in sorted(rows, key=lambda r: r.orderId)]

    # -- OrderGateway: account ---------------------------------------------------------------

    async def positions(self) -> list[ExchangePosition]:
        """Every non-flat position; in hedge mode one per (symbol, side), each signed."""
        rows = [
            row
            for row in await self._client.call(self._position_endpoint, PositionRisk.parse_list)
            if row.positionAmt != 0
        ]
        leverage: dict[str, int] = {}
        if any(row.leverage is None for row in rows):  # v3 rows: leverage is per symbol config
            configs = await self._client.call(weights.SYMBOL_CONFIG, SymbolConfig.parse_list)
            leverage = {c.symbol: c.leverage for c in configs}
        result = []
        for row in rows:
            lev = row.leverage if row.leverage is not None else leverage.get(row.symbol)
            if lev is None:
                raise errors.unreadable_payload(f"no leverage for {row.symbol}", order_write=False)
            result.append(row.to_position(lev))
        return result

    async def balance(self) -> Balance:
        return await self._client.call(self._balance_endpoint, usdt_balance)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        params: dict[str, Param | None] = {"symbol": symbol, "leverage": leverage}
        ack = await self._client.call(weights.SET_LEVERAGE, LeverageResponse.parse, params)
        return ack.leverage

    async def symbol_filters(self) -> dict[str, SymbolFilters]:
        """Filters of every TRADING symbol; also adopts the account's rate limits."""
        info = await self._client.call(weights.EXCHANGE_INFO, ExchangeInfo.parse)
        self._client.limiter.set_limits(info.rateLimits)
        return info.filters

    # -- OrderGateway: fills -----------------------------------------------------------------

    def add_fill_listener(self, listener: FillListener) -> None:
        self._listeners.append(listener)

    def deliver_fill(self, fill: Fill) -> bool:
        """Pass a fill from the user-data stream to the listeners, once per (symbol, trade id).

        Returns False for a repeat. A failing listener is logged and does not stop the others:
        the stream reader that calls this must survive a bug downstream.
        """
        key = (fill.symbol, fill.trade_id)
        if key in self._seen_fills:
            return False
        self._seen_fills[key] = None
        if len(self._seen_fills) > FILL_MEMORY:
            self._seen_fills.popitem(last=False)
        for listener in tuple(self._listeners):
            try:
                listener(fill)
            except Exception:
                log.exception("fill listener failed on %s trade %d", fill.symbol, fill.trade_id)
        return True

    def add_account_listener(self, listener: AccountListener) -> None:
        self._account_listeners.append(listener)

    def deliver_account(self, event: AccountEvent) -> None:
        """Pass an account event to the listeners, in order; a failing listener is logged and
        does not stop the others."""
        for listener in tuple(self._account_listeners):
            try:
                listener(event)
            except Exception:
                log.exception("account listener failed on %r", event)

    async def position_snapshot(
        self, now_ms: int, symbols: Iterable[str] = (), *, priority: Priority | None = None
    ) -> list[PositionUpdate]:
        """Every non-flat position REST reports now, and every one of `symbols` (flat or not:
        v3 lists only non-flat positions), as SNAPSHOT events: a position closed while the
        stream was away shows as 0. `priority` overrides the position read's (CRITICAL) for a
        routine check."""
        wanted = set(symbols)
        endpoint = _at(self._position_endpoint, priority)
        rows = await self._client.call(endpoint, PositionRisk.parse_list)
        events = [
            PositionUpdate(row.symbol, row.positionAmt, row.entryPrice, "SNAPSHOT", now_ms)
            for row in rows
            if row.positionSide == "BOTH" and (row.positionAmt != 0 or row.symbol in wanted)
        ]
        listed = {e.symbol for e in events}
        flat = sorted(wanted - listed)
        return events + [PositionUpdate(s, ZERO, ZERO, "SNAPSHOT", now_ms) for s in flat]

    # -- beyond the port ---------------------------------------------------------------------

    async def set_margin_type(self, symbol: str, margin_type: str) -> bool:
        """Make `symbol` "isolated" or "cross"; False when it already was (-4046). OrderRejected
        -4047/-4048 when open orders or a position forbid the change."""
        params: dict[str, Param | None] = {
            "symbol": symbol,
            "marginType": "ISOLATED" if margin_type == "isolated" else "CROSSED",
        }
        try:
            await self._client.call(weights.SET_MARGIN_TYPE, CodeAck.parse, params)
        except OrderRejected as exc:
            if exc.code == errors.NO_NEED_TO_CHANGE_MARGIN_TYPE:
                return False
            raise
        return True

    async def book_tickers(self) -> list[Quote]:
        """Best bid/ask of every symbol in one request (weight 5): the fallback for every
        symbol whose stream is silent, at the cost of one."""
        tickers = await self._client.call(weights.BOOK_TICKER, BookTicker.parse_list)
        now = self._client.time_sync.server_now_ms()
        return [t.to_quote(now) for t in tickers]

    async def position_mode_is_hedge(self) -> bool:
        """True in hedge mode; the bot trades in one-way mode and refuses to start otherwise."""
        mode = await self._client.call(weights.POSITION_MODE, PositionMode.parse)
        return mode.dualSidePosition

    async def open_orders(self, symbol: str | None = None) -> list[OrderResponse]:
        rows = await self._client.call(
            weights.OPEN_ORDERS, OrderResponse.parse_list, {"symbol": symbol}
        )
        for row in rows:
            self._remember(row.clientOrderId, Service.ORDER)
        return rows

    async def open_algo_orders(
        self, symbol: str | None = None, *, priority: Priority | None = None
    ) -> list[AlgoOrderResponse]:
        rows = await self._client.call(
            _at(weights.OPEN_ALGO_ORDERS, priority),
            AlgoOrderResponse.parse_list,
            {"symbol": symbol},
        )
        for row in rows:
            self._remember(row.clientAlgoId, Service.ALGO)
        return rows

    async def cancel_all(self, symbol: str) -> None:
        """Cancel every open order of `symbol` in both services."""
        await self._client.call(weights.CANCEL_ALL_ORDERS, CodeAck.parse, {"symbol": symbol})
        await self._client.call(weights.CANCEL_ALL_ALGO_ORDERS, CodeAck.parse, {"symbol": symbol})

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """Mark price, index price and funding of one symbol."""
        return await self._client.call(
            weights.PREMIUM_INDEX, PremiumIndex.parse, {"symbol": symbol}
        )

    async def ticker_24h(self) -> list[Ticker24h]:
        """24 h statistics of every symbol (weight 40): for universe selection."""
        return await self._client.call(weights.TICKER_24H, Ticker24h.parse_any)

    async def server_time(self) -> int:
        return (await self._client.call(weights.SERVER_TIME, ServerTime.parse)).serverTime

    async def create_listen_key(self) -> str:
        """The account's active listenKey (a new one if none), valid 60 min."""
        return (await self._client.call(weights.CREATE_LISTEN_KEY, ListenKey.parse)).listenKey

    async def keepalive_listen_key(self) -> None:
        """Extend the listenKey 60 min. ListenKeyNotFound (-1125): create a new one."""
        await self._client.send(weights.KEEPALIVE_LISTEN_KEY)

    async def close_listen_key(self) -> None:
        await self._client.send(weights.CLOSE_LISTEN_KEY)

    # -- matching engine ---------------------------------------------------------------------

    async def _place_order(self, order: OrderRequest) -> OrderState:
        params: dict[str, Param | None] = {
            "symbol": order.symbol,
            "side": order.side.value,
            "type": order.type.value,
            "quantity": order.qty,
        }
        if order.type is OrderType.LIMIT:
            params["price"] = _required("price", order.price)
            params["timeInForce"] = "GTC"
        if order.reduce_only:
            params["reduceOnly"] = True
        params["newClientOrderId"] = order.client_id
        # RESULT: a MARKET order's answer then says what filled, not only "NEW".
        params["newOrderRespType"] = "RESULT"
        self._remember(order.client_id, Service.ORDER)
        response = await self._client.call(
            weights.NEW_ORDER, _echoing(OrderResponse.parse, order.client_id), params
        )
        return response.to_state()

    async def _cancel_order(self, symbol: str, client_id: str) -> OrderState:
        params: dict[str, Param | None] = {"symbol": symbol, "origClientOrderId": client_id}
        response = await self._client.call(weights.CANCEL_ORDER, OrderResponse.parse, params)
        return response.to_state()

    async def _query_order(self, symbol: str, client_id: str) -> OrderState | None:
        params: dict[str, Param | None] = {"symbol": symbol, "origClientOrderId": client_id}
        try:
            response = await self._client.call(weights.QUERY_ORDER, OrderResponse.parse, params)
        except OrderRejected as exc:
            if is_not_found(exc):
                return None
            raise
        self._remember(client_id, Service.ORDER)
        return response.to_state()

    # -- algo service ------------------------------------------------------------------------

    async def _place_algo(self, order: OrderRequest) -> OrderState:
        params: dict[str, Param | None] = {
            "algoType": "CONDITIONAL",
            "symbol": order.symbol,
            "side": order.side.value,
            "type": order.type.value,
            "quantity": order.qty,
            "triggerPrice": _required("stopPrice", order.stop_price),
            "workingType": self._working_type,
        }
        if order.reduce_only:
            params["reduceOnly"] = True
        params["clientAlgoId"] = order.client_id
        self._remember(order.client_id, Service.ALGO)
        response = await self._client.call(
            weights.NEW_ALGO_ORDER, _echoing(AlgoOrderResponse.parse, order.client_id), params
        )
        return response.to_state()

    async def _cancel_algo(self, symbol: str, client_id: str) -> OrderState:
        response = await self._client.call(
            weights.CANCEL_ALGO_ORDER, AlgoCancelResponse.parse, {"clientAlgoId": client_id}
        )
        return response.to_state(symbol)

    async def _query_algo(self, symbol: str, client_id: str) -> OrderState | None:
        try:
            algo = await self._client.call(
                weights.QUERY_ALGO_ORDER, AlgoOrderResponse.parse, {"clientAlgoId": client_id}
            )
        except OrderRejected as exc:
            if is_not_found(exc):
                return None
            raise
        self._remember(client_id, Service.ALGO)
        if algo.actualOrderId is None:
            return algo.to_state()
        # Triggered: the matching-engine order it became holds the execution.
        params: dict[str, Param | None] = {"symbol": algo.symbol, "orderId": algo.actualOrderId}
        try:
            engine = await self._client.call(weights.QUERY_ORDER, OrderResponse.parse, params)
        except OrderRejected as exc:
            if is_not_found(exc):
                return algo.to_state()
            raise
        return engine.to_state(client_id=client_id)

    def _remember(self, client_id: str, service: Service) -> None:
        self._services[client_id] = service
        self._services.move_to_end(client_id)
        if len(self._services) > KIND_MEMORY:
            self._services.popitem(last=False)


def _at(endpoint: Endpoint, priority: Priority | None) -> Endpoint:
    return endpoint if priority is None else dataclasses.replace(endpoint, priority=priority)


def _required(name: str, value: Any) -> Any:
    """Refuse locally, with Binance's code, what Binance would refuse."""
    if value is None:
        raise OrderRejected(
            errors.MANDATORY_PARAM,
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
        )
    return value


def _echoing(parse: Callable[[Any], R], client_id: str) -> Callable[[Any], R]:
    """`parse`, insisting that the answer is about the order we sent."""

    def checked(payload: Any) -> R:
        response = parse(payload)
        echoed = getattr(response, "clientOrderId", None) or getattr(response, "clientAlgoId", "")
        if echoed != client_id:
            raise SchemaError("order", f"answer is for client id {echoed!r}, not {client_id!r}")
        return response

    return checked
