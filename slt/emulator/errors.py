"""Binance error answers as data: codes, texts and HTTP statuses (BINANCE.md §1, §2, §6).

Texts follow Binance's where known; `%s` slots are filled per request. Binance's codes are
stable and its texts vary, so clients must branch on `code` (and on the 503 texts, which carry
the only distinction between an unknown and a failed outcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNKNOWN = -1000
DISCONNECTED = -1001
TOO_MANY_REQUESTS = -1003
THROTTLED = -1008
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
MANDATORY_PARAM = -1102
NOT_REQUIRED = -1106
BAD_PRECISION = -1111
INVALID_TIF = -1115
INVALID_ORDER_TYPE = -1116
INVALID_SIDE = -1117
INVALID_INTERVAL = -1120
INVALID_SYMBOL = -1121
INVALID_LISTEN_KEY = -1125
INVALID_PARAMETER = -1130
BAD_RECV_WINDOW = -1131
UNKNOWN_ORDER = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
MARGIN_TYPE_WITH_OPEN_ORDERS = -4047
MARGIN_TYPE_WITH_POSITION = -4048
INVALID_CLIENT_ID = -4015
DUPLICATE_CLIENT_ID = -4116
INVALID_DEPTH_LIMIT = -4021
NO_NEED_TO_CHANGE_POSITION_SIDE = -4059
POSITION_SIDE_NOT_MATCH = -4061
POSITION_SIDE_OPEN_ORDERS = -4067
POSITION_SIDE_POSITIONS = -4068
ASSET_MODE_ALREADY_SET = -4171
INVALID_CLOSE_POSITION = -4136
NO_NEED_TO_MODIFY = -5027
STOP_ORDER_SWITCH_ALGO = -4120
POST_ONLY_REJECT = -5022

MESSAGES: dict[int, str] = {
    NO_NEED_TO_CHANGE_MARGIN_TYPE: "No need to change margin type.",
    MARGIN_TYPE_WITH_OPEN_ORDERS: "Margin type cannot be changed if there exists open orders.",
    MARGIN_TYPE_WITH_POSITION: "Margin type cannot be changed if there exists position.",
    UNKNOWN: "An unknown error occurred while processing the request.",
    TOO_MANY_REQUESTS: "Too many requests; current limit of IP(%s) is %s requests per minute. "
    "Please use the websocket for live updates to avoid polling the API.",
    TOO_MANY_ORDERS: "Too many new orders; current limit is %s orders per %s.",
    INVALID_TIMESTAMP: "Timestamp for this request is outside of the recvWindow.",
    INVALID_SIGNATURE: "Signature for this request is not valid.",
    ILLEGAL_CHARS: "Illegal characters found in parameter '%s'; legal range is '%s'.",
    MANDATORY_PARAM: "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
    NOT_REQUIRED: "Parameter '%s' sent when not required.",
    BAD_PRECISION: "Precision is over the maximum defined for this asset.",
    INVALID_TIF: "Invalid timeInForce.",
    INVALID_ORDER_TYPE: "Invalid orderType.",
    INVALID_SIDE: "Invalid side.",
    INVALID_INTERVAL: "Invalid interval.",
    INVALID_SYMBOL: "Invalid symbol.",
    INVALID_LISTEN_KEY: "This listenKey does not exist.",
    INVALID_PARAMETER: "Data sent for parameter '%s' is not valid.",
    BAD_RECV_WINDOW: "recvWindow must be less than %s",
    UNKNOWN_ORDER: "Unknown order sent.",
    NO_SUCH_ORDER: "Order does not exist.",
    BAD_API_KEY_FMT: "API-key format invalid.",
    REJECTED_MBX_KEY: "Invalid API-key, IP, or permissions for action, request ip: %s",
    INVALID_CLIENT_ID: "Client order id is not valid.",
    DUPLICATE_CLIENT_ID: "ClientOrderId is duplicated.",
    INVALID_DEPTH_LIMIT: "Invalid depth limit.",
    POSITION_SIDE_NOT_MATCH: "Order's position side does not match user's setting.",
    NO_NEED_TO_CHANGE_POSITION_SIDE: "No need to change position side.",
    POSITION_SIDE_OPEN_ORDERS: "Position side cannot be changed if there exists open orders.",
    POSITION_SIDE_POSITIONS: "Position side cannot be changed if there exists position.",
    ASSET_MODE_ALREADY_SET: "Adjusted asset mode is currently set and does not need to be "
    "adjusted repeatedly.",
    NO_NEED_TO_MODIFY: "No need to modify the order.",
    # As third-party logs quote it (the error-code page lists only -4020's wording).
    INVALID_CLOSE_POSITION: "Target strategy invalid for orderType %s,closePosition true",
    STOP_ORDER_SWITCH_ALGO: "Order type not supported for this endpoint. Please use the Algo "
    "Order API endpoints instead.",
    POST_ONLY_REJECT: "Due to the order could not be executed as maker, the Post Only order "
    "will be rejected. The order will not be recorded in the order history",
}

# Key errors come back as 401 Unauthorized; every other refusal of a request as 400.
_STATUS: dict[int, int] = {BAD_API_KEY_FMT: 401, REJECTED_MBX_KEY: 401}


class ApiError(Exception):
    """A refusal the REST layer turns into Binance's `{"code", "msg"}` body."""

    def __init__(
        self,
        code: int,
        msg: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status if status is not None else _STATUS.get(code, 400)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def api_error(code: int, *args: object, status: int | None = None) -> ApiError:
    """The error `code` with Binance's text, its `%s` slots filled with `args`."""
    text = MESSAGES[code]
    return ApiError(code, text % args if args else text, status=status)


def missing(name: str) -> ApiError:
    return api_error(MANDATORY_PARAM, name)
