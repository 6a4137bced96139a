"""Order endpoints: /fapi/v1/order (new, test, modify, query, cancel), batchOrders,
/fapi/v1/algoOrder, the open/all/cancel-all variants, countdownCancelAll and userTrades."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

from slt.domain.filters import SymbolFilters
from slt.domain.orders import OrderType
from slt.emulator import errors, payloads, wire_history
from slt.emulator.errors import ApiError, api_error
from slt.emulator.history import Window
from slt.emulator.params import (
    Call,
    boolean,
    client_id,
    decimal,
    integer,
    on_precision,
    order_ref,
    side,
    text,
    window,
    wire_text,
)
from slt.emulator.payloads import Json, Numbers
from slt.emulator.venue import TIME_IN_FORCE, NewAlgo, NewOrder, Venue

# Conditional types moved to the algo service on 2025-12-09 (BINANCE.md §4).
ALGO_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
EMULATED_ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
WORKING_TYPES = frozenset({"CONTRACT_PRICE", "MARK_PRICE"})
CANCELLED_ALL = {"code": 200, "msg": "The operation of cancel all open order is done."}
MAX_BATCH_ORDERS = 5
MAX_BATCH_CANCELS = 10
MAX_HISTORY_ROWS = 1000
T = TypeVar("T")


class TradeApi:
    def __init__(
        self, venue: Venue, filters: Mapping[str, SymbolFilters], numbers: Numbers
    ) -> None:
        self._venue = venue
        self._filters = filters
        self._n = numbers
        self._ids = itertools.count(1)

    # -- /fapi/v1/order --------------------------------------------------------------------

    def new_order(self, call: Call) -> Json:
        order, response_type = self._new_order(call.params)
        placed = self._venue.place_order(order)
        return payloads.order_json(placed, self._n, ack=response_type == "ACK")

    def test_order(self, call: Call) -> Json:
        """POST /fapi/v1/order/test: every check of a new order, nothing placed."""
        order, _ = self._new_order(call.params)
        self._venue.check_percent_price(order)
        return {}

    def modify_order(self, call: Call) -> Json:
        p = call.params
        filters = self._symbol(p)
        order_id, client = order_ref(p, "orderId", "origClientOrderId")
        order_side = side(p)
        if p.get("priceMatch"):
            raise ApiError(errors.INVALID_PARAMETER, "priceMatch: the emulator does not run it.")
        qty, price = decimal(p, "quantity"), decimal(p, "price")
        if qty is None:
            raise errors.missing("quantity")
        if price is None:
            raise errors.missing("price")
        order = self._venue.modify_order(
            filters.symbol,
            order_id,
            client,
            order_side,
            on_precision(qty, filters.step_size),
            on_precision(price, filters.tick_size),
        )
        return payloads.order_json(order, self._n)

    def batch_orders(self, call: Call) -> list[Json]:
        """Each order placed on its own: the answer lists an order or an error per entry."""
        batch = _json_list(call.params, "batchOrders", MAX_BATCH_ORDERS)
        answers: list[Json] = []
        for entry in batch:
            if not isinstance(entry, dict):
                raise api_error(errors.INVALID_PARAMETER, "batchOrders")
            params = {k: wire_text(v) for k, v in entry.items()}
            try:
                answers.append(self.new_order(Call(params, call.now_ms)))
            except ApiError as refused:
                answers.append(refused.body())
        return answers

    def cancel_batch(self, call: Call) -> list[Json]:
        symbol = self._symbol(call.params).symbol
        refs: list[tuple[int | None, str | None]]
        if call.params.get("orderIdList"):
            ids = _json_list(call.params, "orderIdList", MAX_BATCH_CANCELS)
            refs = [(_int_entry(i), None) for i in ids]
        else:
            names = _json_list(call.params, "origClientOrderIdList", MAX_BATCH_CANCELS)
            refs = [(None, str(n)) for n in names]
        answers: list[Json] = []
        for order_id, client in refs:
            try:
                order = self._venue.cancel_order(symbol, order_id, client)
                answers.append(payloads.order_json(order, self._n))
            except ApiError as refused:
                answers.append(refused.body())
        return answers

    def all_orders(self, call: Call) -> list[Json]:
        p = call.params
        symbol = self._symbol(p).symbol
        span = window(call, default_limit=500, max_limit=MAX_HISTORY_ROWS)
        orders = [(o.order_id, o.time_ms, o) for o in self._venue.all_orders(symbol)]
        chosen = _history(orders, integer(p, "orderId"), span)
        return [payloads.order_json(o, self._n) for o in chosen]

    def all_algos(self, call: Call) -> list[Json]:
        p = call.params
        symbol = self._symbol(p).symbol
        span = window(call, default_limit=500, max_limit=MAX_HISTORY_ROWS)
        algos = [(a.algo_id, a.create_ms, a) for a in self._venue.all_algos(symbol)]
        chosen = _history(algos, integer(p, "algoId"), span)
        return [payloads.algo_json(a, self._n) for a in chosen]

    def user_trades(self, call: Call) -> list[Json]:
        p = call.params
        symbol = self._symbol(p).symbol
        span = window(call, default_limit=500, max_limit=MAX_HISTORY_ROWS)
        from_id = integer(p, "fromId")
        if from_id is not None and (span.start_ms is not None or span.end_ms is not None):
            raise ApiError(
                errors.INVALID_PARAMETER, "fromId cannot be sent with startTime or endTime."
            )
        rows = self._venue.history.user_trades(
            symbol, span, order_id=integer(p, "orderId"), from_id=from_id
        )
        return [wire_history.user_trade_json(t, self._n) for t in rows]

    def countdown_cancel_all(self, call: Call) -> Json:
        symbol = self._symbol(call.params).symbol
        countdown = integer(call.params, "countdownTime")
        if countdown is None:
            raise errors.missing("countdownTime")
        self._venue.set_countdown(symbol, countdown)
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def _new_order(self, p: Mapping[str, str]) -> tuple[NewOrder, str]:
        """A checked LIMIT or MARKET order and its newOrderRespType."""
        filters = self._symbol(p)
        order_side = side(p)
        kind = text(p, "type")
        if kind in ALGO_TYPES:
            raise api_error(errors.STOP_ORDER_SWITCH_ALGO)
        if kind not in ("MARKET", "LIMIT"):
            raise api_error(errors.INVALID_ORDER_TYPE)
        self._one_way(p)
        if boolean(p, "closePosition"):
            # Close-All belongs to STOP_MARKET / TAKE_PROFIT_MARKET, i.e. the algo service.
            raise api_error(errors.INVALID_CLOSE_POSITION, kind)
        qty = decimal(p, "quantity")
        if qty is None:
            raise errors.missing("quantity")
        price = decimal(p, "price")
        tif = p.get("timeInForce")
        if kind == "LIMIT":
            if price is None:
                raise errors.missing("price")
            if tif is None:
                raise errors.missing("timeInForce")
            if tif not in TIME_IN_FORCE:
                raise api_error(errors.INVALID_TIF)
            on_precision(price, filters.tick_size)
        elif price is not None:
            raise api_error(errors.NOT_REQUIRED, "price")
        response_type = p.get("newOrderRespType", "ACK")
        if response_type not in ("ACK", "RESULT"):
            raise api_error(errors.INVALID_PARAMETER, "newOrderRespType")
        order = NewOrder(
            client_id=client_id(p, "newClientOrderId") or self._generated_id(),
            symbol=filters.symbol,
            side=order_side,
            type=OrderType(kind),
            qty=on_precision(qty, filters.step_size),
            price=price,
            time_in_force=tif or "GTC",
            reduce_only=boolean(p, "reduceOnly"),
        )
        return order, response_type

    def query_order(self, call: Call) -> Json:
        symbol = self._symbol(call.params).symbol
        order_id, client = order_ref(call.params, "orderId", "origClientOrderId")
        return payloads.order_json(self._venue.query_order(symbol, order_id, client), self._n)

    def cancel_order(self, call: Call) -> Json:
        symbol = self._symbol(call.params).symbol
        order_id, client = order_ref(call.params, "orderId", "origClientOrderId")
        return payloads.order_json(self._venue.cancel_order(symbol, order_id, client), self._n)

    def open_orders(self, call: Call) -> list[Json]:
        symbol = call.params.get("symbol") or None
        return [payloads.order_json(o, self._n) for o in self._venue.open_orders(symbol)]

    def cancel_all(self, call: Call) -> Json:
        self._venue.cancel_all(self._symbol(call.params).symbol)
        return CANCELLED_ALL

    # -- /fapi/v1/algoOrder ----------------------------------------------------------------

    def new_algo(self, call: Call) -> Json:
        p = call.params
        if text(p, "algoType") != "CONDITIONAL":
            raise api_error(errors.INVALID_PARAMETER, "algoType")
        filters = self._symbol(p)
        algo_side = side(p)
        kind = text(p, "type")
        if kind not in EMULATED_ALGO_TYPES:
            raise ApiError(
                errors.INVALID_ORDER_TYPE,
                "Invalid orderType."
                if kind not in ALGO_TYPES
                else f"Invalid orderType: the emulator runs {sorted(EMULATED_ALGO_TYPES)} only.",
            )
        self._one_way(p)
        trigger = decimal(p, "triggerPrice")
        if trigger is None:
            raise errors.missing("triggerPrice")
        close_position = boolean(p, "closePosition")
        qty = decimal(p, "quantity")
        if close_position and qty is not None:
            raise api_error(errors.NOT_REQUIRED, "quantity")
        if close_position and "reduceOnly" in p:
            raise api_error(errors.NOT_REQUIRED, "reduceOnly")
        if not close_position and qty is None:
            raise errors.missing("quantity")
        working_type = p.get("workingType", "CONTRACT_PRICE")
        if working_type not in WORKING_TYPES:
            raise api_error(errors.INVALID_PARAMETER, "workingType")
        tif = p.get("timeInForce", "GTC")
        if tif not in TIME_IN_FORCE:
            raise api_error(errors.INVALID_TIF)
        algo = self._venue.place_algo(
            NewAlgo(
                client_algo_id=client_id(p, "clientAlgoId") or self._generated_id(),
                symbol=filters.symbol,
                side=algo_side,
                type=OrderType(kind),
                qty=on_precision(qty, filters.step_size) if qty is not None else None,
                trigger_price=on_precision(trigger, filters.tick_size),
                working_type=working_type,
                time_in_force=tif,
                reduce_only=boolean(p, "reduceOnly"),
                close_position=close_position,
                price_protect=boolean(p, "priceProtect"),
            )
        )
        return payloads.algo_json(algo, self._n)

    def query_algo(self, call: Call) -> Json:
        algo_id, client = order_ref(call.params, "algoId", "clientAlgoId")
        return payloads.algo_json(self._venue.query_algo(algo_id, client), self._n)

    def cancel_algo(self, call: Call) -> Json:
        algo_id, client = order_ref(call.params, "algoId", "clientAlgoId")
        algo = self._venue.cancel_algo(algo_id, client)
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    def open_algos(self, call: Call) -> list[Json]:
        symbol = call.params.get("symbol") or None
        return [payloads.algo_json(a, self._n) for a in self._venue.open_algos(symbol)]

    def cancel_all_algos(self, call: Call) -> Json:
        self._venue.cancel_all_algos(self._symbol(call.params).symbol)
        return CANCELLED_ALL

    # -- helpers ---------------------------------------------------------------------------

    def _symbol(self, params: Mapping[str, str]) -> SymbolFilters:
        filters = self._filters.get(text(params, "symbol"))
        if filters is None:
            raise api_error(errors.INVALID_SYMBOL)
        return filters

    def _one_way(self, params: Mapping[str, str]) -> None:
        if params.get("positionSide", "BOTH") != "BOTH" and not self._venue.dual_side_position:
            raise api_error(errors.POSITION_SIDE_NOT_MATCH)

    def _generated_id(self) -> str:
        # Binance makes up an id when none is sent; the emulator's are recognisable.
        return f"emulator-{next(self._ids)}"


def _history(rows: list[tuple[int, int, T]], from_id: int | None, span: Window) -> list[T]:
    """Rows (id, time, item) Binance's way: from an id or a start time the oldest `limit`,
    else the newest `limit`, within [startTime, endTime]."""
    chosen = [
        item
        for ident, ts, item in rows
        if (from_id is None or ident >= from_id)
        and (span.start_ms is None or ts >= span.start_ms)
        and (span.end_ms is None or ts <= span.end_ms)
    ]
    if from_id is not None or span.start_ms is not None:
        return chosen[: span.limit]
    return chosen[-span.limit :]


def _json_list(params: Mapping[str, str], name: str, most: int) -> list[Any]:
    try:
        value = orjson.loads(text(params, name))
    except orjson.JSONDecodeError:
        raise api_error(errors.INVALID_PARAMETER, name) from None
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise ApiError(errors.INVALID_PARAMETER, f"Parameter '{name}' takes 1 to {most} entries.")
    return value


def _int_entry(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise api_error(errors.INVALID_PARAMETER, "orderIdList")
    return int(value)


ROUTES: dict[tuple[str, str], Callable[[TradeApi, Call], Any]] = {
    ("POST", "/fapi/v1/order"): TradeApi.new_order,
    ("POST", "/fapi/v1/order/test"): TradeApi.test_order,
    ("PUT", "/fapi/v1/order"): TradeApi.modify_order,
    ("POST", "/fapi/v1/batchOrders"): TradeApi.batch_orders,
    ("DELETE", "/fapi/v1/batchOrders"): TradeApi.cancel_batch,
    ("GET", "/fapi/v1/allOrders"): TradeApi.all_orders,
    ("GET", "/fapi/v1/allAlgoOrders"): TradeApi.all_algos,
    ("GET", "/fapi/v1/userTrades"): TradeApi.user_trades,
    ("POST", "/fapi/v1/countdownCancelAll"): TradeApi.countdown_cancel_all,
    ("GET", "/fapi/v1/order"): TradeApi.query_order,
    ("DELETE", "/fapi/v1/order"): TradeApi.cancel_order,
    ("GET", "/fapi/v1/openOrders"): TradeApi.open_orders,
    ("DELETE", "/fapi/v1/allOpenOrders"): TradeApi.cancel_all,
    ("POST", "/fapi/v1/algoOrder"): TradeApi.new_algo,
    ("GET", "/fapi/v1/algoOrder"): TradeApi.query_algo,
    ("DELETE", "/fapi/v1/algoOrder"): TradeApi.cancel_algo,
    ("GET", "/fapi/v1/openAlgoOrders"): TradeApi.open_algos,
    ("DELETE", "/fapi/v1/algoOpenOrders"): TradeApi.cancel_all_algos,
}
