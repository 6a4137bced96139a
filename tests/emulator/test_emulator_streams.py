"""Market streams: routes, raw and combined forms, live subscriptions, limits, heartbeat."""

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
    quote,
    receive_json,
    running,
)


async def send(
    ws: aiohttp.ClientWebSocketResponse, method: str, ident: int, *params: object
) -> None:
    body: dict[str, object] = {"method": method, "id": ident}
    if params:
        body["params"] = list(params)
    await ws.send_str(orjson.dumps(body).decode())


@async_test
async def test_combined_stream_subscribe_list_unsubscribe() -> None:
    async with running() as (emulator, client):
        ws = await client.session.ws_connect(
            f"{emulator.ws_url}/public/stream?streams=btcusdt@bookTicker"
        )
        emulator.push_quote(quote(50_000.0, 50_000.1))
        msg = await receive_json(ws)
        assert msg["stream"] == "btcusdt@bookTicker"
        assert msg["data"] == {
            "e": "bookTicker",
            "u": 1,
            "s": BTC,
            "b": "50000.0",
            "B": "1.500",
            "a": "50000.1",
            "A": "2.500",
            "T": emulator.clock.now_ms(),
            "E": emulator.clock.now_ms(),
            "st": 1,
            "ps": BTC,
        }
        await send(ws, "SUBSCRIBE", 1, "ethusdt@bookTicker")
        assert await receive_json(ws) == {"result": None, "id": 1}
        await send(ws, "LIST_SUBSCRIPTIONS", 2)
        assert await receive_json(ws) == {
            "result": ["btcusdt@bookTicker", "ethusdt@bookTicker"],
            "id": 2,
        }
        emulator.push_quote(quote(3_000.0, 3_000.01, symbol="ETHUSDT"))
        assert (await receive_json(ws))["data"]["s"] == "ETHUSDT"
        await send(ws, "UNSUBSCRIBE", 3, "btcusdt@bookTicker")
        assert await receive_json(ws) == {"result": None, "id": 3}
        emulator.push_quote(quote(50_001.0, 50_001.1))
        assert await barrier(ws) == []


@async_test
async def test_raw_stream_sends_bare_payloads_and_set_property_wraps_them() -> None:
    async with running() as (emulator, client):
        ws = await client.session.ws_connect(f"{emulator.ws_url}/public/ws/btcusdt@bookTicker")
        emulator.push_quote(quote(50_000.0, 50_000.1))
        assert (await receive_json(ws))["e"] == "bookTicker"
        await send(ws, "SET_PROPERTY", 1, "combined", True)
        assert await receive_json(ws) == {"result": None, "id": 1}
        await send(ws, "GET_PROPERTY", 2, "combined")
        assert await receive_json(ws) == {"result": True, "id": 2}
        emulator.push_quote(quote(50_000.0, 50_000.2))
        assert (await receive_json(ws))["stream"] == "btcusdt@bookTicker"


@async_test
async def test_each_route_delivers_only_its_own_streams() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emulator, client):
        streams = "btcusdt@bookTicker/btcusdt@markPrice@1s/btcusdt@kline_1m"
        public = await client.session.ws_connect(
            f"{emulator.ws_url}/public/stream?streams={streams}"
        )
        market = await client.session.ws_connect(
            f"{emulator.ws_url}/market/stream?streams={streams}"
        )
        legacy = await client.session.ws_connect(f"{emulator.ws_url}/stream?streams={streams}")
        emulator.push_quote(quote(50_000.0, 50_000.2, ts_ms=clock.now_ms()))
        assert [m["stream"] for m in await barrier(public)] == ["btcusdt@bookTicker"]
        assert [m["stream"] for m in await barrier(legacy)] == ["btcusdt@bookTicker"]
        kline, mark = await barrier(market)
        assert mark["data"] == {
            "e": "markPriceUpdate",
            "E": clock.now_ms(),
            "s": BTC,
            "p": "50000.10000000",
            "ap": "50000.10000000",
            "i": "50000.10000000",
            "P": "50000.10000000",
            "r": "0.00010000",
            "T": clock.now_ms() + 8 * 60 * MINUTE_MS,
            "st": 1,
        }
        k = kline["data"]["k"]
        assert (k["t"], k["T"], k["i"], k["o"], k["c"], k["x"]) == (
            clock.now_ms(),
            clock.now_ms() + MINUTE_MS - 1,
            "1m",
            "50000.1",
            "50000.1",
            False,
        )
        clock.advance(500)
        emulator.push_quote(quote(50_010.0, 50_010.2, ts_ms=clock.now_ms()))
        assert [m["stream"] for m in await barrier(market)] == ["btcusdt@kline_1m"]  # mark: 1 s
        clock.advance(MINUTE_MS)
        emulator.push_quote(quote(50_020.0, 50_020.2, ts_ms=clock.now_ms()))
        closed, opened, mark = await barrier(market)
        assert mark["stream"] == "btcusdt@markPrice@1s"
        assert (closed["data"]["k"]["x"], closed["data"]["k"]["c"]) == (True, "50010.1")
        assert (opened["data"]["k"]["x"], opened["data"]["k"]["o"]) == (False, "50020.1")


@async_test
async def test_bad_requests_get_error_replies() -> None:
    async with running(replace(CONFIG, ws_max_streams=2)) as (emulator, client):
        ws = await client.session.ws_connect(f"{emulator.ws_url}/public/ws/btcusdt@bookTicker")
        await ws.send_str("{not json")
        assert (await receive_json(ws))["code"] == 3
        await send(ws, "SUBSCRIBE", -1, "ethusdt@bookTicker")
        assert (await receive_json(ws))["code"] == 2
        await send(ws, "SUBSCRIBE", 1, "ethusdt@bookTicker", "bnbusdt@bookTicker")
        reply = await receive_json(ws)
        assert (reply["code"], reply["id"]) == (2, 1)
        assert "at most 2 streams" in reply["msg"]
        await send(ws, "SUBSCRIBE", 2, "BTCUSDT@bookTicker")
        assert (await receive_json(ws))["code"] == 2
        await send(ws, "FLY", 3, "x")
        assert (await receive_json(ws))["code"] == 2
        for url in ("/public/ws/a@b/c@d/e@f", "/public/stream?streams=Bad@Name"):
            async with client.session.get(emulator.rest_url + url) as r:
                assert (r.status, (await r.json())["code"]) == (400, 2), url


@async_test
async def test_more_than_ten_messages_a_second_closes_the_connection() -> None:
    clock = ManualClock()
    async with running(replace(CONFIG, ws_max_incoming_per_s=10), clock) as (emulator, client):
        ws = await client.session.ws_connect(f"{emulator.ws_url}/public/ws")
        for i in range(10):
            await send(ws, "LIST_SUBSCRIPTIONS", i)
            assert (await receive_json(ws))["id"] == i
        clock.advance(1_000)
        for i in range(10):
            await send(ws, "LIST_SUBSCRIPTIONS", i)
            assert (await receive_json(ws))["id"] == i
        await send(ws, "LIST_SUBSCRIPTIONS", 10)
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1008


@async_test
async def test_the_server_pings_and_drops_a_client_that_never_pongs() -> None:
    async with running(replace(CONFIG, ws_heartbeat_s=0.05)) as (emulator, client):
        ws = await client.session.ws_connect(f"{emulator.ws_url}/public/ws", autoping=False)
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.PING
        while msg.type is aiohttp.WSMsgType.PING:
            msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert emulator.streams.connections == 0 or ws.closed


@async_test
async def test_all_book_tickers_stream() -> None:
    async with running() as (emulator, client):
        ws = await client.session.ws_connect(f"{emulator.ws_url}/public/ws/!bookTicker")
        emulator.push_quote(quote(50_000.0, 50_000.1))
        emulator.push_quote(quote(3_000.0, 3_000.01, symbol="ETHUSDT"))
        assert [m["s"] for m in await barrier(ws)] == [BTC, "ETHUSDT"]
