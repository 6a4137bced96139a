"""REST response bodies, parsed strictly at the boundary.

Each schema keeps Binance's field names (camelCase, as on the wire) so a reader can hold it next
to the docs; prices and quantities become Decimal (never through a binary float: the client
decodes JSON with `parse_float=Decimal`). A payload that is not of the documented shape raises
SchemaError naming the payload kind and the field: the HTTP layer turns that into a typed
gateway error, never a crash deep inside the bot.

Only fields the bot uses are kept; unknown fields are ignored, as Binance adds fields freely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from slt.domain.filters import SymbolFilters, filters_from_exchange_info
from slt.domain.orders import OrderState, OrderStatus
from slt.domain.values import Balance, Bar, ExchangePosition, Quote, is_sane_quote

ZERO = Decimal(0)
_INTEGER = re.compile(r"-?[0-9]+")


class SchemaError(ValueError):
    """A response body does not have the documented shape."""

    def __init__(self, kind: str, problem: str) -> None:
        super().__init__(f"{kind}: {problem}")
        self.kind = kind


# -- field readers -------------------------------------------------------------------------------

_MISSING: Any = object()


def _obj(payload: Any, kind: str) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise SchemaError(kind, f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _rows(payload: Any, kind: str) -> list[Any]:
    if not isinstance(payload, list):
        raise SchemaError(kind, f"expected a JSON array, got {type(payload).__name__}")
    return payload


def _field(d: Mapping[str, Any], key: str, kind: str, default: Any) -> Any:
    value = d.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise SchemaError(kind, f"field {key!r} is missing")
        return default
    return value


def _str(d: Mapping[str, Any], key: str, kind: str, default: Any = _MISSING) -> str:
    value = _field(d, key, kind, default)
    if not isinstance(value, str):
        raise SchemaError(kind, f"field {key!r} is not a string: {value!r}")
    return value


def _int(d: Mapping[str, Any], key: str, kind: str, default: Any = _MISSING) -> int:
    value = _field(d, key, kind, default)
    if isinstance(value, bool):
        raise SchemaError(kind, f"field {key!r} is not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise SchemaError(kind, f"field {key!r} is not an integer: {value!r}")


def _opt_int(d: Mapping[str, Any], key: str, kind: str) -> int | None:
    """An id that Binance sends as "" until it exists (actualOrderId)."""
    if d.get(key) in (None, "", 0, "0"):
        return None
    return _int(d, key, kind)


def _dec(d: Mapping[str, Any], key: str, kind: str, default: Any = _MISSING) -> Decimal:
    value = _field(d, key, kind, default)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise SchemaError(kind, f"field {key!r} is not a decimal: {value!r}")
    if value == "":
        if default is _MISSING:
            raise SchemaError(kind, f"field {key!r} is empty")
        return Decimal(default)
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise SchemaError(kind, f"field {key!r} is not a decimal: {value!r}") from None
    if not result.is_finite():
        raise SchemaError(kind, f"field {key!r} is not finite: {value!r}")
    return result


def _bool(d: Mapping[str, Any], key: str, kind: str, default: Any = _MISSING) -> bool:
    value = _field(d, key, kind, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):  # some account fields are quoted ("isAutoAddMargin")
        return bool(value == "true")
    raise SchemaError(kind, f"field {key!r} is not a boolean: {value!r}")


def _rows_of(payload: Any, kind: str, parse: Any) -> list[Any]:
    return [parse(row) for row in _rows(payload, kind)]


# -- orders --------------------------------------------------------------------------------------

# ORDER_TRADE_UPDATE X / order `status`. The liquidation statuses are working orders of the
# insurance fund or ADL that a query can meet on an account being liquidated.
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,  # expired by self-trade prevention
    "NEW_INSURANCE": OrderStatus.NEW,
    "NEW_ADL": OrderStatus.NEW,
}

# algoStatus. TRIGGERING/TRIGGERED: handed to the matching engine, whose order then carries the
# execution; FINISHED: that order filled *or* was cancelled, so only it can tell which
# (BinanceGateway.query follows `actualOrderId`). None marks those states.
ALGO_STATUS: Mapping[str, OrderStatus | None] = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
    "FINISHED": None,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class OrderResponse:
    """An order of the matching engine: POST/GET/DELETE /fapi/v1/order, openOrders rows."""

    orderId: int
    clientOrderId: str
    symbol: str
    status: str
    side: str
    type: str
    origQty: Decimal
    executedQty: Decimal
    avgPrice: Decimal  # "0.00000" until something fills
    price: Decimal  # "0" for MARKET orders
    reduceOnly: bool
    updateTime: int

    @classmethod
    def parse(cls, payload: Any) -> OrderResponse:
        kind = "order"
        d = _obj(payload, kind)
        status = _str(d, "status", kind)
        if status not in ORDER_STATUS:
            raise SchemaError(kind, f"unknown order status {status!r}")
        return cls(
            orderId=_int(d, "orderId", kind),
            clientOrderId=_str(d, "clientOrderId", kind),
            symbol=_str(d, "symbol", kind),
            status=status,
            side=_str(d, "side", kind),
            type=_str(d, "type", kind),
            origQty=_dec(d, "origQty", kind),
            executedQty=_dec(d, "executedQty", kind),
            avgPrice=_dec(d, "avgPrice", kind, ZERO),
            price=_dec(d, "price", kind, ZERO),
            reduceOnly=_bool(d, "reduceOnly", kind, False),
            updateTime=_int(d, "updateTime", kind, 0),
        )

    @classmethod
    def parse_list(cls, payload: Any) -> list[OrderResponse]:
        return _rows_of(payload, "openOrders", cls.parse)

    def to_state(self, client_id: str | None = None) -> OrderState:
        return OrderState(
            client_id=client_id if client_id is not None else self.clientOrderId,
            symbol=self.symbol,
            status=ORDER_STATUS[self.status],
            filled_qty=self.executedQty,
            avg_price=self.avgPrice if self.executedQty else ZERO,
            exchange_id=str(self.orderId),
        )


@dataclass(frozen=True, slots=True)
class AlgoOrderResponse:
    """A conditional order of the algo service: POST/GET /fapi/v1/algoOrder, openAlgoOrders."""

    algoId: int
    clientAlgoId: str
    algoType: str
    orderType: str  # the docs' name; some third-party fixtures call it `type`
    symbol: str
    side: str
    quantity: Decimal
    triggerPrice: Decimal
    algoStatus: str
    reduceOnly: bool
    actualOrderId: int | None  # the matching-engine order once triggered ("" before)
    updateTime: int

    @classmethod
    def parse(cls, payload: Any) -> AlgoOrderResponse:
        kind = "algoOrder"
        d = _obj(payload, kind)
        status = _str(d, "algoStatus", kind)
        if status not in ALGO_STATUS:
            raise SchemaError(kind, f"unknown algoStatus {status!r}")
        order_type = d.get("orderType", d.get("type"))
        if not isinstance(order_type, str):
            raise SchemaError(kind, "field 'orderType' is missing")
        return cls(
            algoId=_int(d, "algoId", kind),
            clientAlgoId=_str(d, "clientAlgoId", kind),
            algoType=_str(d, "algoType", kind),
            orderType=order_type,
            symbol=_str(d, "symbol", kind),
            side=_str(d, "side", kind),
            quantity=_dec(d, "quantity", kind),
            triggerPrice=_dec(d, "triggerPrice", kind),
            algoStatus=status,
            reduceOnly=_bool(d, "reduceOnly", kind, False),
            actualOrderId=_opt_int(d, "actualOrderId", kind),
            updateTime=_int(d, "updateTime", kind, 0),
        )

    @classmethod
    def parse_list(cls, payload: Any) -> list[AlgoOrderResponse]:
        return _rows_of(payload, "openAlgoOrders", cls.parse)

    def to_state(self) -> OrderState:
        """The algo order seen on its own. FINISHED without its matching-engine order cannot
        say whether it filled: reported as EXPIRED with that reason, never as a fill."""
        status = ALGO_STATUS[self.algoStatus]
        reason = ""
        if status is None:
            status = OrderStatus.EXPIRED
            reason = "algo order FINISHED; its matching-engine order was not read"
        return OrderState(
            client_id=self.clientAlgoId,
            symbol=self.symbol,
            status=status,
            filled_qty=ZERO,
            avg_price=ZERO,
            exchange_id=str(self.algoId),
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class AlgoCancelResponse:
    """DELETE /fapi/v1/algoOrder: `{"algoId", "clientAlgoId", "code": "200", "msg": "success"}`."""

    algoId: int
    clientAlgoId: str

    @classmethod
    def parse(cls, payload: Any) -> AlgoCancelResponse:
        kind = "algoOrder cancel"
        d = _obj(payload, kind)
        return cls(algoId=_int(d, "algoId", kind), clientAlgoId=_str(d, "clientAlgoId", kind))

    def to_state(self, symbol: str) -> OrderState:
        # Conditionals have no fills before they trigger, and a triggered one is no longer
        # cancellable here.
        return OrderState(
            client_id=self.clientAlgoId,
            symbol=symbol,
            status=OrderStatus.CANCELED,
            filled_qty=ZERO,
            avg_price=ZERO,
            exchange_id=str(self.algoId),
        )


@dataclass(frozen=True, slots=True)
class CodeAck:
    """`{"code": 200, "msg": "..."}` acknowledgements (cancel all, keepalive)."""

    code: int
    msg: str

    @classmethod
    def parse(cls, payload: Any) -> CodeAck:
        kind = "acknowledgement"
        d = _obj(payload, kind)
        return cls(code=_int(d, "code", kind, 200), msg=_str(d, "msg", kind, ""))


# -- account -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """GET /fapi/v2|v3/positionRisk row. v3 dropped `leverage` (see SymbolConfig)."""

    symbol: str
    positionSide: str  # BOTH in one-way mode; LONG/SHORT in hedge mode
    positionAmt: Decimal  # signed: negative is short
    entryPrice: Decimal
    markPrice: Decimal
    unRealizedProfit: Decimal
    leverage: int | None

    @classmethod
    def parse(cls, payload: Any) -> PositionRisk:
        kind = "positionRisk"
        d = _obj(payload, kind)
        return cls(
            symbol=_str(d, "symbol", kind),
            positionSide=_str(d, "positionSide", kind, "BOTH"),
            positionAmt=_dec(d, "positionAmt", kind),
            entryPrice=_dec(d, "entryPrice", kind),
            markPrice=_dec(d, "markPrice", kind, ZERO),
            unRealizedProfit=_dec(d, "unRealizedProfit", kind),
            leverage=_int(d, "leverage", kind) if d.get("leverage") is not None else None,
        )

    @classmethod
    def parse_list(cls, payload: Any) -> list[PositionRisk]:
        return _rows_of(payload, "positionRisk", cls.parse)

    def to_position(self, leverage: int) -> ExchangePosition:
        return ExchangePosition(
            symbol=self.symbol,
            qty=self.positionAmt,
            entry_price=self.entryPrice,
            unrealized_pnl=self.unRealizedProfit,
            leverage=leverage,
        )


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    """GET /fapi/v1/symbolConfig row: where v3 accounts keep each symbol's leverage."""

    symbol: str
    leverage: int
    marginType: str

    @classmethod
    def parse(cls, payload: Any) -> SymbolConfig:
        kind = "symbolConfig"
        d = _obj(payload, kind)
        return cls(
            symbol=_str(d, "symbol", kind),
            leverage=_int(d, "leverage", kind),
            marginType=_str(d, "marginType", kind, ""),
        )

    @classmethod
    def parse_list(cls, payload: Any) -> list[SymbolConfig]:
        return _rows_of(payload, "symbolConfig", cls.parse)


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """One asset of the futures wallet.

    Two shapes carry it: /fapi/v2|v3/balance rows (`balance`, `crossUnPnl`) and the `assets`
    of /fapi/v2|v3/account (`walletBalance`, `unrealizedProfit`); both parse to this.
    """

    asset: str
    balance: Decimal  # wallet balance
    availableBalance: Decimal
    crossUnPnl: Decimal

    @classmethod
    def parse(cls, payload: Any) -> AssetBalance:
        kind = "balance"
        d = _obj(payload, kind)
        wallet_key = "balance" if "balance" in d else "walletBalance"
        pnl_key = "crossUnPnl" if "crossUnPnl" in d else "unrealizedProfit"
        return cls(
            asset=_str(d, "asset", kind),
            balance=_dec(d, wallet_key, kind),
            availableBalance=_dec(d, "availableBalance", kind),
            crossUnPnl=_dec(d, pnl_key, kind),
        )

    @classmethod
    def parse_all(cls, payload: Any) -> list[AssetBalance]:
        rows = _obj(payload, "account").get("assets") if isinstance(payload, dict) else payload
        return _rows_of(rows, "balance", cls.parse)

    def to_balance(self) -> Balance:
        return Balance(
            wallet=self.balance, available=self.availableBalance, unrealized_pnl=self.crossUnPnl
        )


def usdt_balance(payload: Any) -> Balance:
    for row in AssetBalance.parse_all(payload):
        if row.asset == "USDT":
            return row.to_balance()
    raise SchemaError("balance", "no USDT entry")


@dataclass(frozen=True, slots=True)
class LeverageResponse:
    """POST /fapi/v1/leverage."""

    symbol: str
    leverage: int
    maxNotionalValue: Decimal

    @classmethod
    def parse(cls, payload: Any) -> LeverageResponse:
        kind = "leverage"
        d = _obj(payload, kind)
        return cls(
            symbol=_str(d, "symbol", kind),
            leverage=_int(d, "leverage", kind),
            maxNotionalValue=_dec(d, "maxNotionalValue", kind, ZERO),
        )


@dataclass(frozen=True, slots=True)
class PositionMode:
    """GET /fapi/v1/positionSide/dual. True: hedge mode; False: one-way mode."""

    dualSidePosition: bool

    @classmethod
    def parse(cls, payload: Any) -> PositionMode:
        kind = "positionSide/dual"
        return cls(dualSidePosition=_bool(_obj(payload, kind), "dualSidePosition", kind))


@dataclass(frozen=True, slots=True)
class ListenKey:
    """POST /fapi/v1/listenKey."""

    listenKey: str

    @classmethod
    def parse(cls, payload: Any) -> ListenKey:
        kind = "listenKey"
        key = _str(_obj(payload, kind), "listenKey", kind)
        if not key:
            raise SchemaError(kind, "empty listenKey")
        return cls(listenKey=key)


# -- market data ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerTime:
    serverTime: int

    @classmethod
    def parse(cls, payload: Any) -> ServerTime:
        kind = "time"
        value = _int(_obj(payload, kind), "serverTime", kind)
        if value <= 0:
            raise SchemaError(kind, f"serverTime {value} is not an instant")
        return cls(serverTime=value)


@dataclass(frozen=True, slots=True)
class BookTicker:
    """GET /fapi/v1/ticker/bookTicker."""

    symbol: str
    bidPrice: Decimal
    bidQty: Decimal
    askPrice: Decimal
    askQty: Decimal
    time: int | None  # transaction time; absent in older answers

    @classmethod
    def parse(cls, payload: Any) -> BookTicker:
        kind = "bookTicker"
        d = _obj(payload, kind)
        ticker = cls(
            symbol=_str(d, "symbol", kind),
            bidPrice=_dec(d, "bidPrice", kind),
            bidQty=_dec(d, "bidQty", kind),
            askPrice=_dec(d, "askPrice", kind),
            askQty=_dec(d, "askQty", kind),
            time=_int(d, "time", kind) if d.get("time") is not None else None,
        )
        # This is the REST fallback price of the exit path: it must meet the same bar as a
        # streamed quote (positive, finite as floats, not crossed).
        bid, ask = float(ticker.bidPrice), float(ticker.askPrice)
        if not is_sane_quote(bid, ask, float(ticker.bidQty), float(ticker.askQty)):
            raise SchemaError(kind, f"insane book {ticker.bidPrice} / {ticker.askPrice}")
        return ticker

    @classmethod
    def parse_list(cls, payload: Any) -> list[BookTicker]:
        """Every symbol's ticker; a row that fails `parse` is left out, so that one bad symbol
        does not take the fallback away from the others."""
        sane = []
        for row in _rows(payload, "bookTicker"):
            try:
                sane.append(cls.parse(row))
            except SchemaError:
                continue
        return sane

    def to_quote(self, fallback_ts_ms: int) -> Quote:
        return Quote(
            symbol=self.symbol,
            ts_ms=self.time if self.time is not None else fallback_ts_ms,
            bid=float(self.bidPrice),
            bid_qty=float(self.bidQty),
            ask=float(self.askPrice),
            ask_qty=float(self.askQty),
        )


@dataclass(frozen=True, slots=True)
class PremiumIndex:
    """GET /fapi/v1/premiumIndex: mark price and funding."""

    symbol: str
    markPrice: Decimal
    indexPrice: Decimal
    lastFundingRate: Decimal
    nextFundingTime: int
    time: int

    @classmethod
    def parse(cls, payload: Any) -> PremiumIndex:
        kind = "premiumIndex"
        d = _obj(payload, kind)
        return cls(
            symbol=_str(d, "symbol", kind),
            markPrice=_dec(d, "markPrice", kind),
            indexPrice=_dec(d, "indexPrice", kind),
            # Empty for symbols without funding (delivery contracts).
            lastFundingRate=_dec(d, "lastFundingRate", kind, ZERO),
            nextFundingTime=_int(d, "nextFundingTime", kind, 0),
            time=_int(d, "time", kind),
        )


@dataclass(frozen=True, slots=True)
class Ticker24h:
    """GET /fapi/v1/ticker/24hr row: the rolling 24 h statistics used to pick the universe."""

    symbol: str
    priceChangePercent: Decimal
    lastPrice: Decimal
    highPrice: Decimal
    lowPrice: Decimal
    volume: Decimal  # base asset
    quoteVolume: Decimal  # USDT
    count: int  # trades
    closeTime: int

    @classmethod
    def parse(cls, payload: Any) -> Ticker24h:
        kind = "ticker/24hr"
        d = _obj(payload, kind)
        return cls(
            symbol=_str(d, "symbol", kind),
            priceChangePercent=_dec(d, "priceChangePercent", kind),
            lastPrice=_dec(d, "lastPrice", kind),
            highPrice=_dec(d, "highPrice", kind),
            lowPrice=_dec(d, "lowPrice", kind),
            volume=_dec(d, "volume", kind),
            quoteVolume=_dec(d, "quoteVolume", kind),
            count=_int(d, "count", kind, 0),
            closeTime=_int(d, "closeTime", kind),
        )

    @classmethod
    def parse_any(cls, payload: Any) -> list[Ticker24h]:
        """All symbols come as an array, one symbol as an object."""
        if isinstance(payload, dict):
            return [cls.parse(payload)]
        return _rows_of(payload, "ticker/24hr", cls.parse)


@dataclass(frozen=True, slots=True)
class Kline:
    """One row of GET /fapi/v1/klines: a positional array
    [openTime, open, high, low, close, volume, closeTime, quoteVolume, count, takerBuyBase,
    takerBuyQuote, ignore]."""

    openTime: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closeTime: int

    @classmethod
    def parse(cls, payload: Any) -> Kline:
        kind = "kline"
        if not isinstance(payload, list) or len(payload) < 7:
            raise SchemaError(kind, f"expected an array of at least 7 fields, got {payload!r}")
        named = dict(zip(_KLINE_FIELDS, payload, strict=False))
        row = cls(
            openTime=_int(named, "openTime", kind),
            open=_dec(named, "open", kind),
            high=_dec(named, "high", kind),
            low=_dec(named, "low", kind),
            close=_dec(named, "close", kind),
            volume=_dec(named, "volume", kind),
            closeTime=_int(named, "closeTime", kind),
        )
        if row.closeTime < row.openTime:
            raise SchemaError(kind, f"closeTime {row.closeTime} before openTime {row.openTime}")
        return row

    @classmethod
    def parse_list(cls, payload: Any) -> list[Kline]:
        rows = _rows_of(payload, "klines", cls.parse)
        for before, after in pairwise(rows):
            if after.openTime <= before.openTime:
                raise SchemaError("klines", f"rows out of order at openTime {after.openTime}")
        return rows

    def to_bar(self) -> Bar:
        return Bar(
            self.openTime,
            float(self.open),
            float(self.high),
            float(self.low),
            float(self.close),
            float(self.volume),
        )


_KLINE_FIELDS: Sequence[str] = ("openTime", "open", "high", "low", "close", "volume", "closeTime")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """An exchangeInfo.rateLimits entry."""

    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    """GET /fapi/v1/exchangeInfo, reduced to what the bot uses: filters and rate limits."""

    filters: dict[str, SymbolFilters]
    rateLimits: tuple[RateLimit, ...]

    @classmethod
    def parse(cls, payload: Any) -> ExchangeInfo:
        kind = "exchangeInfo"
        d = _obj(payload, kind)
        _rows(_field(d, "symbols", kind, _MISSING), kind)
        try:
            filters = filters_from_exchange_info(dict(d))
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise SchemaError(kind, f"bad symbol filters ({type(exc).__name__}: {exc})") from None
        limits = []
        for row in _rows(d.get("rateLimits", []), kind):
            r = _obj(row, kind)
            limits.append(
                RateLimit(
                    rateLimitType=_str(r, "rateLimitType", kind),
                    interval=_str(r, "interval", kind),
                    intervalNum=_int(r, "intervalNum", kind),
                    limit=_int(r, "limit", kind),
                )
            )
        return cls(filters=filters, rateLimits=tuple(limits))
