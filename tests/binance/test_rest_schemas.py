"""Every recorded REST payload kind the adapter uses, through the production parsers."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from slt.adapters.binance.common.schemas import (
    AlgoCancelResponse,
    AlgoOrderResponse,
    BookTicker,
    CodeAck,
    ExchangeInfo,
    Kline,
    LeverageResponse,
    ListenKey,
    OrderResponse,
    PositionMode,
    PositionRisk,
    PremiumIndex,
    SchemaError,
    ServerTime,
    SymbolConfig,
    Ticker24h,
    usdt_balance,
)
from slt.domain.orders import OrderStatus
from slt.domain.values import Balance, Bar, Quote

from test_rest_support import FIXTURES, payload


def decoded(name: str) -> Any:
    """As the client decodes it: non-integer numbers become Decimal."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def test_every_fixture_is_parsed_by_some_test() -> None:
    used = {name for name in PARSERS}
    present = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")}
    assert present == used


PARSERS: dict[str, Any] = {
    "docs/allOrders__docs-example__TRAILING_STOP_MARKET.json": OrderResponse.parse_list,
    "thirdparty_handwritten/order__NEW_LIMIT__nautilus-handwritten.json": OrderResponse.parse,
    "docs/algoOrder_new__docs-example.json": AlgoOrderResponse.parse,
    "docs/algoOrder_query__docs-example.json": AlgoOrderResponse.parse,
    "docs/openAlgoOrders__docs-example.json": AlgoOrderResponse.parse_list,
    "thirdparty_handwritten/openAlgoOrders__nautilus-handwritten.json":
        AlgoOrderResponse.parse_list,
    "docs/algoOrder_cancel__docs-example.json": AlgoCancelResponse.parse,
    "docs/allOpenOrders_cancel__docs-example.json": CodeAck.parse,
    "docs/leverage__docs-example.json": LeverageResponse.parse,
    "docs/balance__docs-example.json": usdt_balance,
    "docs/balance_v3__docs-example.json": usdt_balance,
    "docs/account_v2__docs-derived.json": usdt_balance,
    "docs/positionRisk__docs-example__one-way.json": PositionRisk.parse_list,
    "docs/positionRisk_v3__docs-example__hedge.json": PositionRisk.parse_list,
    "thirdparty_handwritten/positionRisk__nautilus-handwritten.json": PositionRisk.parse_list,
    "thirdparty_handwritten/symbolConfig__nautilus-handwritten.json": SymbolConfig.parse_list,
    "docs/positionSide_dual__docs-example.json": PositionMode.parse,
    "docs/ticker_24hr__docs-example.json": Ticker24h.parse_any,
    "docs/ticker_bookTicker__docs-example.json": BookTicker.parse,
    "docs/premiumIndex__docs-example.json": PremiumIndex.parse,
    "docs/klines__docs-example.json": Kline.parse_list,
    "docs/listenKey__docs-example.json": ListenKey.parse,
    "live/exchangeInfo__2021-07-21__full__cryptofeed.json": ExchangeInfo.parse,
    "live/exchangeInfo__2022-02-19__BTCUSDT_ETHUSDT_BTCUSDT_220325__trimmed.json":
        ExchangeInfo.parse,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_fixture_parses(name: str) -> None:
    assert PARSERS[name](decoded(name))


def test_order_objects() -> None:
    order = OrderResponse.parse(decoded(
        "thirdparty_handwritten/order__NEW_LIMIT__nautilus-handwritten.json"))
    assert order.orderId == 12345678 and order.clientOrderId == "testOrder123"
    assert order.price == Decimal("50000.00") and order.origQty == Decimal("0.001")
    state = order.to_state()
    assert state.status is OrderStatus.NEW
    assert state.filled_qty == 0 and state.avg_price == 0 and state.exchange_id == "12345678"
    (trailing,) = OrderResponse.parse_list(
        decoded("docs/allOrders__docs-example__TRAILING_STOP_MARKET.json"))
    assert trailing.type == "TRAILING_STOP_MARKET" and trailing.status == "NEW"


def test_filled_order_state_carries_the_average_price() -> None:
    raw = payload("thirdparty_handwritten/order__NEW_LIMIT__nautilus-handwritten.json")
    raw.update(status="FILLED", executedQty="0.001", avgPrice="49999.90")
    state = OrderResponse.parse(raw).to_state()
    assert state.status is OrderStatus.FILLED
    assert (state.filled_qty, state.avg_price) == (Decimal("0.001"), Decimal("49999.90"))
    raw.update(status="EXPIRED_IN_MATCH")
    assert OrderResponse.parse(raw).to_state().status is OrderStatus.EXPIRED


def test_algo_orders() -> None:
    placed = AlgoOrderResponse.parse(decoded("docs/algoOrder_new__docs-example.json"))
    assert placed.algoId == 2146760 and placed.clientAlgoId == "6B2I9XVcJpCjqPAJ4YoFX7"
    assert placed.orderType == "TAKE_PROFIT" and placed.triggerPrice == Decimal("750.000")
    assert placed.actualOrderId is None
    assert placed.to_state().status is OrderStatus.NEW
    queried = AlgoOrderResponse.parse(decoded("docs/algoOrder_query__docs-example.json"))
    assert queried.to_state().status is OrderStatus.CANCELED
    (nautilus,) = AlgoOrderResponse.parse_list(
        decoded("thirdparty_handwritten/openAlgoOrders__nautilus-handwritten.json"))
    assert nautilus.orderType == "STOP_MARKET"  # spelt `type` in that fixture
    cancel = AlgoCancelResponse.parse(decoded("docs/algoOrder_cancel__docs-example.json"))
    state = cancel.to_state("BNBUSDT")
    assert state.status is OrderStatus.CANCELED and state.client_id == "6B2I9XVcJpCjqPAJ4YoFX7"


def test_a_finished_algo_order_is_never_reported_as_a_fill_on_its_own() -> None:
    raw = payload("docs/algoOrder_query__docs-example.json")
    raw.update(algoStatus="FINISHED", actualOrderId="987654")
    algo = AlgoOrderResponse.parse(raw)
    assert algo.actualOrderId == 987654
    state = algo.to_state()
    assert state.status is OrderStatus.EXPIRED and state.filled_qty == 0 and state.reason


def test_balances_in_every_shape() -> None:
    assert usdt_balance(decoded("docs/balance__docs-example.json")) == Balance(
        Decimal("122.12345678"), Decimal("122.12345678"), Decimal(0))
    v3 = usdt_balance(decoded("docs/balance_v3__docs-example.json"))
    assert v3.wallet == Decimal("122607.35137903") and v3.available == Decimal("23.72469206")
    account = usdt_balance(decoded("docs/account_v2__docs-derived.json"))
    assert account.wallet == Decimal("23.72469206")
    with pytest.raises(SchemaError, match="no USDT"):
        usdt_balance([{"asset": "BNB", "balance": "1", "crossUnPnl": "0",
                       "availableBalance": "1"}])


def test_positions() -> None:
    (flat,) = PositionRisk.parse_list(decoded("docs/positionRisk__docs-example__one-way.json"))
    assert flat.positionAmt == 0 and flat.leverage == 10 and flat.positionSide == "BOTH"
    (long,) = PositionRisk.parse_list(
        decoded("thirdparty_handwritten/positionRisk__nautilus-handwritten.json"))
    position = long.to_position(long.leverage or 0)
    assert (position.qty, position.entry_price, position.leverage) == (
        Decimal("0.001"), Decimal("50000.0"), 20)
    hedge = PositionRisk.parse_list(decoded("docs/positionRisk_v3__docs-example__hedge.json"))
    assert [(p.positionSide, p.positionAmt, p.leverage) for p in hedge] == [
        ("LONG", Decimal(30), None), ("SHORT", Decimal("-1.000"), None)]
    configs = SymbolConfig.parse_list(
        decoded("thirdparty_handwritten/symbolConfig__nautilus-handwritten.json"))
    assert {c.symbol: c.leverage for c in configs} == {"ETHUSDT": 20, "BTCUSDT": 25}


def test_small_account_answers() -> None:
    assert LeverageResponse.parse(decoded("docs/leverage__docs-example.json")).leverage == 21
    assert PositionMode.parse(decoded("docs/positionSide_dual__docs-example.json"))
    assert ListenKey.parse(decoded("docs/listenKey__docs-example.json")).listenKey.startswith(
        "pqia91")
    assert CodeAck.parse(decoded("docs/allOpenOrders_cancel__docs-example.json")).code == 200
    assert ServerTime.parse({"serverTime": 1499827319559}).serverTime == 1499827319559


def test_market_data() -> None:
    ticker = BookTicker.parse(decoded("docs/ticker_bookTicker__docs-example.json"))
    assert ticker.to_quote(0) == Quote("BTCUSDT", 1589437530011, 4.0, 431.0, 4.000002, 9.0)
    assert BookTicker.parse({**payload("docs/ticker_bookTicker__docs-example.json"),
                             "time": None}).to_quote(77).ts_ms == 77
    premium = PremiumIndex.parse(decoded("docs/premiumIndex__docs-example.json"))
    assert premium.markPrice == Decimal("11793.63104562")
    assert premium.nextFundingTime == 1597392000000
    (stats,) = Ticker24h.parse_any(decoded("docs/ticker_24hr__docs-example.json"))
    assert stats.quoteVolume == Decimal("15.30000000") and stats.count == 76
    assert Ticker24h.parse_any([payload("docs/ticker_24hr__docs-example.json")] * 2)[1] == stats
    (kline,) = Kline.parse_list(decoded("docs/klines__docs-example.json"))
    assert kline.to_bar() == Bar(1499040000000, 0.0163479, 0.8, 0.015758, 0.015771,
                                 148976.11427815)
    assert kline.closeTime == 1499644799999


def test_exchange_info_filters_and_rate_limits() -> None:
    info = ExchangeInfo.parse(decoded("live/exchangeInfo__2021-07-21__full__cryptofeed.json"))
    btc = info.filters["BTCUSDT"]
    assert (btc.tick_size, btc.step_size, btc.min_qty) == (
        Decimal("0.01"), Decimal("0.001"), Decimal("0.001"))
    assert btc.market_max_qty is not None
    assert len(info.filters) > 100
    assert [(r.rateLimitType, r.intervalNum, r.limit) for r in info.rateLimits] == [
        ("REQUEST_WEIGHT", 1, 2400), ("ORDERS", 1, 1200), ("ORDERS", 10, 300)]
    trimmed = ExchangeInfo.parse(decoded(
        "live/exchangeInfo__2022-02-19__BTCUSDT_ETHUSDT_BTCUSDT_220325__trimmed.json"))
    assert "ETHUSDT" in trimmed.filters


# -- malformed payloads: a typed SchemaError naming the problem, never another exception ----------

ORDER = "thirdparty_handwritten/order__NEW_LIMIT__nautilus-handwritten.json"


def _mutated(name: str, **changes: Any) -> Any:
    raw = copy.deepcopy(payload(name))
    if isinstance(raw, list):
        raw = raw[0]
    for key, value in changes.items():
        if value is _DELETE:
            del raw[key]
        else:
            raw[key] = value
    return raw


_DELETE = object()

MALFORMED = [
    ("order: list instead of object", OrderResponse.parse, [payload(ORDER)], "JSON object"),
    ("order: no orderId", OrderResponse.parse, _mutated(ORDER, orderId=_DELETE), "orderId"),
    ("order: orderId a float", OrderResponse.parse, _mutated(ORDER, orderId=1.5), "orderId"),
    ("order: orderId a bool", OrderResponse.parse, _mutated(ORDER, orderId=True), "orderId"),
    ("order: price not a number", OrderResponse.parse, _mutated(ORDER, price="abc"), "price"),
    ("order: NaN quantity", OrderResponse.parse, _mutated(ORDER, origQty="NaN"), "origQty"),
    ("order: Infinity quantity", OrderResponse.parse, _mutated(ORDER, executedQty="Infinity"),
     "executedQty"),
    ("order: unknown status", OrderResponse.parse, _mutated(ORDER, status="PENDING"), "status"),
    ("order: reduceOnly a string", OrderResponse.parse, _mutated(ORDER, reduceOnly="yes"),
     "reduceOnly"),
    ("algo: no algoStatus", AlgoOrderResponse.parse,
     _mutated("docs/algoOrder_new__docs-example.json", algoStatus=_DELETE), "algoStatus"),
    ("algo: no order type", AlgoOrderResponse.parse,
     _mutated("docs/algoOrder_new__docs-example.json", orderType=_DELETE), "orderType"),
    ("balance: object without assets", usdt_balance, {"feeTier": 0}, "JSON array"),
    ("position: empty amount", PositionRisk.parse,
     _mutated("thirdparty_handwritten/positionRisk__nautilus-handwritten.json", positionAmt=""),
     "positionAmt"),
    ("kline: short row", Kline.parse_list, [[1499040000000, "0.1", "0.2"]], "7 fields"),
    ("kline: close before open", Kline.parse_list,
     [[1499040000000, "1", "1", "1", "1", "1", 1499039999999]], "closeTime"),
    ("klines: out of order", Kline.parse_list,
     [[2, "1", "1", "1", "1", "1", 3], [1, "1", "1", "1", "1", "1", 2]], "out of order"),
    ("time: negative", ServerTime.parse, {"serverTime": -5}, "serverTime"),
    ("time: string garbage", ServerTime.parse, {"serverTime": "--1"}, "serverTime"),
    ("listenKey: empty", ListenKey.parse, {"listenKey": ""}, "empty"),
    ("exchangeInfo: no symbols", ExchangeInfo.parse, {"rateLimits": []}, "symbols"),
    ("exchangeInfo: filter lacks a field", ExchangeInfo.parse,
     {"symbols": [{"symbol": "X", "status": "TRADING",
                   "filters": [{"filterType": "PRICE_FILTER"}, {"filterType": "LOT_SIZE"}]}]},
     "filters"),
    ("exchangeInfo: bad decimal", ExchangeInfo.parse,
     {"symbols": [{"symbol": "X", "status": "TRADING", "filters": [
         {"filterType": "PRICE_FILTER", "tickSize": "x"},
         {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1", "maxQty": "1"}]}]},
     "filters"),
    ("mode: missing", PositionMode.parse, {}, "dualSidePosition"),
    ("ticker: not a list or object", Ticker24h.parse_any, "BTCUSDT", "JSON array"),
]


@pytest.mark.parametrize(("name", "parse", "raw", "mentions"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_payloads_raise_schema_errors(
    name: str, parse: Any, raw: Any, mentions: str
) -> None:
    with pytest.raises(SchemaError) as raised:
        parse(raw)
    assert mentions in str(raised.value)
