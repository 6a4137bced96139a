"""Fuzzing the REST boundary: every schema parser on recorded bodies with fields mutated, and
the error taxonomy (`interpret`: status, body, headers; `from_transport`).

Contract: a parser raises SchemaError and nothing else; what it returns carries finite Decimals;
`interpret` returns decoded JSON only for a 2xx without a Binance error code, and otherwise
raises a GatewayError subclass, never anything else."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from fuzz_support import REST, finite_decimal_fields, json_values, mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slt.adapters.binance.common.errors import from_transport, interpret
from slt.adapters.binance.common.schemas import (
    AlgoCancelResponse,
    AlgoOrderResponse,
    BookTicker,
    CodeAck,
    ExchangeInfo,
    Kline,
    LeverageResponse,
    ListenKey,
    OrderResponse,
    PositionMode,
    PositionRisk,
    PremiumIndex,
    SchemaError,
    SymbolConfig,
    Ticker24h,
    usdt_balance,
)
from slt.domain.orders import OrderState
from slt.ports.order_gateway import GatewayError, OrderOutcomeUnknown

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PARSERS: dict[str, Any] = {
    "docs/allOrders__docs-example__TRAILING_STOP_MARKET.json": OrderResponse.parse_list,
    "thirdparty_handwritten/order__NEW_LIMIT__nautilus-handwritten.json": OrderResponse.parse,
    "docs/algoOrder_new__docs-example.json": AlgoOrderResponse.parse,
    "docs/algoOrder_query__docs-example.json": AlgoOrderResponse.parse,
    "docs/openAlgoOrders__docs-example.json": AlgoOrderResponse.parse_list,
    "docs/algoOrder_cancel__docs-example.json": AlgoCancelResponse.parse,
    "docs/allOpenOrders_cancel__docs-example.json": CodeAck.parse,
    "docs/leverage__docs-example.json": LeverageResponse.parse,
    "docs/balance__docs-example.json": usdt_balance,
    "docs/balance_v3__docs-example.json": usdt_balance,
    "docs/account_v2__docs-derived.json": usdt_balance,
    "docs/positionRisk__docs-example__one-way.json": PositionRisk.parse_list,
    "docs/positionRisk_v3__docs-example__hedge.json": PositionRisk.parse_list,
    "thirdparty_handwritten/symbolConfig__nautilus-handwritten.json": SymbolConfig.parse_list,
    "docs/positionSide_dual__docs-example.json": PositionMode.parse,
    "docs/ticker_24hr__docs-example.json": Ticker24h.parse_any,
    "docs/ticker_bookTicker__docs-example.json": BookTicker.parse,
    "docs/premiumIndex__docs-example.json": PremiumIndex.parse,
    "docs/klines__docs-example.json": Kline.parse_list,
    "docs/listenKey__docs-example.json": ListenKey.parse,
    "live/exchangeInfo__2022-02-19__BTCUSDT_ETHUSDT_BTCUSDT_220325__trimmed.json":
        ExchangeInfo.parse,
}
# Bodies as the HTTP client decodes them: non-integers straight to Decimal.
BODIES = {
    name: json.loads((REST / name).read_text(encoding="utf-8"), parse_float=Decimal)
    for name in PARSERS
}


def check_parsed(result: Any) -> None:
    items = result if isinstance(result, list) else [result]
    for item in items:
        assert finite_decimal_fields(item), item
        if isinstance(item, OrderResponse | AlgoOrderResponse):
            state = item.to_state()
            assert isinstance(state, OrderState) and state.filled_qty.is_finite()
        if isinstance(item, Kline):
            assert item.closeTime >= item.openTime


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_unmutated_bodies_parse(name: str) -> None:
    check_parsed(PARSERS[name](BODIES[name]))


@FUZZ
@given(st.sampled_from(sorted(PARSERS)).flatmap(
    lambda name: st.tuples(st.just(name), mutated(BODIES[name]))))
def test_parsers_raise_only_schema_error_on_mutated_bodies(case: tuple[str, Any]) -> None:
    name, body = case
    try:
        result = PARSERS[name](body)
    except SchemaError:
        return
    except AttributeError:
        # Known bug, pinned by test_exchange_info_with_a_non_object_symbol_is_a_schema_error.
        assert name.startswith("live/exchangeInfo")
        return
    check_parsed(result)


@FUZZ
@given(st.sampled_from(sorted(PARSERS)), json_values)
def test_parsers_raise_only_schema_error_on_arbitrary_json(name: str, body: Any) -> None:
    try:
        result = PARSERS[name](body)
    except SchemaError:
        return
    check_parsed(result)


@pytest.mark.parametrize("bid,ask", [("0", "1"), ("-5", "1"), ("2", "1"), ("1e400", "1e401")])
def test_rest_book_ticker_never_yields_an_insane_quote(bid: str, ask: str) -> None:
    body = dict(BODIES["docs/ticker_bookTicker__docs-example.json"], bidPrice=bid, askPrice=ask)
    try:
        q = BookTicker.parse(body).to_quote(1)
    except SchemaError:
        return
    assert math.isfinite(q.ask) and 0 < q.bid <= q.ask


EXCHANGE_INFO = "live/exchangeInfo__2022-02-19__BTCUSDT_ETHUSDT_BTCUSDT_220325__trimmed.json"


def test_exchange_info_with_a_non_object_symbol_is_a_schema_error() -> None:
    body = dict(BODIES[EXCHANGE_INFO], symbols=[*BODIES[EXCHANGE_INFO]["symbols"], "NaN"])
    with pytest.raises(SchemaError):
        ExchangeInfo.parse(body)


@pytest.mark.parametrize("field", ["minPrice", "maxPrice", "tickSize"])
def test_exchange_info_filters_are_finite(field: str) -> None:
    body = json.loads(json.dumps(BODIES[EXCHANGE_INFO], default=str))
    body["symbols"][0]["filters"][0][field] = "NaN"
    try:
        info = ExchangeInfo.parse(body)
    except SchemaError:
        return
    assert all(finite_decimal_fields(f) for f in info.filters.values())


# -- the error taxonomy ------------------------------------------------------------------------

statuses = st.sampled_from([200, 201, 204, 400, 401, 403, 404, 408, 418, 429, 451, 500, 502,
                            503, 504, 302, 100]) | st.integers(0, 999)
binance_bodies = st.builds(
    lambda code, msg: json.dumps({"code": code, "msg": msg}),
    st.sampled_from([-1000, -1001, -1003, -1006, -1007, -1008, -1015, -1016, -1021, -1022,
                     -1102, -1125, -2011, -2013, -2014, -2015, -5028, -4164, 200, 0])
    | st.integers(-(2**70), 2**70) | st.none() | st.text(max_size=5),
    st.sampled_from(["Unknown error, please check your request or try again later.",
                     "Service Unavailable.", "Internal error; unable to process your request.",
                     "Way too many requests; IP(1.2.3.4) banned until 1767225600000.",
                     "banned until 99999999999999999999999", "Execution status unknown.", ""])
    | st.text(max_size=40) | st.none() | st.integers(),
)
bodies = binance_bodies | st.text(max_size=200) | json_values.map(json.dumps) | st.sampled_from(
    ["<html>502 Bad Gateway</html>", "", "{", "[]", "NaN", '{"code": 1e999}', "9" * 5000])
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "X-MBX-USED-WEIGHT-1M", "Content-Type"]),
    st.sampled_from(["1", "0", "-1", "NaN", "inf", "1e30", "abc", "", "120", "9" * 400])
    | st.text(max_size=10),
    max_size=3,
)


@FUZZ
@given(statuses, bodies, headers, st.booleans())
def test_interpret_returns_or_raises_a_gateway_error(
    status: int, body: str, hdrs: dict[str, str], order_write: bool
) -> None:
    try:
        result = interpret(status, body, hdrs, order_write=order_write, now_ms=1)
    except GatewayError as exc:
        assert str(exc)
        retry = getattr(exc, "retry_after_ms", None)
        assert retry is None or (isinstance(retry, int) and retry >= 0)
        return
    assert 200 <= status < 300, (status, body)
    if isinstance(result, dict):
        code = result.get("code")
        assert not (isinstance(code, int) and not isinstance(code, bool) and code < 0)


@FUZZ
@given(st.sampled_from([500, 502, 503, 504, 408]), st.sampled_from(
    ["<html>oops</html>", "", '{"code": -1000, "msg": "Unknown error"}',
     '{"code": -1007, "msg": "Timeout waiting for response from backend server."}',
     '{"code": -1006, "msg": "Execution status unknown."}']))
def test_ambiguous_answers_to_a_write_are_outcome_unknown(status: int, body: str) -> None:
    with pytest.raises(OrderOutcomeUnknown):
        interpret(status, body, {}, order_write=True, now_ms=1)


transport_errors = st.sampled_from([
    TimeoutError(), TimeoutError("read"), ConnectionResetError("reset"),
    aiohttp.ServerDisconnectedError(), aiohttp.ClientPayloadError("bad"), OSError("x"),
    aiohttp.ClientOSError(), ValueError("odd"), RuntimeError(""),
])


@FUZZ
@given(transport_errors, st.booleans())
def test_transport_failures_map_to_gateway_errors(exc: BaseException, order_write: bool) -> None:
    err = from_transport(exc, order_write=order_write)
    assert isinstance(err, GatewayError)
    if order_write:
        assert isinstance(err, OrderOutcomeUnknown)
