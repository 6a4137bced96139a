"""The one error taxonomy: every HTTP answer and transport failure -> the port's error types.

Three questions decide each case, in this order:

1. Did the request possibly execute? Only order writes care. Anything that leaves it open (a
   timeout, a dropped connection, a 503 "Unknown error", -1000/-1006/-1007, a 5xx we cannot
   read, a 200 whose body we cannot read) is OrderOutcomeUnknown: the caller queries by client
   id before doing anything else. A failure that happened before the request left (the TCP
   connection could not be opened) or that Binance documents as definite ("Service
   Unavailable.", "Internal error; unable to process...", -1001, -1008) is not ambiguous.
2. Is the exchange or the path to it in trouble? Then ExchangeDown with the breaker's
   FailureKind (and the Retry-After / "banned until" it announced).
3. Otherwise the exchange answered and said no: OrderRejected(code, msg) for business codes
   (never a breaker failure), AuthError for key and signature problems (fatal at start-up),
   ClockSkewRejected for -1021/-5028 (the client resyncs time and may retry).

Codes and texts: BINANCE.md §1, §2, §6 and the futures General Info page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from slt.domain.breaker import FailureKind
from slt.ports.order_gateway import (
    ExchangeDown,
    GatewayError,
    OrderOutcomeUnknown,
    OrderRejected,
)

# -- error types beyond the port's ---------------------------------------------------------------


class AuthError(GatewayError):
    """The exchange refused the credentials or the signature: nothing will work until a human
    fixes the key, its permissions or its IP whitelist. Not a breaker failure (retrying cannot
    help, and it says nothing about the connection)."""

    failure = None

    def __init__(self, code: int, message: str) -> None:
        hint = AUTH_HINTS.get(code, "check the API key, its permissions and its IP whitelist")
        super().__init__(f"Binance refused the API credentials ({code}: {message}); {hint}")
        self.code = code
        self.message = message


class ClockSkewRejected(OrderRejected):
    """-1021/-5028: the timestamp fell outside recvWindow. Rejected before execution."""


class ListenKeyNotFound(OrderRejected):
    """-1125: the listenKey expired or was closed; create a new one (POST)."""


class NotServed(GatewayError):
    """A 4xx without a Binance code: the path is not served there (wrong base URL, an endpoint
    this venue lacks, a proxy's page). Nothing executed, and it says nothing about the health of
    the connection, so the breaker does not count it."""

    failure = None


class MalformedResponse(ExchangeDown):
    """A read got an answer we cannot use (HTML page, truncated JSON, wrong shape)."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureKind.SERVER_5XX, message)


# -- the code tables -----------------------------------------------------------------------------

TOO_MANY_REQUESTS = -1003
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
ME_RECV_WINDOW = -5028  # the same recvWindow check, at the matching engine
LISTEN_KEY_GONE = -1125
NO_SUCH_ORDER = -2013
UNKNOWN_ORDER = -2011  # CANCEL_REJECTED: "Unknown order sent."
MANDATORY_PARAM = -1102
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046  # already that type: the goal is reached

AUTH_HINTS: Mapping[int, str] = {
    -1002: "the key is not authorized for this request",
    -1022: "the signature is invalid: is the API secret the one paired with this key?",
    -2014: "the API key format is invalid",
    -2015: "the key is invalid, this IP is not whitelisted, or futures trading is not enabled",
    0: "the exchange refused access from here",
}
AUTH_CODES = frozenset(code for code in AUTH_HINTS if code)

CLOCK_CODES = frozenset({INVALID_TIMESTAMP, ME_RECV_WINDOW})

# The request reached Binance and its fate is unknown (for a write: it may have executed).
OUTCOME_UNKNOWN_CODES: Mapping[int, FailureKind] = {
    -1000: FailureKind.SERVER_5XX,  # UNKNOWN
    -1006: FailureKind.SERVER_5XX,  # UNEXPECTED_RESP: "Execution status unknown."
    -1007: FailureKind.TIMEOUT,  # TIMEOUT: "Send status unknown; execution status unknown."
}

# Documented as definite failures: nothing executed, try again later.
# -1001 DISCONNECTED, -1008 throttled by system protection, -1016 SERVICE_SHUTTING_DOWN.
SERVER_FAILURE_CODES = frozenset({-1001, -1008, -1016})

# Rate-limit answers that arrive as business codes rather than as 429s.
RATE_LIMIT_CODES: Mapping[int, FailureKind] = {
    TOO_MANY_REQUESTS: FailureKind.BINANCE_1003,
    TOO_MANY_ORDERS: FailureKind.RATE_LIMIT_429,
}

# "The order does not exist" in its several spellings (query by client id, cancel, algo order).
NOT_FOUND_CODES = frozenset({NO_SUCH_ORDER, UNKNOWN_ORDER})
_NOT_FOUND_TEXT = re.compile(r"does not exist|not found|unknown order", re.IGNORECASE)

_BANNED_UNTIL = re.compile(r"banned until (\d+)")
# 503 variants (General Info, "HTTP 503 Status: Message Variants & Handling").
_OUTCOME_UNKNOWN_TEXT = re.compile(
    r"unknown error|execution status unknown|status unknown", re.IGNORECASE
)
_DEFINITE_FAILURE_TEXT = re.compile(
    r"service unavailable|internal error; unable to process|request throttled", re.IGNORECASE
)

_EXCERPT = 200  # characters of an unreadable body worth quoting in a message


def is_not_found(exc: OrderRejected) -> bool:
    """True when a rejection says the order (or algo order) is not known to the exchange."""
    return exc.code in NOT_FOUND_CODES or bool(_NOT_FOUND_TEXT.search(exc.message))


# -- HTTP answers --------------------------------------------------------------------------------


def interpret(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    order_write: bool,
    now_ms: int,
) -> Any:
    """The decoded JSON of a successful answer; raise the matching GatewayError otherwise.

    A 200 carrying `{"code": <negative>, "msg": ...}` is an error like any other; a positive
    `code` (Binance's `{"code": 200, "msg": "success"}` acknowledgements) is not.
    """
    decoded = _decode(body)
    code, msg = _binance_error(decoded)
    text = msg if msg is not None else _excerpt(body)
    retry_after_ms = _retry_after_ms(headers)

    failed = code is not None or not 200 <= status < 300
    if status == 418 or (failed and _BANNED_UNTIL.search(text)):
        raise _ip_ban(status, code, text, retry_after_ms, now_ms)
    if status == 429:
        raise ExchangeDown(
            FailureKind.RATE_LIMIT_429, _label(status, code, text), retry_after_ms=retry_after_ms
        )
    if code is not None:
        raise _from_code(status, code, text, retry_after_ms, order_write=order_write)
    if 200 <= status < 300:
        if decoded is _UNDECODABLE:
            raise _unreadable(f"HTTP {status} with a body that is not JSON: {text!r}", order_write)
        return decoded
    raise _from_status(status, text, order_write=order_write)


def _from_code(
    status: int, code: int, text: str, retry_after_ms: int | None, *, order_write: bool
) -> GatewayError:
    label = _label(status, code, text)
    if code in RATE_LIMIT_CODES:
        return ExchangeDown(RATE_LIMIT_CODES[code], label, retry_after_ms=retry_after_ms)
    if code in AUTH_CODES:
        return AuthError(code, text)
    if code in CLOCK_CODES:
        return ClockSkewRejected(code, text)
    if code == LISTEN_KEY_GONE:
        return ListenKeyNotFound(code, text)
    if code in OUTCOME_UNKNOWN_CODES:
        if _DEFINITE_FAILURE_TEXT.search(text) and not _OUTCOME_UNKNOWN_TEXT.search(text):
            # -1000 is generic: on a 503, only the text tells "Service Unavailable." apart.
            return ExchangeDown(FailureKind.SERVER_5XX, label)
        if order_write:
            return OrderOutcomeUnknown(label)
        return ExchangeDown(OUTCOME_UNKNOWN_CODES[code], label)
    if code in SERVER_FAILURE_CODES:
        return ExchangeDown(FailureKind.SERVER_5XX, label)
    if status >= 500:
        # A server failure that happens to carry a code we do not know: judge it as a 5xx.
        return _from_status(status, text, order_write=order_write, label=label)
    return OrderRejected(code, text)


def _from_status(
    status: int, text: str, *, order_write: bool, label: str | None = None
) -> GatewayError:
    label = label or _label(status, None, text)
    if status >= 500:
        if _DEFINITE_FAILURE_TEXT.search(text) and not _OUTCOME_UNKNOWN_TEXT.search(text):
            return ExchangeDown(FailureKind.SERVER_5XX, label)
        if order_write:
            # "Unknown error" is documented as unknown; a 502/504 or an unreadable 5xx may
            # come from a proxy after the order reached the engine: the safe reading wins.
            return OrderOutcomeUnknown(label)
        return ExchangeDown(FailureKind.SERVER_5XX, label)
    if status == 408:  # the gateway timed out waiting for the backend
        return OrderOutcomeUnknown(label) if order_write else ExchangeDown(
            FailureKind.TIMEOUT, label
        )
    if status in (401, 451):  # unauthorized; "unavailable from a restricted location"
        return AuthError(0, label)
    if status == 403:  # the WAF limit: back off like a rate limit
        return ExchangeDown(FailureKind.RATE_LIMIT_429, f"WAF limit: {label}")
    if 400 <= status < 500:
        # Refused before Binance's API saw it (a proxy or CDN page): nothing executed.
        return NotServed(f"unexpected answer: {label}")
    return _unreadable(f"unexpected answer: {label}", order_write)


def _ip_ban(
    status: int, code: int | None, text: str, retry_after_ms: int | None, now_ms: int
) -> ExchangeDown:
    match = _BANNED_UNTIL.search(text)
    if match is not None:
        ban_until: int | None = int(match.group(1))
    elif retry_after_ms is not None:
        ban_until = now_ms + retry_after_ms
    else:
        ban_until = None  # the breaker assumes one cool-down
    return ExchangeDown(
        FailureKind.IP_BAN_418,
        _label(status, code, text),
        retry_after_ms=retry_after_ms,
        ban_until_ms=ban_until,
    )


def _unreadable(message: str, order_write: bool) -> GatewayError:
    if order_write:
        return OrderOutcomeUnknown(f"{message}; the order may have executed")
    return MalformedResponse(message)


def unreadable_payload(problem: str, *, order_write: bool) -> GatewayError:
    """A well-formed JSON answer whose content failed schema validation."""
    return _unreadable(f"response failed validation: {problem}", order_write)


# -- transport failures --------------------------------------------------------------------------


def from_transport(exc: BaseException, *, order_write: bool) -> GatewayError:
    """A failure below HTTP. Whether a write may have reached Binance decides the type."""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Raised while opening the connection: not one byte of the request was sent.
        return ExchangeDown(FailureKind.NETWORK, what)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ExchangeDown(FailureKind.TIMEOUT, what)  # connect timeout: also never sent
    if isinstance(exc, TimeoutError):  # aiohttp's read timeouts subclass it too
        if order_write:
            return OrderOutcomeUnknown(f"timed out waiting for the answer ({what})")
        return ExchangeDown(FailureKind.TIMEOUT, what)
    if order_write:
        return OrderOutcomeUnknown(f"connection failed after sending ({what})")
    return ExchangeDown(FailureKind.NETWORK, what)


# -- helpers -------------------------------------------------------------------------------------

_UNDECODABLE: Any = object()


def _decode(body: str) -> Any:
    try:
        # Prices never pass through a binary float: numbers that are not integers stay exact.
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        return _UNDECODABLE


def _binance_error(decoded: Any) -> tuple[int | None, str | None]:
    """(code, msg) of Binance's error shape `{"code": -1121, "msg": "Invalid symbol."}`."""
    if not isinstance(decoded, dict):
        return None, None
    code, msg = decoded.get("code"), decoded.get("msg")
    msg = msg if isinstance(msg, str) else None
    if isinstance(code, int) and not isinstance(code, bool) and code < 0:
        return code, msg if msg is not None else ""
    return None, msg


def _retry_after_ms(headers: Mapping[str, str]) -> int | None:
    """Retry-After in seconds (the Spot docs' form); ignored when absent or not a number."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None
    if not 0 <= seconds < 10**7:  # also rejects NaN
        return None
    return round(seconds * 1000)


def _label(status: int, code: int | None, text: str) -> str:
    return f"HTTP {status}, {code}: {text}" if code is not None else f"HTTP {status}: {text}"


def _excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "…"
