"""The listenKey lifecycle and the user-data stream's routes, filters and expiry."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import orjson

from slt.domain.values import MINUTE_MS

from emu_helpers import (
    BTC,
    CONFIG,
    ManualClock,
    async_test,
    barrier,
    event_types,
    quote,
    receive_json,
    running,
)

KEY_PATH = "/fapi/v1/listenKey"
MARKET_BUY = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.001"}


@async_test
async def test_listen_key_is_reused_extended_closed_and_then_unknown() -> None:
    clock = ManualClock()
    async with running(replace(CONFIG, listen_key_ttl_ms=60 * MINUTE_MS), clock) as (_, client):
        key = await client.listen_key()
        assert len(key) == 64 and key.isalnum()
        clock.advance(59 * MINUTE_MS)
        assert await client.listen_key() == key  # POST again: the same key, extended
        clock.advance(59 * MINUTE_MS)
        status, _, body = await client.raw("PUT", KEY_PATH)
        assert (status, body) == (200, {"listenKey": key})
        clock.advance(59 * MINUTE_MS)
        status, _, body = await client.raw("DELETE", KEY_PATH)
        assert (status, body) == (200, {})
        status, _, body = await client.raw("PUT", KEY_PATH)
        assert (status, body["code"]) == (400, -1125)
        assert await client.listen_key() != key


@async_test
async def test_an_unrenewed_key_expires_with_an_event_and_nothing_after_it() -> None:
    clock = ManualClock()
    async with running(replace(CONFIG, listen_key_ttl_ms=60 * MINUTE_MS), clock) as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        key = await client.listen_key()
        ws = await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey={key}")
        await clock.wait_for_sleeper(clock.now_ms() + 60 * MINUTE_MS)
        clock.advance(60 * MINUTE_MS)
        expired = await receive_json(ws)
        assert expired == {"e": "listenKeyExpired", "E": clock.now_ms(), "listenKey": key}
        await client.ok("POST", "/fapi/v1/order", **MARKET_BUY)
        assert await barrier(ws) == []  # the order's events are not sent on the dead key
        status, _, body = await client.raw("PUT", KEY_PATH)
        assert (status, body["code"]) == (400, -1125)


@async_test
async def test_user_data_routes_and_event_filter() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        key = await client.listen_key()
        raw = await client.session.ws_connect(f"{emu.ws_url}/private/ws/{key}")
        legacy = await client.session.ws_connect(f"{emu.ws_url}/ws/{key}")
        combined = await client.session.ws_connect(f"{emu.ws_url}/private/stream?listenKey={key}")
        filtered = await client.session.ws_connect(
            f"{emu.ws_url}/private/ws?listenKey={key}&events=ACCOUNT_UPDATE"
        )
        subscribed = await client.session.ws_connect(f"{emu.ws_url}/private/stream")
        await subscribed.send_str(
            orjson.dumps({"method": "SUBSCRIBE", "params": [key], "id": 1}).decode()
        )
        assert await receive_json(subscribed) == {"result": None, "id": 1}
        await client.ok("POST", "/fapi/v1/order", **MARKET_BUY)
        expected = ["ORDER_TRADE_UPDATE:NEW", "ORDER_TRADE_UPDATE:TRADE", "ACCOUNT_UPDATE"]
        assert event_types(await barrier(raw)) == expected
        assert event_types(await barrier(legacy)) == expected
        wrapped = await barrier(combined)
        assert {m["stream"] for m in wrapped} == {key}
        assert event_types([m["data"] for m in wrapped]) == expected
        assert event_types([m["data"] for m in await barrier(subscribed)]) == expected
        assert event_types(await barrier(filtered)) == ["ACCOUNT_UPDATE"]


@async_test
async def test_connecting_with_an_unknown_key_is_refused() -> None:
    async with running() as (emu, client):
        try:
            await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey=nope")
        except aiohttp.WSServerHandshakeError as refused:
            assert refused.status == 400
        else:
            raise AssertionError("the handshake should have been refused")
