"""Request parameters, API key and HMAC signature checks, as Binance applies them (BINANCE.md §1).

`totalParams` is the raw query string followed by the raw body, with no `&` between them, each
without its `signature` parameter. The HMAC is compared on those bytes as sent, so a client that
signs something other than what it sends fails here as it would on Binance.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import parse_qsl

from slt.emulator import errors
from slt.emulator.errors import ApiError, api_error, missing

_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{1,128}")
_INTEGER = re.compile(r"-?[0-9]{1,19}")


class Security(StrEnum):
    NONE = "NONE"
    KEY = "KEY"  # USER_STREAM and MARKET_DATA: API key, no signature
    SIGNED = "SIGNED"  # TRADE and USER_DATA


_PUBLIC = (
    "/fapi/v1/ping",
    "/fapi/v1/time",
    "/fapi/v1/exchangeInfo",
    "/fapi/v1/klines",
    "/fapi/v1/depth",
    "/fapi/v1/ticker/bookTicker",
    "/fapi/v1/premiumIndex",
    "/fapi/v1/ticker/24hr",
    "/fapi/v1/ticker/price",
    "/fapi/v2/ticker/price",
    "/fapi/v1/markPriceKlines",
    "/fapi/v1/indexPriceKlines",
    "/fapi/v1/openInterest",
    "/fapi/v1/fundingRate",
    "/fapi/v1/fundingInfo",
    "/fapi/v1/aggTrades",
)
_SIGNED = (
    ("GET", "/fapi/v2/positionRisk"),
    ("GET", "/fapi/v3/positionRisk"),
    ("GET", "/fapi/v2/balance"),
    ("GET", "/fapi/v3/balance"),
    ("GET", "/fapi/v2/account"),
    ("GET", "/fapi/v3/account"),
    ("GET", "/fapi/v1/positionSide/dual"),
    ("POST", "/fapi/v1/leverage"),
    ("POST", "/fapi/v1/marginType"),
    ("POST", "/fapi/v1/order"),
    ("GET", "/fapi/v1/order"),
    ("DELETE", "/fapi/v1/order"),
    ("GET", "/fapi/v1/openOrders"),
    ("DELETE", "/fapi/v1/allOpenOrders"),
    ("POST", "/fapi/v1/algoOrder"),
    ("GET", "/fapi/v1/algoOrder"),
    ("DELETE", "/fapi/v1/algoOrder"),
    ("GET", "/fapi/v1/openAlgoOrders"),
    ("DELETE", "/fapi/v1/algoOpenOrders"),
    ("POST", "/fapi/v1/positionSide/dual"),
    ("GET", "/fapi/v1/multiAssetsMargin"),
    ("POST", "/fapi/v1/multiAssetsMargin"),
    ("GET", "/fapi/v1/leverageBracket"),
    ("GET", "/fapi/v1/symbolConfig"),
    ("GET", "/fapi/v1/commissionRate"),
    ("GET", "/fapi/v1/income"),
    ("POST", "/fapi/v1/order/test"),
    ("PUT", "/fapi/v1/order"),
    ("POST", "/fapi/v1/batchOrders"),
    ("DELETE", "/fapi/v1/batchOrders"),
    ("GET", "/fapi/v1/allOrders"),
    ("GET", "/fapi/v1/allAlgoOrders"),
    ("GET", "/fapi/v1/userTrades"),
    ("POST", "/fapi/v1/countdownCancelAll"),
)
SECURITY: dict[tuple[str, str], Security] = {
    **{("GET", path): Security.NONE for path in _PUBLIC},
    **dict.fromkeys(_SIGNED, Security.SIGNED),
    **{(method, "/fapi/v1/listenKey"): Security.KEY for method in ("POST", "PUT", "DELETE")},
}


def merged_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """Parameters of query string and form body; a name in both takes the query's value."""
    params = dict(parse_qsl(raw_body, keep_blank_values=True))
    params.update(parse_qsl(raw_query, keep_blank_values=True))
    return params


def sign(secret: str, total_params: str) -> str:
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def signature_payload(raw_query: str, raw_body: str) -> str:
    """`totalParams` of a request: query then body, each without its `signature=` part."""
    return _unsigned(raw_query) + _unsigned(raw_body)


def _unsigned(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))


def check_api_key(header: str | None, expected: str, peer: str) -> None:
    if not header or not _KEY_FORMAT.fullmatch(header):
        raise api_error(errors.BAD_API_KEY_FMT)
    if not hmac.compare_digest(header, expected):
        raise api_error(errors.REJECTED_MBX_KEY, peer)


def check_signed(
    params: Mapping[str, str],
    payload: str,
    *,
    secret: str,
    now_ms: int,
    recv_window_default: int,
    recv_window_max: int,
    max_ahead_ms: int,
) -> None:
    """Raise ApiError unless the request is signed with `secret` and its timestamp is fresh.

    Binance's rule: accept if `timestamp < serverTime + 1000` and
    `serverTime - timestamp <= recvWindow`.
    """
    timestamp = integer(params, "timestamp")
    window = integer(params, "recvWindow", default=recv_window_default)
    if not 0 < window <= recv_window_max:
        raise api_error(errors.BAD_RECV_WINDOW, recv_window_max)
    signature = params.get("signature")
    if not signature:
        raise missing("signature")
    if not hmac.compare_digest(sign(secret, payload), signature.lower()):
        raise api_error(errors.INVALID_SIGNATURE)
    if timestamp >= now_ms + max_ahead_ms:
        raise ApiError(
            errors.INVALID_TIMESTAMP,
            f"Timestamp for this request was {max_ahead_ms}ms ahead of the server's time.",
        )
    if now_ms - timestamp > window:
        raise api_error(errors.INVALID_TIMESTAMP)


def integer(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    """An integer parameter; mandatory unless a default is given."""
    text = params.get(name)
    if not text:
        if default is None:
            raise missing(name)
        return default
    if not _INTEGER.fullmatch(text):
        raise missing(name)
    return int(text)
