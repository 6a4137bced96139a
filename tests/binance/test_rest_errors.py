"""The error taxonomy, table-driven over (status, body, headers) and transport failures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from slt.adapters.binance.common import errors
from slt.adapters.binance.common.errors import (
    AuthError,
    ClockSkewRejected,
    ListenKeyNotFound,
    MalformedResponse,
    NotServed,
    from_transport,
    interpret,
    is_not_found,
)
from slt.domain.breaker import FailureKind
from slt.ports.order_gateway import (
    ExchangeDown,
    GatewayError,
    OrderOutcomeUnknown,
    OrderRejected,
)

NOW = 1_779_800_000_000
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"
HTML_404 = "<!DOCTYPE html><html><body>Not Found</body></html>"
CLOUDFRONT_403 = "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HTML>"


def body(code: int, msg: str) -> str:
    return json.dumps({"code": code, "msg": msg})


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    body: str
    expect: type[GatewayError]
    failure: FailureKind | None = None
    code: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    order_write: bool = False
    retry_after_ms: int | None = None
    ban_until_ms: int | None = None


CASES = [
    # -- rate limits and bans ------------------------------------------------------------------
    Case("429 with Retry-After", 429,
         body(-1003, "Too many requests; current limit of IP(1.2.3.4) is 2400 requests per "
                     "minute. Please use the websocket for live updates to avoid polling the API."),
         ExchangeDown, FailureKind.RATE_LIMIT_429, headers=(("Retry-After", "7"),),
         retry_after_ms=7000),
    Case("429 without Retry-After", 429, body(-1003, "Too many requests."), ExchangeDown,
         FailureKind.RATE_LIMIT_429),
    Case("429 with an unparseable Retry-After", 429, "", ExchangeDown,
         FailureKind.RATE_LIMIT_429, headers=(("Retry-After", "soon"),)),
    Case("429 on an order write is still a rate limit", 429, body(-1015, "Too many new orders."),
         ExchangeDown, FailureKind.RATE_LIMIT_429, order_write=True),
    Case("418 banned until", 418,
         body(-1003, "Way too many requests; IP(1.2.3.4) banned until 1779808947147. Please use "
                     "the websocket for live updates to avoid bans."),
         ExchangeDown, FailureKind.IP_BAN_418, ban_until_ms=1779808947147),
    Case("418 with only Retry-After", 418, "", ExchangeDown, FailureKind.IP_BAN_418,
         headers=(("Retry-After", "120"),), retry_after_ms=120_000, ban_until_ms=NOW + 120_000),
    Case("418 HTML page, no end given", 418, HTML_404, ExchangeDown, FailureKind.IP_BAN_418),
    Case("-1003 ban inside a 200", 200, body(-1003, "IP banned until 1779808947147."),
         ExchangeDown, FailureKind.IP_BAN_418, ban_until_ms=1779808947147),
    Case("-1003 outside a 429", 400, body(-1003, "Too many requests."), ExchangeDown,
         FailureKind.BINANCE_1003),
    Case("-1015 order rate", 400, body(-1015, "Too many new orders; current limit is 300 orders "
                                              "per 10 SECOND."), ExchangeDown,
         FailureKind.RATE_LIMIT_429),
    Case("403 WAF", 403, CLOUDFRONT_403, ExchangeDown, FailureKind.RATE_LIMIT_429),
    # -- 5xx -------------------------------------------------------------------------------------
    Case("503 unknown on an order write", 503,
         body(-1000, "Unknown error, please check your request or try again later."),
         OrderOutcomeUnknown, FailureKind.TIMEOUT, order_write=True),
    Case("503 unknown (text only) on an order write", 503,
         "Unknown error, please check your request or try again later.",
         OrderOutcomeUnknown, FailureKind.TIMEOUT, order_write=True),
    Case("503 unknown on a read", 503,
         body(-1000, "Unknown error, please check your request or try again later."),
         ExchangeDown, FailureKind.SERVER_5XX),
    Case("503 Service Unavailable on an order write is definite", 503,
         json.dumps({"msg": "Service Unavailable."}), ExchangeDown, FailureKind.SERVER_5XX,
         order_write=True),
    Case("503 -1000 Service Unavailable on an order write is definite", 503,
         body(-1000, "Service Unavailable."), ExchangeDown, FailureKind.SERVER_5XX,
         order_write=True),
    Case("500 -1000 request occur unknown error on an order write", 500,
         body(-1000, "Request occur unknown error."), OrderOutcomeUnknown, order_write=True),
    Case("503 internal error on an order write is definite", 503,
         body(-1001, "Internal error; unable to process your request. Please try again."),
         ExchangeDown, FailureKind.SERVER_5XX, order_write=True),
    Case("-1008 throttled on an order write is definite", 503,
         body(-1008, "Request throttled by system-level protection. Reduce-only/close-position "
                     "orders are exempt. Please try again."),
         ExchangeDown, FailureKind.SERVER_5XX, order_write=True),
    Case("-1007 timeout on an order write", 408,
         body(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                     "execution status unknown."),
         OrderOutcomeUnknown, order_write=True),
    Case("-1007 timeout on a read", 200, body(-1007, "Timeout waiting for response."),
         ExchangeDown, FailureKind.TIMEOUT),
    Case("-1006 unexpected response on an order write", 500,
         body(-1006, "An unexpected response was received from the message bus. Execution "
                     "status unknown."), OrderOutcomeUnknown, order_write=True),
    Case("502 HTML page on a read", 502, HTML_502, ExchangeDown, FailureKind.SERVER_5XX),
    Case("502 HTML page on an order write may have executed", 502, HTML_502,
         OrderOutcomeUnknown, order_write=True),
    Case("500 empty body on a read", 500, "", ExchangeDown, FailureKind.SERVER_5XX),
    Case("500 with an unknown code on a read", 500, body(-9999, "?"), ExchangeDown,
         FailureKind.SERVER_5XX),
    Case("408 on a read", 408, "", ExchangeDown, FailureKind.TIMEOUT),
    Case("408 on an order write", 408, "", OrderOutcomeUnknown, order_write=True),
    # -- unreadable answers ---------------------------------------------------------------------
    Case("200 truncated JSON on a read", 200, '{"symbol": "BTCUSDT", "markPr', MalformedResponse,
         FailureKind.SERVER_5XX),
    Case("200 truncated JSON on an order write", 200, '{"orderId": 1234, "sta',
         OrderOutcomeUnknown, order_write=True),
    Case("200 HTML on a read", 200, HTML_404, MalformedResponse, FailureKind.SERVER_5XX),
    Case("200 empty on an order write", 200, "", OrderOutcomeUnknown, order_write=True),
    # A 4xx page is not a server failure: the breaker must not count a missing path as a 5xx.
    Case("404 HTML page (wrong base URL)", 404, HTML_404, NotServed, None, order_write=True),
    Case("405 on a read", 405, "Method Not Allowed", NotServed, None),
    # -- business rejections: not breaker failures ---------------------------------------------
    *[
        Case(f"{code} is a rejection", 400, body(code, msg), OrderRejected, None, code,
             order_write=True)
        for code, msg in [
            (-2019, "Margin is insufficient."),
            (-1111, "Precision is over the maximum defined for this asset."),
            (-4164, "Order's notional must be no smaller than 5.0 (unless you choose reduce only)"),
            (-2021, "Order would immediately trigger."),
            (-2022, "ReduceOnly Order is rejected."),
            (-2011, "Unknown order sent."),
            (-2013, "Order does not exist."),
            (-4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                    "endpoints instead."),
            (-4003, "Quantity less than or equal to zero."),
            (-4014, "Price not increased by tick size."),
            (-4023, "Quantity not increased by step size."),
            (-1121, "Invalid symbol."),
            (-4116, "ClientOrderId is duplicated."),
            (-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."),
            (-4061, "Order's position side does not match user's setting."),
        ]
    ],
    Case("a rejection inside a 200", 200, body(-2019, "Margin is insufficient."), OrderRejected,
         None, -2019, order_write=True),
    # -- time, keys, listen keys ---------------------------------------------------------------
    Case("-1021", 400, body(-1021, "Timestamp for this request is outside of the recvWindow."),
         ClockSkewRejected, None, -1021, order_write=True),
    Case("-5028 at the matching engine", 400, body(-5028, "Timestamp for this request is outside "
                                                          "of the ME recvWindow."),
         ClockSkewRejected, None, -5028, order_write=True),
    Case("-1022", 400, body(-1022, "Signature for this request is not valid."), AuthError, None,
         -1022),
    Case("-2014", 401, body(-2014, "API-key format invalid."), AuthError, None, -2014),
    Case("-2015", 401, body(-2015, "Invalid API-key, IP, or permissions for action."), AuthError,
         None, -2015, order_write=True),
    Case("401 without a body", 401, "", AuthError, None, 0),
    Case("451 restricted location", 451, json.dumps({"msg": "Service unavailable from a "
                                                            "restricted location"}),
         AuthError, None, 0),
    Case("-1125", 400, body(-1125, "This listenKey does not exist."), ListenKeyNotFound, None,
         -1125),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_interpret(case: Case) -> None:
    with pytest.raises(GatewayError) as raised:
        interpret(case.status, case.body, dict(case.headers), order_write=case.order_write,
                  now_ms=NOW)
    exc = raised.value
    assert type(exc) is case.expect
    # The port fixes OrderOutcomeUnknown's breaker kind: TIMEOUT.
    expected_failure = FailureKind.TIMEOUT if case.expect is OrderOutcomeUnknown else case.failure
    assert exc.failure == expected_failure
    if case.code is not None:
        assert getattr(exc, "code", None) == case.code
    if isinstance(exc, ExchangeDown):
        assert exc.retry_after_ms == case.retry_after_ms
        assert exc.ban_until_ms == case.ban_until_ms


def test_every_rejection_leaves_the_breaker_alone_and_only_writes_are_ever_unknown() -> None:
    for case in CASES:
        if case.expect is OrderOutcomeUnknown:
            assert case.order_write, case.name
        if issubclass(case.expect, OrderRejected | AuthError):
            assert case.failure is None, case.name


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (200, '{"serverTime": 1499827319559}', {"serverTime": 1499827319559}),
        (200, '{"code": 200, "msg": "The operation of cancel all open order is done."}',
         {"code": 200, "msg": "The operation of cancel all open order is done."}),
        (200, '{"algoId": 1, "clientAlgoId": "a", "code": "200", "msg": "success"}',
         {"algoId": 1, "clientAlgoId": "a", "code": "200", "msg": "success"}),
        (200, '{"markPrice": 11793.63104562}', {"markPrice": Decimal("11793.63104562")}),
        (200, "[]", []),
        (200, "{}", {}),
    ],
)
def test_successful_answers_decode_without_binary_floats(
    status: int, text: str, expected: Any
) -> None:
    decoded = interpret(status, text, {}, order_write=False, now_ms=NOW)
    assert decoded == expected
    if isinstance(expected, dict) and "markPrice" in expected:
        assert isinstance(decoded["markPrice"], Decimal)


def test_a_long_html_page_is_quoted_only_in_part() -> None:
    page = "<html>" + "x" * 10_000 + "</html>"
    with pytest.raises(MalformedResponse) as raised:
        interpret(200, page, {}, order_write=False, now_ms=NOW)
    assert len(str(raised.value)) < 400


def _connector_error() -> aiohttp.ClientConnectorError:
    key = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


TRANSPORT_CASES = [
    # (exception, order_write, expected type, failure)
    (_connector_error(), True, ExchangeDown, FailureKind.NETWORK),
    (_connector_error(), False, ExchangeDown, FailureKind.NETWORK),
    (aiohttp.ConnectionTimeoutError("connect"), True, ExchangeDown, FailureKind.TIMEOUT),
    (aiohttp.SocketTimeoutError("read"), True, OrderOutcomeUnknown, FailureKind.TIMEOUT),
    (aiohttp.SocketTimeoutError("read"), False, ExchangeDown, FailureKind.TIMEOUT),
    (TimeoutError(), True, OrderOutcomeUnknown, FailureKind.TIMEOUT),
    (TimeoutError(), False, ExchangeDown, FailureKind.TIMEOUT),
    (aiohttp.ServerDisconnectedError(), True, OrderOutcomeUnknown, FailureKind.TIMEOUT),
    (aiohttp.ServerDisconnectedError(), False, ExchangeDown, FailureKind.NETWORK),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), True, OrderOutcomeUnknown,
     FailureKind.TIMEOUT),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), False, ExchangeDown,
     FailureKind.NETWORK),
    (aiohttp.ClientPayloadError("truncated"), False, ExchangeDown, FailureKind.NETWORK),
]


@pytest.mark.parametrize(
    ("exc", "order_write", "expected", "failure"),
    TRANSPORT_CASES,
    ids=[f"{type(c[0]).__name__}-{'write' if c[1] else 'read'}" for c in TRANSPORT_CASES],
)
def test_transport_failures(
    exc: BaseException, order_write: bool, expected: type, failure: FailureKind
) -> None:
    mapped = from_transport(exc, order_write=order_write)
    assert type(mapped) is expected
    assert mapped.failure == failure


def test_not_found_recognises_codes_and_texts() -> None:
    assert is_not_found(OrderRejected(-2013, "Order does not exist."))
    assert is_not_found(OrderRejected(-2011, "Unknown order sent."))
    assert is_not_found(OrderRejected(-20130, "Algo order does not exist."))
    assert not is_not_found(OrderRejected(-2019, "Margin is insufficient."))


def test_auth_error_explains_what_to_fix() -> None:
    text = str(errors.AuthError(-2015, "Invalid API-key, IP, or permissions for action."))
    assert "-2015" in text and "whitelist" in text
