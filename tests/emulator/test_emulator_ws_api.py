"""The WebSocket API (/ws-fapi/v1): signed like REST, sorted parameters, one pipeline."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
import orjson

from slt.emulator import Failure
from slt.emulator.params import wire_text
from slt.emulator.ws_api import signature_payload

from emu_helpers import BTC, Client, async_test, quote, receive_json, running


def signed_params(client: Client, **params: Any) -> dict[str, Any]:
    params = {"apiKey": client.key, "timestamp": client.emulator.clock.now_ms(), **params}
    text = signature_payload({k: str(v) for k, v in params.items()})
    signature = hmac.new(client.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {**params, "signature": signature}


async def call(ws: aiohttp.ClientWebSocketResponse, ident: Any, method: str, **params: Any) -> Any:
    await ws.send_str(orjson.dumps({"id": ident, "method": method, "params": params}).decode())
    return await receive_json(ws)


def test_the_signature_covers_every_parameter_but_itself_sorted_by_name() -> None:
    params = {"symbol": "BTCUSDT", "apiKey": "k", "timestamp": "1", "signature": "x"}
    assert signature_payload(params) == "apiKey=k&symbol=BTCUSDT&timestamp=1"


@async_test
async def test_orders_are_placed_queried_and_cancelled_over_the_websocket_api() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        ws = await client.session.ws_connect(f"{emu.ws_url}/ws-fapi/v1")
        order = {"symbol": BTC, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": 0.01, "price": "49000.0", "newClientOrderId": "ws-1"}
        placed = await call(ws, "a", "order.place", **signed_params(client, **order))
        status = await call(
            ws, 7, "order.status", **signed_params(client, symbol=BTC, origClientOrderId="ws-1")
        )
        cancelled = await call(
            ws, "c", "order.cancel", **signed_params(client, symbol=BTC, orderId=1)
        )
        again = await call(ws, "d", "order.cancel", **signed_params(client, symbol=BTC, orderId=1))
    assert (placed["id"], placed["status"]) == ("a", 200)
    assert (placed["result"]["clientOrderId"], placed["result"]["origQty"]) == ("ws-1", "0.010")
    assert {r["rateLimitType"] for r in placed["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    orders_10s = next(r for r in placed["rateLimits"] if r["intervalNum"] == 10)
    assert orders_10s["count"] == 1
    assert (status["id"], status["result"]["status"]) == (7, "NEW")
    assert cancelled["result"]["status"] == "CANCELED"
    assert (again["status"], again["error"]["code"]) == (400, -2011)
    # In the ledger like REST requests, so "no order sent twice" holds across both.
    assert [(c.method, c.client_id, c.code) for c in emu.ledger.calls] == [
        ("POST", "ws-1", None),
        ("GET", "ws-1", None),
        ("DELETE", "", None),
        ("DELETE", "", -2011),
    ]


@async_test
async def test_bad_requests_get_error_frames_and_the_connection_stays() -> None:
    async with running() as (emu, client):
        ws = await client.session.ws_connect(f"{emu.ws_url}/ws-fapi/v1")
        forged = {**signed_params(client, symbol=BTC, orderId=1), "symbol": "ETHUSDT"}
        wrong = await call(ws, 1, "order.status", **forged)
        keyless = signed_params(client, symbol=BTC, orderId=1)
        del keyless["apiKey"]
        no_key = await call(ws, 2, "order.status", **keyless)
        unknown = await call(ws, 3, "order.teleport")
        await ws.send_str("{not json")
        garbage = await receive_json(ws)
        still = await call(ws, 4, "ticker.book", symbol=BTC)
    assert (wrong["status"], wrong["error"]["code"]) == (400, -1022)
    assert (no_key["status"], no_key["error"]["code"]) == (401, -2014)
    assert (unknown["id"], unknown["error"]["code"]) == (3, -1013)
    assert garbage["error"]["code"] == -1013
    assert (still["status"], still["result"]["symbol"]) == (200, BTC)


@async_test
async def test_rest_fault_switches_answer_websocket_api_requests_too() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        ws = await client.session.ws_connect(f"{emu.ws_url}/ws-fapi/v1")
        emu.faults.fail_next(after_execution=True, path="/fapi/v1/order")
        order = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.010",
                 "newClientOrderId": "ws-lost"}
        lost = await call(ws, 1, "order.place", **signed_params(client, **order))
        emu.faults.fail_next(failure=Failure.BAD_GATEWAY)
        gateway = await call(ws, 2, "ticker.book", symbol=BTC)
        found = await call(
            ws, 3, "order.status", **signed_params(client, symbol=BTC, origClientOrderId="ws-lost")
        )
    assert (lost["status"], lost["error"]["code"]) == (503, -1000)
    assert "Unknown error" in lost["error"]["msg"]
    assert (gateway["status"], gateway["error"]["code"]) == (502, -1000)
    assert found["result"]["status"] == "FILLED"  # it executed although the answer said 503


def test_json_numbers_become_plain_decimal_parameters() -> None:
    assert [wire_text(v) for v in (1e-05, 0.1, 43187, True, "x")] == [
        "0.00001", "0.1", "43187", "true", "x",
    ]
