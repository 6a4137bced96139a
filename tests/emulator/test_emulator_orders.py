"""Order lifecycles over REST with their user-stream events, in the order Binance sends them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Side

from emu_helpers import (
    BTC,
    CONFIG,
    Client,
    ManualClock,
    async_test,
    barrier,
    event_types,
    quote,
    receive_events,
    running,
)

ORDER = "/fapi/v1/order"
ALGO = "/fapi/v1/algoOrder"


async def user_stream(client: Client) -> aiohttp.ClientWebSocketResponse:
    key = await client.listen_key()
    return await client.session.ws_connect(f"{client.emulator.ws_url}/private/ws?listenKey={key}")


def market(side: str, qty: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": BTC,
        "side": side,
        "type": "MARKET",
        "quantity": qty,
        "newClientOrderId": cid,
        **extra,
    }


def limit(side: str, qty: str, price: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": BTC,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        "newClientOrderId": cid,
        **extra,
    }


def stop(side: str, trigger: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {
        "algoType": "CONDITIONAL",
        "symbol": BTC,
        "side": side,
        "type": "STOP_MARKET",
        "triggerPrice": trigger,
        "clientAlgoId": cid,
        **extra,
    }


@async_test
async def test_market_order_ack_then_new_trade_and_account_update() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        ws = await user_stream(client)
        ack = await client.ok("POST", ORDER, **market("BUY", "0.010", "m1"))
        # ACK (the default) shows the order as accepted, before it executed.
        assert (ack["status"], ack["executedQty"], ack["clientOrderId"]) == ("NEW", "0", "m1")
        new, trade, account = await receive_events(ws, 3)
        assert event_types([new, trade, account]) == [
            "ORDER_TRADE_UPDATE:NEW",
            "ORDER_TRADE_UPDATE:TRADE",
            "ACCOUNT_UPDATE",
        ]
        o = trade["o"]
        assert (o["X"], o["l"], o["z"], o["L"], o["ap"], o["m"]) == (
            "FILLED",
            "0.010",
            "0.010",
            "50000.1",
            "50000.1",
            False,
        )
        assert o["n"] == "0.25000050" and o["i"] == ack["orderId"] and o["t"] > 0
        # 0.010 * 50000.1 * 0.0005 taker fee = 0.2500005 off 10000
        assert account["a"]["B"] == [
            {"a": "USDT", "wb": "9999.74999950", "cw": "9999.74999950", "bc": "0"}
        ]
        assert account["a"]["P"][0]["pa"] == "0.010" and account["a"]["P"][0]["ep"] == "50000.1"
        got = await client.ok("GET", ORDER, symbol=BTC, origClientOrderId="m1")
        assert (got["status"], got["executedQty"], got["avgPrice"]) == (
            "FILLED",
            "0.010",
            "50000.1",
        )
        result = await client.ok(
            "POST", ORDER, **market("SELL", "0.004", "m2", newOrderRespType="RESULT")
        )
        assert (result["status"], result["executedQty"], result["avgPrice"]) == (
            "FILLED",
            "0.004",
            "50000",
        )
        assert [f.client_id for f in emulator.ledger.fills] == ["m1", "m2"]


@async_test
async def test_limit_order_rests_then_fills_as_maker_on_a_quote() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        ws = await user_stream(client)
        placed = await client.ok("POST", ORDER, **limit("BUY", "0.002", "49990.0", "l1"))
        assert placed["status"] == "NEW" and placed["price"] == "49990.0"
        assert event_types(await receive_events(ws, 1)) == ["ORDER_TRADE_UPDATE:NEW"]
        assert [o["clientOrderId"] for o in await client.ok("GET", "/fapi/v1/openOrders")] == ["l1"]
        assert await barrier(ws) == []  # nothing more until the market moves
        clock.advance(1_000)
        emulator.push_quote(quote(49_989.0, 49_990.0, ts_ms=clock.now_ms()))
        trade, account = await receive_events(ws, 2)
        assert event_types([trade, account]) == ["ORDER_TRADE_UPDATE:TRADE", "ACCOUNT_UPDATE"]
        assert (trade["o"]["m"], trade["o"]["L"], trade["o"]["X"]) == (True, "49990.0", "FILLED")
        assert trade["T"] == clock.now_ms()
        assert await client.ok("GET", "/fapi/v1/openOrders", symbol=BTC) == []


@async_test
async def test_conditional_types_on_the_order_endpoint_get_4120() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        for kind in ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TRAILING_STOP_MARKET"):
            status, _, body = await client.signed(
                "POST",
                ORDER,
                symbol=BTC,
                side="SELL",
                type=kind,
                quantity="0.001",
                stopPrice="49000",
                newClientOrderId=f"c-{kind}",
            )
            assert (status, body["code"]) == (400, -4120), kind
            assert "Algo Order" in body["msg"]
        assert emulator.exchange.fills == ()
        assert {c.code for c in emulator.ledger.calls} == {-4120}


@async_test
async def test_stop_algo_triggers_on_a_quote_and_reports_each_step() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        await client.ok("POST", ORDER, **market("BUY", "0.010", "entry"))
        ws = await user_stream(client)
        algo = await client.ok("POST", ALGO, **stop("SELL", "49500", "sl", closePosition="true"))
        assert (algo["algoStatus"], algo["orderType"], algo["actualOrderId"]) == (
            "NEW",
            "STOP_MARKET",
            "",
        )
        assert algo["triggerPrice"] == "49500.0" and algo["closePosition"] is True
        assert event_types(await receive_events(ws, 1)) == ["ALGO_UPDATE:NEW"]
        emulator.push_quote(quote(49_600.0, 49_600.1))
        assert await barrier(ws) == []  # not yet
        emulator.push_quote(quote(49_499.9, 49_500.0))
        events = await receive_events(ws, 5)
        assert event_types(events) == [
            "ALGO_UPDATE:TRIGGERED",
            "ORDER_TRADE_UPDATE:NEW",
            "ORDER_TRADE_UPDATE:TRADE",
            "ACCOUNT_UPDATE",
            "ALGO_UPDATE:FINISHED",
        ]
        triggered, new, trade, account, finished = events
        actual = triggered["o"]["ai"]
        assert actual and new["o"]["i"] == int(actual)
        assert (new["o"]["c"], new["o"]["o"], new["o"]["ot"], new["o"]["sp"]) == (
            "sl",
            "MARKET",
            "STOP_MARKET",
            "49500.0",
        )
        assert (trade["o"]["L"], trade["o"]["z"]) == ("49499.9", "0.010")
        assert account["a"]["P"][0]["pa"] == "0"
        assert (finished["o"]["aq"], finished["o"]["ap"]) == ("0.010", "49499.9")
        done = await client.ok("GET", ALGO, algoId=algo["algoId"])
        assert (done["algoStatus"], done["actualOrderId"]) == ("FINISHED", actual)
        child = await client.ok("GET", ORDER, symbol=BTC, orderId=int(actual))
        assert (child["status"], child["origType"], child["type"]) == (
            "FILLED",
            "STOP_MARKET",
            "MARKET",
        )
        assert await client.ok("GET", "/fapi/v1/openAlgoOrders") == []


@async_test
async def test_algo_orders_are_listed_cancelled_and_refused_when_already_crossed() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        await client.ok("POST", ORDER, **market("BUY", "0.010", "entry"))
        status, _, body = await client.signed("POST", ALGO, **stop("SELL", "50001", "now"))
        assert (status, body["code"]) == (400, -1102)  # quantity missing without closePosition
        status, _, body = await client.signed(
            "POST", ALGO, **stop("SELL", "50001", "now", quantity="0.010")
        )
        assert (status, body["code"]) == (400, -2021)
        tp = {
            **stop("SELL", "51000", "tp", quantity="0.010", reduceOnly="true"),
            "type": "TAKE_PROFIT_MARKET",
        }
        await client.ok("POST", ALGO, **tp)
        ws = await user_stream(client)
        listed = await client.ok("GET", "/fapi/v1/openAlgoOrders", symbol=BTC)
        assert [(a["clientAlgoId"], a["reduceOnly"]) for a in listed] == [("tp", True)]
        cancelled = await client.ok("DELETE", ALGO, clientAlgoId="tp")
        assert cancelled == {
            "algoId": listed[0]["algoId"],
            "clientAlgoId": "tp",
            "code": "200",
            "msg": "success",
        }
        assert event_types(await receive_events(ws, 1)) == ["ALGO_UPDATE:CANCELED"]
        status, _, body = await client.signed("DELETE", ALGO, clientAlgoId="tp")
        assert (status, body["code"]) == (400, -2011)
        status, _, body = await client.signed("GET", ALGO, clientAlgoId="never")
        assert (status, body["code"]) == (400, -2013)
        status, _, body = await client.signed(
            "POST", ALGO, **{**tp, "type": "TRAILING_STOP_MARKET"}
        )
        assert (status, body["code"]) == (400, -1116)


@async_test
async def test_reduce_only_is_refused_when_flat_and_knocked_out_once_flat() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        status, _, body = await client.signed(
            "POST", ORDER, **market("SELL", "0.010", "ro0", reduceOnly="true")
        )
        assert (status, body["code"]) == (400, -2022)
        await client.ok("POST", ORDER, **market("BUY", "0.010", "entry"))
        await client.ok(
            "POST", ORDER, **limit("SELL", "0.010", "51000.0", "ro1", reduceOnly="true")
        )
        ws = await user_stream(client)
        await client.ok("POST", ORDER, **market("SELL", "0.010", "exit"))
        events = await receive_events(ws, 4)
        assert event_types(events) == [
            "ORDER_TRADE_UPDATE:NEW",
            "ORDER_TRADE_UPDATE:TRADE",
            "ACCOUNT_UPDATE",
            "ORDER_TRADE_UPDATE:EXPIRED",
        ]
        expired = events[3]["o"]
        assert (expired["c"], expired["X"], expired["er"], expired["R"]) == (
            "ro1",
            "EXPIRED",
            "4",
            True,
        )


@async_test
async def test_cancel_and_query_by_client_id_or_order_id() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        placed = await client.ok("POST", ORDER, **limit("BUY", "0.001", "45000.0", "c1"))
        ws = await user_stream(client)
        by_id = await client.ok("GET", ORDER, symbol=BTC, orderId=placed["orderId"])
        assert by_id["clientOrderId"] == "c1"
        cancelled = await client.ok("DELETE", ORDER, symbol=BTC, origClientOrderId="c1")
        assert (cancelled["status"], cancelled["orderId"]) == ("CANCELED", placed["orderId"])
        assert event_types(await receive_events(ws, 1)) == ["ORDER_TRADE_UPDATE:CANCELED"]
        status, _, body = await client.signed("DELETE", ORDER, symbol=BTC, origClientOrderId="c1")
        assert (status, body["code"]) == (400, -2011)
        status, _, body = await client.signed("GET", ORDER, symbol=BTC, origClientOrderId="nope")
        assert (status, body["code"]) == (400, -2013)
        status, _, body = await client.signed("GET", ORDER, symbol=BTC)
        assert (status, body["code"]) == (400, -1102)
        await client.ok("POST", ORDER, **limit("BUY", "0.001", "45000.0", "c2"))
        await client.ok("POST", ORDER, **limit("BUY", "0.001", "45000.0", "c3"))
        done = await client.ok("DELETE", "/fapi/v1/allOpenOrders", symbol=BTC)
        assert done == {"code": 200, "msg": "The operation of cancel all open order is done."}
        assert await client.ok("GET", "/fapi/v1/openOrders") == []


@async_test
async def test_time_in_force_ioc_expires_and_gtx_refuses_to_take() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        ws = await user_stream(client)
        ioc = await client.ok(
            "POST",
            ORDER,
            **limit("BUY", "0.001", "49000.0", "ioc", timeInForce="IOC", newOrderRespType="RESULT"),
        )
        assert ioc["status"] == "EXPIRED"
        events = await receive_events(ws, 2)
        assert event_types(events) == ["ORDER_TRADE_UPDATE:NEW", "ORDER_TRADE_UPDATE:EXPIRED"]
        assert events[1]["o"]["er"] == "2"
        status, _, body = await client.signed(
            "POST", ORDER, **limit("BUY", "0.001", "50000.1", "gtx", timeInForce="GTX")
        )
        assert (status, body["code"]) == (400, -5022)


@async_test
async def test_parameter_checks() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        cases = {
            -1111: market("BUY", "0.0001", "p1"),
            -1100: market("BUY", "1e-3", "p2"),
            -1117: market("HOLD", "0.001", "p3"),
            -1116: {**market("BUY", "0.001", "p4"), "type": "ICEBERG"},
            -1121: {**market("BUY", "0.001", "p5"), "symbol": "NOPEUSDT"},
            -4015: market("BUY", "0.001", "not valid!"),
            -4061: market("BUY", "0.001", "p6", positionSide="LONG"),
            -1106: market("BUY", "0.001", "p7", price="50000"),
            -1115: limit("BUY", "0.001", "45000.0", "p8", timeInForce="GTD"),
        }
        for code, params in cases.items():
            status, _, body = await client.signed("POST", ORDER, **params)
            assert (status, body["code"]) == (400, code), (code, body)
        await client.ok("POST", ORDER, **market("BUY", "0.001", "twice"))
        status, _, body = await client.signed("POST", ORDER, **market("BUY", "0.001", "twice"))
        assert (status, body["code"]) == (400, -4116)
        assert emulator.ledger.sent_twice() == ["twice"]
        assert [c.code for c in emulator.ledger.placements("twice")] == [None, -4116]


@async_test
async def test_hedge_mode_switch() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        assert await client.ok("GET", "/fapi/v1/positionSide/dual") == {"dualSidePosition": False}
        emulator.dual_side_position = True
        assert await client.ok("GET", "/fapi/v1/positionSide/dual") == {"dualSidePosition": True}
        status, _, body = await client.signed("POST", ORDER, **market("BUY", "0.001", "h1"))
        assert (status, body["code"]) == (400, -4061)


@async_test
async def test_positions_balance_and_account_follow_the_fills() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        await client.ok("POST", "/fapi/v1/leverage", symbol=BTC, leverage=5)
        await client.ok("POST", ORDER, **market("SELL", "0.100", "short"))
        emulator.push_quote(quote(49_000.0, 49_000.2))
        risk = await client.ok("GET", "/fapi/v2/positionRisk", symbol=BTC)
        assert len(risk) == 1
        p = risk[0]
        # short 0.1 from 50000.0, marked at the mid 49000.1: +99.99
        assert (p["positionAmt"], p["entryPrice"], p["leverage"], p["unRealizedProfit"]) == (
            "-0.100",
            "50000",
            "5",
            "99.99000000",
        )
        v3 = await client.ok("GET", "/fapi/v3/positionRisk")
        assert [(x["symbol"], x["positionAmt"]) for x in v3] == [(BTC, "-0.100")]
        assert len(await client.ok("GET", "/fapi/v2/positionRisk")) == 2  # every symbol
        (balance,) = await client.ok("GET", "/fapi/v2/balance")
        assert balance["balance"] == "9997.50000000"  # 10000 - 0.1 * 50000 * 0.0005
        assert balance["crossUnPnl"] == "99.99000000"
        account = await client.ok("GET", "/fapi/v2/account")
        assert account["totalInitialMargin"] == "980.00200000"  # 0.1 * 49000.1 / 5
        assert [x["symbol"] for x in (await client.ok("GET", "/fapi/v3/account"))["positions"]] == [
            BTC
        ]
        status, _, body = await client.signed("POST", "/fapi/v1/leverage", symbol=BTC, leverage=500)
        assert (status, body["code"]) == (400, -4028)


@async_test
async def test_an_order_placed_on_the_engine_directly_shows_in_the_account_only() -> None:
    async with running() as (emulator, client):
        emulator.push_quote(quote(50_000.0, 50_000.1))
        ws = await user_stream(client)
        seed = OrderRequest("seed", BTC, Side.BUY, OrderType.MARKET, Decimal("0.010"))
        await emulator.exchange.place(seed)
        emulator.push_quote(quote(50_000.0, 50_000.2))
        (account,) = await barrier(ws)
        assert account["e"] == "ACCOUNT_UPDATE" and account["a"]["P"][0]["pa"] == "0.010"
        (risk,) = await client.ok("GET", "/fapi/v2/positionRisk", symbol=BTC)
        assert risk["positionAmt"] == "0.010"
