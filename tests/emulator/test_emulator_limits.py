"""Request weights, the 429 -> 418 progression and the order-count limits (BINANCE.md §2-3)."""

from __future__ import annotations

import re
from dataclasses import replace

from slt.emulator import auth, limits, rest_account, rest_market, rest_trade

from emu_helpers import BTC, CONFIG, ManualClock, async_test, quote, running

WEIGHT = "X-MBX-USED-WEIGHT-1M"


def test_every_route_has_a_weight_and_a_security_type() -> None:
    routes = {**rest_market.ROUTES, **rest_account.ROUTES, **rest_trade.ROUTES}
    assert set(routes) == set(limits.WEIGHTS) == set(auth.SECURITY)


def test_weights_follow_the_parameters_as_binance_documents() -> None:
    w = limits.WEIGHTS
    assert [
        w[("GET", "/fapi/v1/klines")]({"limit": str(n)}) for n in (99, 100, 499, 1000, 1500)
    ] == [
        1,
        2,
        2,
        5,
        10,
    ]
    assert w[("GET", "/fapi/v1/klines")]({}) == 5  # default limit 500
    assert [w[("GET", "/fapi/v1/depth")]({"limit": str(n)}) for n in (5, 50, 100, 500, 1000)] == [
        2,
        2,
        5,
        10,
        20,
    ]
    assert w[("GET", "/fapi/v1/openOrders")]({"symbol": BTC}) == 1
    assert w[("GET", "/fapi/v1/openOrders")]({}) == 40
    assert w[("POST", "/fapi/v1/order")]({}) == 0


@async_test
async def test_every_answer_carries_the_used_weight_of_the_minute() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (_, client):
        _, headers, _ = await client.public("/fapi/v1/exchangeInfo")
        assert headers[WEIGHT] == "1"
        _, headers, _ = await client.public("/fapi/v1/depth", symbol=BTC)
        assert headers[WEIGHT] == "11"
        _, headers, _ = await client.signed("GET", "/fapi/v1/openOrders")
        assert headers[WEIGHT] == "51"
        _, headers, body = await client.public("/fapi/v1/depth", symbol="NOPE")
        assert (body["code"], headers[WEIGHT]) == (-1121, "61")  # refusals count too
        clock.advance(60_000)
        _, headers, _ = await client.public("/fapi/v1/time")
        assert headers[WEIGHT] == "1"  # a new minute


@async_test
async def test_over_the_limit_429_then_418_until_the_ban_ends() -> None:
    clock = ManualClock(1_767_225_600_000 + 50_000)  # 10 s before the minute ends
    async with running(replace(CONFIG, weight_limit=3), clock) as (_, client):
        for _ in range(3):
            status, _, _ = await client.public("/fapi/v1/time")
            assert status == 200
        status, headers, body = await client.public("/fapi/v1/time")
        assert (status, body["code"]) == (429, -1003)
        assert headers["Retry-After"] == "10"
        assert headers[WEIGHT] == "4"
        status, headers, body = await client.public("/fapi/v1/time")
        assert (status, body["code"]) == (418, -1003)
        match = re.search(r"banned until (\d+)", body["msg"])
        assert match is not None
        until = int(match.group(1))
        assert until == clock.now_ms() + 120_000
        assert headers["Retry-After"] == "120"
        clock.advance(119_999)
        status, _, _ = await client.public("/fapi/v1/time")
        assert status == 418
        clock.advance(1)
        status, _, _ = await client.public("/fapi/v1/time")
        assert status == 200


@async_test
async def test_a_second_offence_is_banned_twice_as_long() -> None:
    clock = ManualClock()
    async with running(replace(CONFIG, weight_limit=1), clock) as (_, client):
        for ban_ms in (120_000, 240_000):
            await client.public("/fapi/v1/time")
            status, _, _ = await client.public("/fapi/v1/time")
            assert status == 429
            status, _, body = await client.public("/fapi/v1/time")
            assert status == 418
            assert f"banned until {clock.now_ms() + ban_ms}" in body["msg"]
            clock.advance(ban_ms + 60_000)


@async_test
async def test_orders_count_per_10_seconds_and_per_minute() -> None:
    clock = ManualClock()
    config = replace(CONFIG, order_limit_10s=2, order_limit_1m=3)
    async with running(config, clock) as (emulator, client):
        emulator.push_quote(quote(50_000, 50_000.1))
        order = {
            "symbol": BTC,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.001",
            "price": "40000",
        }
        counts = []
        for i in range(3):
            status, headers, body = await client.signed(
                "POST", "/fapi/v1/order", newClientOrderId=f"o{i}", **order
            )
            counts.append((status, headers["X-MBX-ORDER-COUNT-10S"], headers[WEIGHT]))
        assert counts[:2] == [(200, "1", "0"), (200, "2", "0")]
        assert counts[2][0] == 429 and body["code"] == -1015
        clock.advance(10_000)
        status, headers, _ = await client.signed(
            "POST", "/fapi/v1/order", newClientOrderId="o3", **order
        )
        assert (status, headers["X-MBX-ORDER-COUNT-1M"]) == (200, "3")
        status, _, body = await client.signed(
            "POST", "/fapi/v1/order", newClientOrderId="o4", **order
        )
        assert (status, body["code"]) == (429, -1015)
        assert "1 MINUTE" in body["msg"]
        _, headers, _ = await client.signed("GET", "/fapi/v1/openOrders", symbol=BTC)
        assert "X-MBX-ORDER-COUNT-10S" not in headers
