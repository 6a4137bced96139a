"""BinanceGateway and BinanceHistory end to end, against a local HTTP server answering recorded
payloads and scripted errors."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal
from typing import Any

import pytest

from slt.adapters.binance.common.errors import AuthError, MalformedResponse
from slt.adapters.binance.common.weights import BALANCE_V3, POSITION_RISK_V3
from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.history import BinanceHistory
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.credentials import Credentials
from slt.domain.breaker import FailureKind
from slt.domain.orders import Fill, OrderRequest, OrderStatus, OrderType
from slt.domain.values import Balance, Bar, ExchangePosition, Side
from slt.ports.order_gateway import (
    ExchangeDown,
    GatewayError,
    GatewayUnavailable,
    OrderOutcomeUnknown,
    OrderRejected,
)

from test_rest_support import (
    API_KEY,
    LOCAL_MS,
    SERVER_AHEAD_MS,
    BinanceStub,
    Reply,
    error,
    payload,
    stub_client,
    stub_gateway,
)

ORDER = "thirdparty_handwritten/order__NEW_LIMIT__nautilus-handwritten.json"
ALGO = "docs/algoOrder_new__docs-example.json"


def order_body(client_id: str, **changes: Any) -> dict[str, Any]:
    body = payload(ORDER)
    body.update(clientOrderId=client_id, **changes)
    return body


def algo_body(client_id: str, **changes: Any) -> dict[str, Any]:
    body = payload(ALGO)
    body.update(clientAlgoId=client_id, **changes)
    return body


def market(client_id: str = "slt1-e", *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(client_id, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.0100"),
                        reduce_only=reduce_only)


def stop(client_id: str = "slt1-s") -> OrderRequest:
    return OrderRequest(client_id, "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, Decimal("0.010"),
                        stop_price=Decimal("58000.50"), reduce_only=True)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- placing -------------------------------------------------------------------------------------


def test_market_order_goes_to_the_matching_engine_with_our_client_id() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", Reply(body=order_body(
            "slt1-x1", status="FILLED", type="MARKET", executedQty="0.010",
            avgPrice="50001.20", reduceOnly=True)))
        async with stub_gateway(stub) as gateway:
            state = await gateway.place(market("slt1-x1", reduce_only=True))
        assert state.status is OrderStatus.FILLED
        assert (state.filled_qty, state.avg_price) == (Decimal("0.010"), Decimal("50001.20"))
        (seen,) = stub.requests("POST", "/fapi/v1/order")
        params = seen.params
        assert {k: params[k] for k in ("symbol", "side", "type", "quantity", "reduceOnly",
                                       "newClientOrderId", "newOrderRespType")} == {
            "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
            "reduceOnly": "true", "newClientOrderId": "slt1-x1", "newOrderRespType": "RESULT"}
        assert "price" not in params and "timeInForce" not in params

    run(main())


def test_limit_order_sends_a_plain_price_and_gtc() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", Reply(body=order_body("L1")))
        async with stub_gateway(stub) as gateway:
            state = await gateway.place(OrderRequest(
                "L1", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("1E-3"), Decimal("5.0E+4")))
        assert state.status is OrderStatus.NEW and state.exchange_id == "12345678"
        params = stub.requests("POST", "/fapi/v1/order")[0].params
        assert (params["quantity"], params["price"], params["timeInForce"]) == (
            "0.001", "50000", "GTC")
        assert "reduceOnly" not in params

    run(main())


def test_stop_market_goes_to_the_algo_service() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/algoOrder", Reply(body=algo_body(
            "slt1-s", orderType="STOP_MARKET", symbol="BTCUSDT", triggerPrice="58000.50")))
        async with stub_gateway(stub) as gateway:
            state = await gateway.place(stop())
        assert state.status is OrderStatus.NEW and state.exchange_id == "2146760"
        params = stub.requests("POST", "/fapi/v1/algoOrder")[0].params
        assert {k: params[k] for k in ("algoType", "symbol", "side", "type", "quantity",
                                       "triggerPrice", "reduceOnly", "clientAlgoId",
                                       "workingType")} == {
            "algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
            "type": "STOP_MARKET", "quantity": "0.01", "triggerPrice": "58000.5",
            "reduceOnly": "true", "clientAlgoId": "slt1-s", "workingType": "CONTRACT_PRICE"}
        assert not stub.requests("POST", "/fapi/v1/order")

    run(main())


def test_take_profit_market_with_mark_price_trigger() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/algoOrder", Reply(body=algo_body("tp1")))
        async with stub_client(stub) as client:
            gateway = BinanceGateway(client, working_type="MARK_PRICE")
            await gateway.place(OrderRequest("tp1", "BTCUSDT", Side.SELL,
                                             OrderType.TAKE_PROFIT_MARKET, Decimal(1),
                                             stop_price=Decimal(70000), reduce_only=True))
        params = stub.requests("POST", "/fapi/v1/algoOrder")[0].params
        assert (params["type"], params["workingType"]) == ("TAKE_PROFIT_MARKET", "MARK_PRICE")

    run(main())


@pytest.mark.parametrize(
    "request_",
    [
        OrderRequest("x", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(1)),
        OrderRequest("x", "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, Decimal(1)),
    ],
    ids=["limit without price", "stop without trigger"],
)
def test_an_incomplete_order_is_refused_without_sending(request_: OrderRequest) -> None:
    async def main() -> None:
        stub = BinanceStub()
        async with stub_gateway(stub) as gateway:
            with pytest.raises(OrderRejected) as raised:
                await gateway.place(request_)
        assert raised.value.code == -1102
        assert all(s.method == "GET" for s in stub.seen)

    run(main())


def test_business_rejection_is_raised_once_and_nothing_is_resent() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", error(-2019, "Margin is insufficient."))
        async with stub_gateway(stub) as gateway:
            with pytest.raises(OrderRejected) as raised:
                await gateway.place(market())
        assert (raised.value.code, raised.value.failure) == (-2019, None)
        assert len(stub.requests("POST", "/fapi/v1/order")) == 1

    run(main())


@pytest.mark.parametrize(
    "reply",
    [
        error(-1000, "Unknown error, please check your request or try again later.", status=503),
        error(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                     "execution status unknown.", status=408),
        Reply(status=502, raw="<html><body><h1>502 Bad Gateway</h1></body></html>"),
        Reply(raw='{"orderId": 12345678, "symbol": "BTCUSDT", "sta'),  # 200, truncated
        Reply(body={"orderId": 1}),  # 200, not an order
        Reply(body=order_body("someone-else")),  # an answer about another order
        Reply(drop=True),
    ],
    ids=["503 unknown", "-1007", "502 html", "truncated", "wrong shape", "other client id",
         "dropped connection"],
)
def test_an_ambiguous_order_write_is_outcome_unknown_and_never_resent(reply: Reply) -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", reply)
        stub.always("POST", "/fapi/v1/order", Reply(body=order_body("slt1-e")))
        async with stub_gateway(stub) as gateway:
            with pytest.raises(OrderOutcomeUnknown):
                await gateway.place(market())
        assert len(stub.requests("POST", "/fapi/v1/order")) == 1

    run(main())


def test_a_definite_server_failure_on_an_order_write_is_exchange_down() -> None:
    async def main() -> None:
        stub = BinanceStub()
        unavailable = Reply(status=503, body={"msg": "Service Unavailable."})
        stub.queue("POST", "/fapi/v1/order", unavailable)
        async with stub_gateway(stub) as gateway:
            with pytest.raises(ExchangeDown) as raised:
                await gateway.place(market())
        assert raised.value.failure is FailureKind.SERVER_5XX

    run(main())


def test_timeouts_unknown_for_writes_exchange_down_for_reads() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.always("POST", "/fapi/v1/order", Reply(hang=True))
        stub.always("GET", "/fapi/v1/premiumIndex", Reply(hang=True))
        async with stub_gateway(stub, read_timeout_s=0.1, total_timeout_s=5) as gateway:
            with pytest.raises(OrderOutcomeUnknown):
                await gateway.place(market())
            with pytest.raises(ExchangeDown) as raised:
                await gateway.premium_index("BTCUSDT")
        assert raised.value.failure is FailureKind.TIMEOUT

    run(main())


def test_an_unreachable_exchange_is_exchange_down_even_for_writes() -> None:
    async def main() -> None:
        with socket.socket() as probe:  # a port with nothing listening on it
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        clock = SimulatedClock(LOCAL_MS)
        config = RestConfig(base_url=f"http://127.0.0.1:{port}")
        async with BinanceHttpClient(config, clock, Credentials(API_KEY, "s")) as client:
            gateway = BinanceGateway(client)
            with pytest.raises(ExchangeDown) as read:
                await gateway.book_tickers()
            # (Here the time sync before the write is what fails; the write's own transport
            # failures are mapped in test_rest_errors.)
            with pytest.raises(ExchangeDown) as write:
                await gateway.place(market())
        assert read.value.failure is write.value.failure is FailureKind.NETWORK

    run(main())


# -- cancelling and querying -----------------------------------------------------------------------


def test_cancel_uses_the_service_the_order_went_to() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", Reply(body=order_body("L1")))
        stub.queue("POST", "/fapi/v1/algoOrder", Reply(body=algo_body("slt1-s")))
        stub.queue("DELETE", "/fapi/v1/order", Reply(body=order_body("L1", status="CANCELED")))
        stub.queue("DELETE", "/fapi/v1/algoOrder", Reply(body=payload(
            "docs/algoOrder_cancel__docs-example.json") | {"clientAlgoId": "slt1-s"}))
        async with stub_gateway(stub) as gateway:
            await gateway.place(OrderRequest("L1", "BTCUSDT", Side.BUY, OrderType.LIMIT,
                                             Decimal(1), Decimal(100)))
            await gateway.place(stop())
            limit = await gateway.cancel("BTCUSDT", "L1")
            conditional = await gateway.cancel("BTCUSDT", "slt1-s")
        assert limit.status is conditional.status is OrderStatus.CANCELED
        assert conditional.client_id == "slt1-s" and conditional.symbol == "BTCUSDT"
        assert stub.requests("DELETE", "/fapi/v1/order")[0].params["origClientOrderId"] == "L1"
        assert stub.requests("DELETE", "/fapi/v1/algoOrder")[0].params["clientAlgoId"] == "slt1-s"

    run(main())


def test_cancel_of_an_id_never_seen_tries_the_engine_then_the_algo_service() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.always("DELETE", "/fapi/v1/order", error(-2011, "Unknown order sent."))
        stub.queue("DELETE", "/fapi/v1/algoOrder", Reply(body=payload(
            "docs/algoOrder_cancel__docs-example.json") | {"clientAlgoId": "old-s"}))
        stub.queue("DELETE", "/fapi/v1/algoOrder", error(-2011, "Unknown order sent."))
        async with stub_gateway(stub) as gateway:
            state = await gateway.cancel("BTCUSDT", "old-s")
            assert state.status is OrderStatus.CANCELED
            with pytest.raises(OrderRejected) as raised:
                await gateway.cancel("BTCUSDT", "nobody")
        assert raised.value.code == -2011  # the port's "unknown or already final"

    run(main())


def test_cancel_of_a_known_engine_order_does_not_try_the_algo_service() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", Reply(body=order_body("slt1-e", status="FILLED")))
        stub.queue("DELETE", "/fapi/v1/order", error(-2011, "Unknown order sent."))
        async with stub_gateway(stub) as gateway:
            await gateway.place(market())
            with pytest.raises(OrderRejected):
                await gateway.cancel("BTCUSDT", "slt1-e")
        assert not stub.requests("DELETE", "/fapi/v1/algoOrder")

    run(main())


def test_query_returns_none_for_an_order_neither_service_knows() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/order", error(-2013, "Order does not exist."))
        stub.queue("GET", "/fapi/v1/algoOrder", error(-2013, "Order does not exist."))
        async with stub_gateway(stub) as gateway:
            assert await gateway.query("BTCUSDT", "ghost") is None
        assert stub.requests("GET", "/fapi/v1/order")[0].params["origClientOrderId"] == "ghost"
        assert stub.requests("GET", "/fapi/v1/algoOrder")[0].params["clientAlgoId"] == "ghost"

    run(main())


def test_query_after_an_unknown_outcome_finds_the_order() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", Reply(drop=True))
        stub.queue("GET", "/fapi/v1/order", Reply(body=order_body(
            "slt1-e", status="FILLED", executedQty="0.010", avgPrice="50000.10")))
        async with stub_gateway(stub) as gateway:
            with pytest.raises(OrderOutcomeUnknown):
                await gateway.place(market())
            state = await gateway.query("BTCUSDT", "slt1-e")
        assert state is not None and state.status is OrderStatus.FILLED
        assert not stub.requests("GET", "/fapi/v1/algoOrder")  # it is known to be an engine id

    run(main())


def test_query_of_a_known_engine_order_that_is_gone_is_none_without_asking_the_algo_service(
) -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", Reply(drop=True))
        stub.queue("GET", "/fapi/v1/order", error(-2013, "Order does not exist."))
        async with stub_gateway(stub) as gateway:
            with pytest.raises(OrderOutcomeUnknown):
                await gateway.place(market())
            assert await gateway.query("BTCUSDT", "slt1-e") is None
        assert not stub.requests("GET", "/fapi/v1/algoOrder")

    run(main())


def test_query_of_a_triggered_algo_order_follows_its_engine_order() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/algoOrder", Reply(body=algo_body("slt1-s")))
        stub.queue("GET", "/fapi/v1/algoOrder", Reply(body=algo_body(
            "slt1-s", symbol="BTCUSDT", algoStatus="FINISHED", actualOrderId="777")))
        stub.queue("GET", "/fapi/v1/order", Reply(body=order_body(
            "autoclose-777", orderId=777, status="FILLED", executedQty="0.010",
            avgPrice="57990.00")))
        async with stub_gateway(stub) as gateway:
            await gateway.place(stop())
            state = await gateway.query("BTCUSDT", "slt1-s")
        assert state is not None
        assert (state.client_id, state.status, state.filled_qty, state.exchange_id) == (
            "slt1-s", OrderStatus.FILLED, Decimal("0.010"), "777")
        assert stub.requests("GET", "/fapi/v1/order")[0].params["orderId"] == "777"

    run(main())


def test_query_of_a_working_algo_order() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/order", error(-2013, "Order does not exist."))
        stub.queue("GET", "/fapi/v1/algoOrder", Reply(body=algo_body("slt9-s")))
        async with stub_gateway(stub) as gateway:
            state = await gateway.query("BNBUSDT", "slt9-s")
        assert state is not None and state.status is OrderStatus.NEW

    run(main())


# -- account ------------------------------------------------------------------------------------


def test_positions_skip_flat_rows() -> None:
    async def main() -> None:
        stub = BinanceStub()
        rows = (payload("thirdparty_handwritten/positionRisk__nautilus-handwritten.json")
                + payload("docs/positionRisk__docs-example__one-way.json"))
        stub.queue("GET", "/fapi/v2/positionRisk", Reply(body=rows))
        async with stub_gateway(stub) as gateway:
            positions = await gateway.positions()
        assert positions == [ExchangePosition("BTCUSDT", Decimal("0.001"), Decimal("50000.0"),
                                              Decimal("1.00000000"), 20)]

    run(main())


def test_v3_positions_take_leverage_from_the_symbol_config() -> None:
    async def main() -> None:
        stub = BinanceStub()
        rows = payload("docs/positionRisk_v3__docs-example__hedge.json")
        rows[0]["symbol"], rows[1]["symbol"] = "ETHUSDT", "BTCUSDT"
        stub.queue("GET", "/fapi/v3/positionRisk", Reply(body=rows))
        stub.queue("GET", "/fapi/v1/symbolConfig", Reply(body=payload(
            "thirdparty_handwritten/symbolConfig__nautilus-handwritten.json")))
        async with stub_client(stub) as client:
            gateway = BinanceGateway(client, position_endpoint=POSITION_RISK_V3)
            positions = await gateway.positions()
        assert [(p.symbol, p.qty, p.leverage) for p in positions] == [
            ("ETHUSDT", Decimal(30), 20), ("BTCUSDT", Decimal("-1.000"), 25)]

    run(main())


def test_balance_v2_and_v3() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v2/balance", Reply(body=payload(
            "docs/balance__docs-example.json")))
        stub.queue("GET", "/fapi/v3/balance", Reply(body=payload(
            "docs/balance_v3__docs-example.json")))
        async with stub_client(stub) as client:
            v2 = await BinanceGateway(client).balance()
            v3 = await BinanceGateway(client, balance_endpoint=BALANCE_V3).balance()
        assert v2 == Balance(Decimal("122.12345678"), Decimal("122.12345678"), Decimal(0))
        assert v3.wallet == Decimal("122607.35137903")

    run(main())


def test_set_leverage_and_position_mode() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/leverage", Reply(body=payload(
            "docs/leverage__docs-example.json")))
        stub.queue("GET", "/fapi/v1/positionSide/dual", Reply(body=payload(
            "docs/positionSide_dual__docs-example.json")))
        async with stub_gateway(stub) as gateway:
            assert await gateway.set_leverage("BTCUSDT", 21) == 21
            assert await gateway.position_mode_is_hedge() is True
        assert stub.requests("POST", "/fapi/v1/leverage")[0].params["leverage"] == "21"

    run(main())


def test_symbol_filters_from_the_recorded_exchange_info() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/exchangeInfo", Reply(body=payload(
            "live/exchangeInfo__2021-07-21__full__cryptofeed.json")))
        async with stub_gateway(stub) as gateway:
            filters = await gateway.symbol_filters()
        assert filters["ETHUSDT"].tick_size == Decimal("0.01")
        assert filters["BTCUSDT"].min_notional >= 0

    run(main())


def test_open_orders_teach_the_gateway_where_each_id_lives() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/openOrders", Reply(body=[order_body("L7")]))
        stub.queue("GET", "/fapi/v1/openAlgoOrders", Reply(body=payload(
            "docs/openAlgoOrders__docs-example.json")))
        stub.queue("DELETE", "/fapi/v1/algoOrder", Reply(body=payload(
            "docs/algoOrder_cancel__docs-example.json")
            | {"clientAlgoId": "MRumok0dkhrP4kCm12AHaB"}))
        async with stub_gateway(stub) as gateway:
            (engine,) = await gateway.open_orders()
            (algo,) = await gateway.open_algo_orders("BNBUSDT")
            await gateway.cancel("BNBUSDT", algo.clientAlgoId)
        assert engine.clientOrderId == "L7"
        assert not stub.requests("DELETE", "/fapi/v1/order")
        assert "symbol" not in stub.requests("GET", "/fapi/v1/openOrders")[0].params

    run(main())


def test_cancel_all_clears_both_services() -> None:
    async def main() -> None:
        stub = BinanceStub()
        ack = Reply(body=payload("docs/allOpenOrders_cancel__docs-example.json"))
        stub.queue("DELETE", "/fapi/v1/allOpenOrders", ack)
        stub.queue("DELETE", "/fapi/v1/algoOpenOrders", ack)
        async with stub_gateway(stub) as gateway:
            await gateway.cancel_all("BTCUSDT")
        assert stub.requests("DELETE", "/fapi/v1/algoOpenOrders")[0].params["symbol"] == "BTCUSDT"

    run(main())


# -- market data and the user stream ------------------------------------------------------------


def test_market_data_reads() -> None:
    async def main() -> None:
        stub = BinanceStub()
        crossed = {**payload("docs/ticker_bookTicker__docs-example.json"), "symbol": "ETHUSDT",
                   "bidPrice": "5.0"}
        stub.queue("GET", "/fapi/v1/ticker/bookTicker", Reply(body=[payload(
            "docs/ticker_bookTicker__docs-example.json"), crossed]))
        stub.queue("GET", "/fapi/v1/premiumIndex", Reply(body=payload(
            "docs/premiumIndex__docs-example.json")))
        stub.queue("GET", "/fapi/v1/ticker/24hr", Reply(body=[payload(
            "docs/ticker_24hr__docs-example.json")]))
        async with stub_gateway(stub) as gateway:
            (quote,) = await gateway.book_tickers()  # the crossed ETHUSDT row is left out
            premium = await gateway.premium_index("BTCUSDT")
            tickers = await gateway.ticker_24h()
            now = await gateway.server_time()
        assert (quote.bid, quote.ask, quote.ts_ms) == (4.0, 4.000002, 1589437530011)
        assert premium.markPrice == Decimal("11793.63104562")
        assert tickers[0].symbol == "BTCUSDT"
        assert now == LOCAL_MS + SERVER_AHEAD_MS
        assert stub.requests("GET", "/fapi/v1/ticker/24hr")[0].raw_query == ""
        assert stub.requests("GET", "/fapi/v1/ticker/bookTicker")[0].raw_query == ""  # weight 5

    run(main())


def test_listen_key_lifecycle_uses_the_key_header_without_signing() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/listenKey", Reply(body=payload(
            "docs/listenKey__docs-example.json")))
        stub.queue("PUT", "/fapi/v1/listenKey", Reply(body={}))
        stub.queue("DELETE", "/fapi/v1/listenKey", Reply(body={}))
        async with stub_gateway(stub) as gateway:
            key = await gateway.create_listen_key()
            await gateway.keepalive_listen_key()
            await gateway.close_listen_key()
        assert key.startswith("pqia91")
        for seen in stub.seen:
            assert seen.path == "/fapi/v1/listenKey"
            assert seen.headers["X-MBX-APIKEY"] == API_KEY and "signature" not in seen.raw_query

    run(main())


def test_an_expired_listen_key_is_a_distinct_error() -> None:
    from slt.adapters.binance.common.errors import ListenKeyNotFound

    async def main() -> None:
        stub = BinanceStub()
        stub.queue("PUT", "/fapi/v1/listenKey", error(-1125, "This listenKey does not exist."))
        async with stub_gateway(stub) as gateway:
            with pytest.raises(ListenKeyNotFound):
                await gateway.keepalive_listen_key()

    run(main())


def test_fills_are_delivered_once_per_trade_and_a_failing_listener_is_contained() -> None:
    async def main() -> None:
        stub = BinanceStub()
        async with stub_gateway(stub) as gateway:
            got: list[Fill] = []

            def broken(fill: Fill) -> None:
                raise RuntimeError("listener bug")

            gateway.add_fill_listener(broken)
            gateway.add_fill_listener(got.append)
            fill = Fill("BTCUSDT", "slt1-e", 42, Side.BUY, Decimal("0.01"), Decimal(50000),
                        Decimal("0.25"), Decimal(0), LOCAL_MS, OrderStatus.FILLED)
            assert gateway.deliver_fill(fill) is True
            assert gateway.deliver_fill(fill) is False  # TRADE_LITE + ORDER_TRADE_UPDATE
            assert gateway.deliver_fill(fill.__class__(**{
                **{f: getattr(fill, f) for f in fill.__slots__}, "symbol": "ETHUSDT"}))
        assert [f.symbol for f in got] == ["BTCUSDT", "ETHUSDT"]

    run(main())


# -- the answers that must not crash -------------------------------------------------------------


def test_rate_limit_and_ban_answers() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/premiumIndex",
                   error(-1003, "Too many requests; current limit of IP(1.2.3.4) is 2400 "
                                "requests per minute.", status=429, **{"Retry-After": "3"}),
                   error(-1003, "Way too many requests; IP(1.2.3.4) banned until "
                                "1779808947147.", status=418))
        clock = SimulatedClock(LOCAL_MS)
        # A read waits at most 1 s for room: longer holds refuse at once, without sending.
        async with stub_client(stub, clock, max_wait_ms=1000) as client:
            gateway = BinanceGateway(client)
            with pytest.raises(ExchangeDown) as limited:
                await gateway.premium_index("BTCUSDT")
            with pytest.raises(GatewayUnavailable, match="resume in 3000 ms"):
                await gateway.premium_index("BTCUSDT")  # the limiter learnt the Retry-After
            clock.advance(LOCAL_MS + 3000)
            with pytest.raises(ExchangeDown) as banned:
                await gateway.premium_index("BTCUSDT")
            with pytest.raises(GatewayUnavailable, match="Retry-After or ban"):
                await gateway.premium_index("BTCUSDT")  # ... and the ban
        assert (limited.value.failure, limited.value.retry_after_ms) == (
            FailureKind.RATE_LIMIT_429, 3000)
        assert (banned.value.failure, banned.value.ban_until_ms) == (
            FailureKind.IP_BAN_418, 1779808947147)
        assert len(stub.requests("GET", "/fapi/v1/premiumIndex")) == 2

    run(main())


def test_unreadable_reads_are_malformed_responses() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v2/balance",
                   Reply(raw="<html><body>Maintenance</body></html>"),
                   Reply(raw='[{"asset": "USDT", "bal'),
                   Reply(body=[{"asset": "USDT", "balance": "abc"}]),
                   Reply(body={"code": -2015, "msg": "Invalid API-key, IP, or permissions."}))
        async with stub_gateway(stub) as gateway:
            for _ in range(3):
                with pytest.raises(MalformedResponse):
                    await gateway.balance()
            with pytest.raises(AuthError):
                await gateway.balance()

    run(main())


def test_a_wrong_secret_is_an_auth_error() -> None:
    async def main() -> None:
        stub = BinanceStub()
        await stub.start()
        try:
            config = RestConfig(base_url=stub.url, time_samples=1)
            creds = Credentials(API_KEY, "not-the-secret")
            async with BinanceHttpClient(config, SimulatedClock(LOCAL_MS), creds) as client:
                with pytest.raises(AuthError) as raised:
                    await BinanceGateway(client).balance()
        finally:
            await stub.stop()
        assert raised.value.code == -1022 and raised.value.failure is None

    run(main())


def test_signed_calls_without_credentials_fail_clearly() -> None:
    async def main() -> None:
        stub = BinanceStub()
        await stub.start()
        try:
            config = RestConfig(base_url=stub.url, time_samples=1)
            async with BinanceHttpClient(config, SimulatedClock(LOCAL_MS)) as client:
                with pytest.raises(AuthError, match="needs API credentials"):
                    await BinanceGateway(client).balance()
        finally:
            await stub.stop()

    run(main())


# -- history -------------------------------------------------------------------------------------


def kline(open_ms: int, close: str) -> list[Any]:
    return [open_ms, "1.0", "2.0", "0.5", close, "10.0", open_ms + 59_999, "15.0", 3, "1.0",
            "1.5", "0"]


def test_klines_are_closed_bars_oldest_first() -> None:
    async def main() -> None:
        stub = BinanceStub(server_ahead_ms=0)
        now = LOCAL_MS  # 20 s into a minute: the bar opened 20 s ago is still forming
        forming = now - now % 60_000
        rows = [kline(forming - 60_000 * k, str(k)) for k in (3, 2, 1, 0)]
        stub.queue("GET", "/fapi/v1/klines", Reply(body=rows))
        async with stub_client(stub) as client:
            bars = await BinanceHistory(client).klines("BTCUSDT", "1m", 2)
        assert bars == [Bar(forming - 120_000, 1.0, 2.0, 0.5, 2.0, 10.0),
                        Bar(forming - 60_000, 1.0, 2.0, 0.5, 1.0, 10.0)]
        params = stub.requests("GET", "/fapi/v1/klines")[0].params
        assert params == {"symbol": "BTCUSDT", "interval": "1m", "limit": "3"}

    run(main())


@pytest.mark.parametrize(("interval", "limit"), [("1s", 10), ("1m", 0), ("1m", 1500)])
def test_klines_refuse_what_binance_would(interval: str, limit: int) -> None:
    async def main() -> None:
        stub = BinanceStub()
        async with stub_client(stub) as client:
            with pytest.raises(ValueError):
                await BinanceHistory(client).klines("BTCUSDT", interval, limit)

    run(main())


# -- behind the circuit breaker ------------------------------------------------------------------


def test_behind_the_breaker_a_ban_blocks_and_rejections_do_not_count() -> None:
    from slt.adapters.sqlite_store import SqliteStore
    from slt.application.guarded_gateway import GuardedGateway
    from slt.domain.breaker import BreakerLevel, CircuitBreaker

    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", *[error(-2019, "Margin is insufficient.")] * 5)
        stub.queue("GET", "/fapi/v2/positionRisk", error(
            -1003, "Way too many requests; IP(1.2.3.4) banned until 1779808947147.", status=418))
        async with stub_client(stub) as client:
            clock = SimulatedClock(LOCAL_MS)
            guarded = GuardedGateway(BinanceGateway(client), CircuitBreaker(), clock,
                                     SqliteStore(":memory:"))
            for n in range(5):
                with pytest.raises(OrderRejected):
                    await guarded.place(market(f"c{n}"))
            assert guarded.breaker.level is BreakerLevel.NORMAL
            with pytest.raises(ExchangeDown):
                await guarded.positions()
            assert guarded.breaker.level is BreakerLevel.BLOCKED
            assert guarded.breaker.ban_until_ms == 1779808947147
            with pytest.raises(GatewayUnavailable):  # nothing passes during a ban
                await guarded.positions()
        assert len(stub.requests("GET", "/fapi/v2/positionRisk")) == 1

    run(main())


def test_every_request_of_a_guarded_client_goes_through_the_breaker_by_priority() -> None:
    from slt.adapters.sqlite_store import SqliteStore
    from slt.application.guarded_gateway import BreakerGuard
    from slt.domain.account_events import PositionUpdate
    from slt.domain.breaker import BreakerLevel, CircuitBreaker
    from slt.domain.orders import Priority

    async def main() -> None:
        stub = BinanceStub()
        stub.always("GET", "/fapi/v1/klines", Reply(status=404, raw="<html>Not Found</html>"))
        stub.always("GET", "/fapi/v2/positionRisk", Reply(body=[]))
        stub.queue("POST", "/fapi/v1/order", Reply(body=order_body(
            "x1", status="FILLED", executedQty="0.010", avgPrice="50001.20", reduceOnly=True)))
        clock = SimulatedClock(LOCAL_MS)
        breaker = CircuitBreaker()
        async with stub_client(stub, clock) as client:
            client.guard = BreakerGuard(breaker, clock, SqliteStore(":memory:"))
            gateway, history = BinanceGateway(client), BinanceHistory(client)
            for _ in range(12):  # a path this venue does not serve is not a server failure
                with pytest.raises(GatewayError):
                    await history.klines("BTCUSDT", "1m", 10)
            assert breaker.level is BreakerLevel.NORMAL
            breaker.record_failure(FailureKind.RATE_LIMIT_429, clock.now_ms(),
                                   retry_after_ms=30_000)
            sent = len(stub.seen)
            with pytest.raises(GatewayUnavailable, match="retry_after"):
                await gateway.place(market("e1"))  # an entry is held back, not sent
            waiting = asyncio.ensure_future(history.klines("BTCUSDT", "1m", 10))
            for _ in range(5):  # let it run up to where it waits
                await asyncio.sleep(0)
            # history waits the Retry-After out on the clock, unsent
            assert clock.next_due_ms == LOCAL_MS + 30_000 and len(stub.seen) == sent
            waiting.cancel()
            state = await gateway.place(market("x1", reduce_only=True))  # an exit passes
            assert state.status is OrderStatus.FILLED
            # the position read after a stream gap passes; the routine one (LOW) waits
            assert await gateway.position_snapshot(1, ["BTCUSDT"]) == [
                PositionUpdate("BTCUSDT", Decimal(0), Decimal(0), "SNAPSHOT", 1)]
            routine = asyncio.ensure_future(gateway.position_snapshot(1, priority=Priority.LOW))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not routine.done()
            assert len(stub.requests("GET", "/fapi/v2/positionRisk")) == 1
            routine.cancel()

    run(main())
