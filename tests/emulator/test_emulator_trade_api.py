"""Order endpoints beyond place/query/cancel: test orders, modify, batches, history, countdown
cancel, PERCENT_PRICE and closePosition."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson

from emu_helpers import (
    BTC,
    BTC_FILTERS,
    CONFIG,
    ManualClock,
    async_test,
    barrier,
    event_types,
    quote,
    running,
)

ORDER = "/fapi/v1/order"
BANDED = replace(
    CONFIG,
    filters={
        **CONFIG.filters,
        BTC: replace(BTC_FILTERS, percent_up=Decimal("1.05"), percent_down=Decimal("0.95")),
    },
)


def limit(side: str, qty: str, price: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": BTC,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        **extra,
    }


@async_test
async def test_percent_price_refuses_limits_outside_the_band_around_the_mark() -> None:
    async with running(BANDED) as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.2))  # mark = mid = 50000.1
        high = await client.signed("POST", ORDER, **limit("BUY", "0.010", "52505.2"))
        low = await client.signed("POST", ORDER, **limit("SELL", "0.010", "47495.0"))
        inside = await client.ok("POST", ORDER, **limit("BUY", "0.010", "47000.0"))
        tested = await client.signed("POST", ORDER + "/test", **limit("BUY", "0.010", "60000.0"))
    assert (high[0], high[2]["code"]) == (400, -4016)
    assert low[2]["code"] == -4024
    assert "47500.1" in low[2]["msg"]  # mark x 0.95, on the tick grid
    assert inside["status"] == "NEW"  # a buy far below the mark is not bounded
    assert tested[2]["code"] == -4016


@async_test
async def test_close_position_is_refused_on_the_order_endpoint() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        status, _, body = await client.signed(
            "POST", ORDER, symbol=BTC, side="SELL", type="MARKET", quantity="0.010",
            closePosition="true",
        )
        assert (status, body["code"]) == (400, -4136)
        assert body["msg"] == "Target strategy invalid for orderType MARKET,closePosition true"
        assert await client.ok("GET", "/fapi/v1/openOrders") == []
        assert emu.ledger.fills == []


@async_test
async def test_an_order_test_checks_everything_and_places_nothing() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        ok = await client.ok("POST", ORDER + "/test", **limit("BUY", "0.010", "49000.0"))
        precise = await client.signed("POST", ORDER + "/test", **limit("BUY", "0.0101", "1"))
        assert ok == {}
        assert precise[2]["code"] == -1111
        assert await client.ok("GET", "/fapi/v1/allOrders", symbol=BTC) == []


@async_test
async def test_a_modified_order_keeps_its_ids_and_fills_at_its_new_price() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        key = await client.listen_key()
        ws = await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey={key}")
        placed = await client.ok("POST", ORDER, **limit("BUY", "0.010", "49000.0"))
        same = await client.signed(
            "PUT", ORDER, symbol=BTC, orderId=placed["orderId"], side="BUY",
            quantity="0.010", price="49000.0",
        )
        flipped = await client.signed(
            "PUT", ORDER, symbol=BTC, orderId=placed["orderId"], side="SELL",
            quantity="0.010", price="51000.0",
        )
        modified = await client.ok(
            "PUT", ORDER, symbol=BTC, orderId=placed["orderId"], side="BUY",
            quantity="0.020", price="49500.0",
        )
        emu.push_quote(quote(49_400.0, 49_450.0))  # the ask crosses the new price
        events = await barrier(ws)
        final = await client.ok("GET", ORDER, symbol=BTC, orderId=placed["orderId"])
        trades = await client.ok("GET", "/fapi/v1/userTrades", symbol=BTC)
        gone = await client.signed(
            "PUT", ORDER, symbol=BTC, orderId=placed["orderId"], side="BUY",
            quantity="0.030", price="49500.0",
        )
    assert same[2]["code"] == -5027
    assert flipped[2]["code"] == -1130
    assert (modified["orderId"], modified["clientOrderId"]) == (
        placed["orderId"],
        placed["clientOrderId"],
    )
    assert (modified["origQty"], modified["price"]) == ("0.020", "49500.0")
    assert event_types(events) == [
        "ORDER_TRADE_UPDATE:NEW",
        "ORDER_TRADE_UPDATE:AMENDMENT",
        "ORDER_TRADE_UPDATE:TRADE",
        "ACCOUNT_UPDATE",
    ]
    assert (final["status"], final["executedQty"]) == ("FILLED", "0.020")
    assert [t["orderId"] for t in trades] == [placed["orderId"]]
    assert gone[2]["code"] == -2011


@async_test
async def test_batch_orders_answer_each_entry_on_its_own() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        batch = [
            limit("BUY", "0.010", "49000.0", newClientOrderId="b1"),
            limit("BUY", "0.0101", "49000.0"),  # too precise
            {**limit("SELL", "0.010", "51000.0"), "reduceOnly": True},  # JSON true
        ]
        status, headers, answers = await client.signed(
            "POST", "/fapi/v1/batchOrders", batchOrders=orjson.dumps(batch)
        )
        too_many = await client.signed(
            "POST", "/fapi/v1/batchOrders", batchOrders=orjson.dumps([batch[0]] * 6)
        )
        not_json = await client.signed("POST", "/fapi/v1/batchOrders", batchOrders="[{")
        cancelled = await client.ok(
            "DELETE", "/fapi/v1/batchOrders", symbol=BTC,
            origClientOrderIdList=orjson.dumps(["b1", "unknown"]),
        )
    assert status == 200
    # A batch counts 5 on the 10 s order counter and 1 on the minute counter (BINANCE.md §3).
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1M"]) == ("5", "1")
    assert answers[0]["clientOrderId"] == "b1" and answers[0]["status"] == "NEW"
    assert answers[1]["code"] == -1111
    assert answers[2]["code"] == -2022  # reduce-only with no position, as a single order
    assert too_many[2]["code"] == -1130
    assert not_json[2]["code"] == -1130
    assert cancelled[0]["status"] == "CANCELED" and cancelled[1]["code"] == -2011


@async_test
async def test_all_orders_and_all_algo_orders_keep_finished_ones() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        first = await client.ok("POST", ORDER, **limit("BUY", "0.010", "49000.0"))
        await client.ok("DELETE", ORDER, symbol=BTC, orderId=first["orderId"])
        second = await client.ok(
            "POST", ORDER, symbol=BTC, side="BUY", type="MARKET", quantity="0.010"
        )
        algo = await client.ok(
            "POST", "/fapi/v1/algoOrder", algoType="CONDITIONAL", symbol=BTC, side="SELL",
            type="STOP_MARKET", triggerPrice="45000", closePosition="true",
        )
        await client.ok("DELETE", "/fapi/v1/algoOrder", algoId=algo["algoId"])
        orders = await client.ok("GET", "/fapi/v1/allOrders", symbol=BTC)
        from_second = await client.ok(
            "GET", "/fapi/v1/allOrders", symbol=BTC, orderId=second["orderId"]
        )
        algos = await client.ok("GET", "/fapi/v1/allAlgoOrders", symbol=BTC)
    assert [(o["orderId"], o["status"]) for o in orders] == [
        (first["orderId"], "CANCELED"),
        (second["orderId"], "FILLED"),
    ]
    assert [o["orderId"] for o in from_second] == [second["orderId"]]
    assert [(a["algoId"], a["algoStatus"]) for a in algos] == [(algo["algoId"], "CANCELED")]


@async_test
async def test_countdown_cancels_the_symbols_open_orders_when_it_runs_out() -> None:
    clock = ManualClock()
    async with running(clock=clock) as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        order = await client.ok("POST", ORDER, **limit("BUY", "0.010", "49000.0"))
        armed = await client.ok(
            "POST", "/fapi/v1/countdownCancelAll", symbol=BTC, countdownTime=5_000
        )
        clock.advance(4_999)
        emu.push_quote(quote(50_000.0, 50_000.1, ts_ms=clock.now_ms()))
        still = await client.ok("GET", ORDER, symbol=BTC, orderId=order["orderId"])
        clock.advance(1)
        emu.push_quote(quote(50_000.0, 50_000.1, ts_ms=clock.now_ms()))
        after = await client.ok("GET", ORDER, symbol=BTC, orderId=order["orderId"])
        again = await client.ok("POST", ORDER, **limit("BUY", "0.010", "49000.0"))
        await client.ok("POST", "/fapi/v1/countdownCancelAll", symbol=BTC, countdownTime=5_000)
        await client.ok("POST", "/fapi/v1/countdownCancelAll", symbol=BTC, countdownTime=0)
        clock.advance(10_000)
        kept = await client.ok("GET", ORDER, symbol=BTC, orderId=again["orderId"])
    assert armed == {"symbol": BTC, "countdownTime": "5000"}
    assert still["status"] == "NEW"
    assert after["status"] == "CANCELED"
    assert kept["status"] == "NEW"  # countdown 0 switched it off


@async_test
async def test_a_modification_refused_by_the_engine_leaves_the_order_as_it_was() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        placed = await client.ok("POST", ORDER, **limit("BUY", "0.010", "49000.0"))
        status, _, refused = await client.signed(
            "PUT", ORDER, symbol=BTC, orderId=placed["orderId"], side="BUY",
            quantity="900", price="49000.0",  # far beyond the wallet's margin
        )
        kept = await client.ok("GET", ORDER, symbol=BTC, orderId=placed["orderId"])
        emu.push_quote(quote(48_900.0, 48_950.0))  # the original order still fills
        filled = await client.ok("GET", ORDER, symbol=BTC, orderId=placed["orderId"])
    assert (status, refused["code"]) == (400, -2019)
    assert (kept["status"], kept["origQty"], kept["price"]) == ("NEW", "0.010", "49000.0")
    assert (filled["status"], filled["executedQty"]) == ("FILLED", "0.010")
