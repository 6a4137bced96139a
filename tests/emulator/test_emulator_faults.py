"""Every fault switch, shown to do what it says."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from slt.emulator import Channel, Failure, Malformed

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

ORDER = "/fapi/v1/order"
BUY = {"symbol": BTC, "side": "BUY", "type": "MARKET", "quantity": "0.001"}


@async_test
async def test_drop_connections_abruptly_or_with_going_away() -> None:
    async with running() as (emu, client):
        abrupt = await client.session.ws_connect(f"{emu.ws_url}/public/ws/btcusdt@bookTicker")
        await emu.faults.drop_connections()
        msg = await abrupt.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE)
        assert abrupt.close_code != 1001
        gentle = await client.session.ws_connect(f"{emu.ws_url}/public/ws/btcusdt@bookTicker")
        await emu.faults.drop_connections(abrupt=False)
        msg = await gentle.receive(timeout=5)
        assert (msg.type, gentle.close_code) == (aiohttp.WSMsgType.CLOSE, 1001)


@async_test
async def test_silent_streams_send_nothing_but_stay_open() -> None:
    async with running() as (emu, client):
        ws = await client.session.ws_connect(f"{emu.ws_url}/public/ws/btcusdt@bookTicker")
        emu.faults.silent = True
        emu.push_quote(quote(50_000.0, 50_000.1))
        await ws.send_str(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
        emu.faults.silent = False
        emu.push_quote(quote(50_000.0, 50_000.2))
        first = await receive_json(ws)  # neither the quote nor the reply of the silent time
        assert (first["e"], first["u"]) == ("bookTicker", 2)
        assert not ws.closed


@async_test
async def test_rest_delay_holds_the_answer_on_the_clock() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emu, client):
        emu.faults.rest_delay_ms = 1_500
        answer = asyncio.ensure_future(client.public("/fapi/v1/ping"))
        await clock.wait_for_sleeper(clock.now_ms() + 1_500)
        assert not answer.done()
        clock.advance(1_500)
        status, _, _ = await answer
        assert status == 200


@async_test
async def test_fail_next_before_and_after_execution() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        emu.faults.fail_next(1, Failure.UNKNOWN, path=ORDER)
        status, _, body = await client.signed("GET", "/fapi/v2/balance")
        assert status == 200  # another path: untouched
        status, _, body = await client.signed("POST", ORDER, newClientOrderId="lost", **BUY)
        assert (status, body["code"]) == (503, -1000)
        assert body["msg"] == "Unknown error, please check your request or try again later."
        status, _, _ = await client.signed("GET", ORDER, symbol=BTC, origClientOrderId="lost")
        assert status == 400  # never executed
        emu.faults.fail_next(1, Failure.UNKNOWN, after_execution=True)
        status, _, _ = await client.signed("POST", ORDER, newClientOrderId="done", **BUY)
        assert status == 503
        got = await client.ok("GET", ORDER, symbol=BTC, origClientOrderId="done")
        assert got["status"] == "FILLED"  # executed although the answer said otherwise
        assert [f.client_id for f in emu.ledger.fills] == ["done"]
        assert [c.status for c in emu.ledger.placements("done")] == [503]


@async_test
async def test_each_5xx_variant() -> None:
    async with running() as (emu, client):
        for failure, status, code in (
            (Failure.UNAVAILABLE, 503, -1000),
            (Failure.INTERNAL, 503, -1001),
            (Failure.THROTTLED, 503, -1008),
        ):
            emu.faults.fail_next(1, failure)
            got_status, _, body = await client.public("/fapi/v1/time")
            assert (got_status, body["code"]) == (status, code), failure
        emu.faults.fail_next(1, Failure.BAD_GATEWAY)
        got_status, headers, body = await client.public("/fapi/v1/time")
        assert got_status == 502 and headers["Content-Type"].startswith("text/html")
        assert "502" in body


@async_test
async def test_fail_share_is_random_but_repeatable() -> None:
    async def pattern() -> list[int]:
        async with running() as (emu, client):
            emu.faults.fail_share(0.5, Failure.UNAVAILABLE, seed=7)
            statuses = [(await client.public("/fapi/v1/time"))[0] for _ in range(20)]
            emu.faults.fail_share(0)
            assert (await client.public("/fapi/v1/time"))[0] == 200
            return statuses

    first = await pattern()
    assert set(first) == {200, 503}
    assert await pattern() == first


@async_test
async def test_throttle_burst_answers_429_without_banning() -> None:
    async with running() as (emu, client):
        emu.faults.throttle_next(2, retry_after_s=3)
        for _ in range(2):
            status, headers, body = await client.public("/fapi/v1/time")
            assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "3")
        assert (await client.public("/fapi/v1/time"))[0] == 200


@async_test
async def test_ban_answers_418_for_the_time_given() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emu, client):
        emu.faults.ban(30_000)
        status, headers, body = await client.public("/fapi/v1/time")
        assert (status, headers["Retry-After"]) == (418, "30")
        assert f"banned until {clock.now_ms() + 30_000}" in body["msg"]
        clock.advance(30_000)
        assert (await client.public("/fapi/v1/time"))[0] == 200


@async_test
async def test_malformed_market_messages() -> None:
    async with running() as (emu, client):
        ws = await client.session.ws_connect(f"{emu.ws_url}/public/ws/btcusdt@bookTicker")
        for kind in Malformed:
            emu.faults.malform_next(kind)
            emu.push_quote(quote(50_000.0, 50_000.1))
        emu.push_quote(quote(50_000.0, 50_000.2))
        texts = []
        for _ in range(6):
            msg = await ws.receive(timeout=5)
            texts.append(msg.data)
        truncated, wrong, nan, unknown, real, clean = texts
        try:
            orjson.loads(truncated)
        except orjson.JSONDecodeError:
            pass
        else:
            raise AssertionError("a truncated message should not parse")
        wrong_types = orjson.loads(wrong)
        assert isinstance(wrong_types["b"], float) and isinstance(wrong_types["u"], str)
        assert orjson.loads(nan)["b"] == "NaN" and orjson.loads(nan)["a"] == "NaN"
        assert orjson.loads(unknown)["e"] == "EMULATOR_UNKNOWN_EVENT"
        assert orjson.loads(real)["e"] == "bookTicker"  # the unknown event comes on top
        assert orjson.loads(clean)["a"] == "50000.2"


@async_test
async def test_malformed_user_events_and_duplicates() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        key = await client.listen_key()
        ws = await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey={key}")
        emu.faults.malform_next(Malformed.NAN, channel=Channel.USER)
        emu.faults.duplicate_next_user_event()
        await client.ok("POST", ORDER, **BUY)
        new, new_again, trade, account = await barrier(ws)
        assert new == new_again and new["o"]["q"] == "NaN"
        assert event_types([trade, account]) == ["ORDER_TRADE_UPDATE:TRADE", "ACCOUNT_UPDATE"]


@async_test
async def test_expire_listen_key_now() -> None:
    async with running() as (emu, client):
        key = await client.listen_key()
        ws = await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey={key}")
        emu.faults.expire_listen_key()
        assert (await receive_json(ws))["e"] == "listenKeyExpired"
        status, _, body = await client.raw("PUT", "/fapi/v1/listenKey")
        assert (status, body["code"]) == (400, -1125)
