"""The WebSocket API (`/ws-fapi/v1`): REST requests as JSON frames on one connection.

A request `{"id": ..., "method": "order.place", "params": {...}}` runs the REST endpoint the
method stands for, through the same pipeline (limits, API key, signature, handler). The API key
travels in `params.apiKey`; the signature covers every other parameter except `signature`,
sorted by name and joined as `k=v&...` (BINANCE.md §1). The answer is
`{"id", "status", "result" | "error", "rateLimits"}`; an unknown method or a malformed frame
gets status 400 with code -1013 (INVALID_MESSAGE) or -1102. The REST fault switches
(fail_next, fail_share, throttles, bans) answer these requests too, by the REST path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from slt.emulator import errors
from slt.emulator.params import wire_text

INVALID_MESSAGE = -1013
WS_API_PATH = "/ws-fapi/v1"

METHODS: Mapping[str, tuple[str, str]] = {
    "order.place": ("POST", "/fapi/v1/order"),
    "order.modify": ("PUT", "/fapi/v1/order"),
    "order.cancel": ("DELETE", "/fapi/v1/order"),
    "order.status": ("GET", "/fapi/v1/order"),
    "algoOrder.place": ("POST", "/fapi/v1/algoOrder"),
    "algoOrder.cancel": ("DELETE", "/fapi/v1/algoOrder"),
    "account.balance": ("GET", "/fapi/v2/balance"),
    "v2/account.balance": ("GET", "/fapi/v3/balance"),
    "account.status": ("GET", "/fapi/v2/account"),
    "v2/account.status": ("GET", "/fapi/v3/account"),
    "account.position": ("GET", "/fapi/v2/positionRisk"),
    "v2/account.position": ("GET", "/fapi/v3/positionRisk"),
    "ticker.book": ("GET", "/fapi/v1/ticker/bookTicker"),
    "ticker.price": ("GET", "/fapi/v2/ticker/price"),
    "depth": ("GET", "/fapi/v1/depth"),
    "userDataStream.start": ("POST", "/fapi/v1/listenKey"),
    "userDataStream.ping": ("PUT", "/fapi/v1/listenKey"),
    "userDataStream.stop": ("DELETE", "/fapi/v1/listenKey"),
}

# (method, path), params, api key, signed text -> (body, HTTP status, Binance code or None)
Execute = Callable[[tuple[str, str], dict[str, str], str | None, str], tuple[Any, int, int | None]]
RateLimits = Callable[[], list[dict[str, Any]]]


def signature_payload(params: Mapping[str, str]) -> str:
    """What a WS API request is signed over: every parameter but `signature`, sorted."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def answer(frame: str | bytes, execute: Execute, rate_limits: RateLimits) -> dict[str, Any]:
    """The response frame to one request frame."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return _error(None, 400, INVALID_MESSAGE, "Malformed request: not JSON.", rate_limits)
    if not isinstance(msg, dict):
        return _error(None, 400, INVALID_MESSAGE, "Malformed request: not an object.", rate_limits)
    ident = msg.get("id")
    method = msg.get("method")
    key = METHODS.get(method) if isinstance(method, str) else None
    if key is None:
        return _error(ident, 400, INVALID_MESSAGE, f"Unknown method {method!r}.", rate_limits)
    raw = msg.get("params", {})
    if not isinstance(raw, dict):
        message = "'params' must be an object."
        return _error(ident, 400, errors.MANDATORY_PARAM, message, rate_limits)
    params = {str(k): wire_text(v) for k, v in raw.items()}
    signed = signature_payload(params)  # apiKey is signed too
    api_key = params.pop("apiKey", None)
    body, status, code = execute(key, params, api_key, signed)
    if code is not None:
        return _error(ident, status, code, body["msg"], rate_limits)
    return {"id": ident, "status": status, "result": body, "rateLimits": rate_limits()}


async def serve(
    request: web.Request, execute: Execute, rate_limits: RateLimits
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            await ws.send_str(orjson.dumps(answer(msg.data, execute, rate_limits)).decode())
    return ws


def _error(
    ident: Any, status: int, code: int, message: str, rate_limits: RateLimits
) -> dict[str, Any]:
    return {
        "id": ident,
        "status": status,
        "error": {"code": code, "msg": message},
        "rateLimits": rate_limits(),
    }
