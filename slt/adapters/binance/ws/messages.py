"""Wire schemas and decoders for Binance USDT-M WebSocket frames.

Schemas keep Binance's one-letter field names so they can be checked against the docs line by
line; the cryptic ones are commented. Decoders raise `Malformed(kind)` for anything they cannot
trust, so a caller counts the kind and drops the frame instead of letting it reach a cache.

The bookTicker path is the hot one (hundreds of thousands of frames a second): it does one
`orjson.loads`, a few dict lookups and four `float()` calls, and only on failure walks the
message again (`classify_book_ticker`) to say precisely what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from slt.domain.account_events import (
    AccountEvent,
    AlgoOrderUpdate,
    AlgoStatus,
    BalanceChange,
    PositionUpdate,
)
from slt.domain.orders import Fill, OrderState, OrderStatus
from slt.domain.values import Quote, Side

INF = math.inf
# NamedTuple constructors are Python functions; building the tuple directly costs half as much,
# which matters twice per bookTicker frame.
_new = tuple.__new__
_loads = orjson.loads
Json = dict[str, Any]


class DropKind(StrEnum):
    """Why a frame was dropped; the stats count each kind separately."""

    NOT_JSON = "not_json"  # not JSON at all (text, binary garbage, empty frame)
    TRUNCATED = "truncated"  # JSON cut off mid-document
    NOT_OBJECT = "not_object"  # valid JSON but not an object (array, number, string)
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"  # e.g. a number or null where Binance sends a string
    EMPTY_VALUE = "empty_value"  # "" where a value is required
    BAD_VALUE = "bad_value"  # not a number / not a known enum value
    NON_FINITE = "non_finite"  # NaN or +-inf
    NON_POSITIVE = "non_positive"  # a price <= 0
    NEGATIVE_QTY = "negative_qty"
    CROSSED = "crossed"  # bid > ask
    UNKNOWN_EVENT = "unknown_event"  # an event type this decoder does not handle
    FOREIGN_MARKET = "foreign_market"  # `st` != 1: a COIN-M row on a merged all-market stream
    OUT_OF_ORDER = "out_of_order"  # update id not newer than the cached one (not malformed)


class Malformed(Exception):
    """A frame that must be dropped; `kind` says why."""

    def __init__(self, kind: DropKind, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else str(kind))
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# Frames and control replies


class ControlReply(NamedTuple):
    """Answer to SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS: `{"result":null,"id":1}`, or an error
    `{"code":2,"msg":"Invalid request: ...","id":1}` (`code` is None on success)."""

    id: int | None
    result: Any
    code: int | None
    msg: str


def load_frame(raw: bytes | str) -> Any:
    """`orjson.loads`, with decode errors turned into `Malformed(NOT_JSON | TRUNCATED)`."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Malformed(json_error_kind(raw, exc), exc.msg) from None


def json_error_kind(raw: bytes | str, exc: orjson.JSONDecodeError) -> DropKind:
    # A document that parses cleanly up to its very last byte was cut off, not garbage.
    text = raw.lstrip() if isinstance(raw, bytes) else raw.lstrip().encode()
    if text[:1] in (b"{", b"[") and exc.pos >= len(raw):
        return DropKind.TRUNCATED
    return DropKind.NOT_JSON


def control_reply(msg: Json) -> ControlReply | None:
    """The reply if `msg` is one, else None."""
    if "result" in msg and "id" in msg:
        return ControlReply(msg["id"], msg["result"], None, "")
    if "code" in msg and "msg" in msg and "e" not in msg:
        return ControlReply(msg.get("id"), None, msg["code"], str(msg["msg"]))
    return None


def unwrap(msg: Any) -> Json:
    """The payload of a frame: combined streams wrap it as `{"stream": name, "data": payload}`,
    raw streams (`/ws/...`) send it bare."""
    if type(msg) is not dict:
        raise Malformed(DropKind.NOT_OBJECT)
    data = msg.get("data", msg) if "stream" in msg else msg
    if type(data) is not dict:
        raise Malformed(DropKind.NOT_OBJECT if data is not None else DropKind.MISSING_FIELD)
    return data


# ---------------------------------------------------------------------------------------------
# Market streams


class BookTicker(NamedTuple):
    """One accepted `<symbol>@bookTicker` update: the quote plus Binance's sequencing fields."""

    quote: Quote  # ts_ms = T (else E, else recv_ms for generations without them)
    u: int  # order-book update id: strictly increasing per symbol
    E: int  # event time (ms), 0 if the generation did not send it
    T: int  # transaction time (ms), 0 if the generation did not send it
    recv_ms: int  # local receive time, from the Clock port


def decode_ticker_frame(raw: bytes | str, recv_ms: int) -> BookTicker | ControlReply:
    """Decode one frame of a bookTicker connection (combined or raw form), statelessly."""
    return BookTickerDecoder().decode(raw, recv_ms)


class BookTickerDecoder:
    """Decodes the frames of bookTicker connections, remembering the last four strings of each
    symbol with their floats: comparing a string is several times cheaper than parsing it, and
    most of them repeat. In a 2023 BTCUSDT capture both best prices were unchanged in 99% of
    consecutive updates, and an update changes one side's quantity, not both (the other one
    repeats). The floats are the same either way."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # symbol -> [b, bid, a, ask, B, bid_qty, A, ask_qty], updated in place
        self._last: dict[str, list[Any]] = {}

    def decode(self, raw: bytes | str, recv_ms: int) -> BookTicker | ControlReply:
        try:
            msg = _loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Malformed(json_error_kind(raw, exc), exc.msg) from None
        # Fast path, for a well-formed combined-stream bookTicker: the checks of
        # decode_book_ticker, inlined because this runs for every frame. Anything unusual
        # falls through to the general path, which also says what was wrong.
        try:
            d = msg["data"]
            if d["e"] == "bookTicker":
                s = d["s"]
                u = d["u"]
                b = d["b"]
                bq = d["B"]
                a = d["a"]
                aq = d["A"]
                # USDT-M frames carry both times; a generation without them takes the
                # general path.
                e_ms = d["E"]
                t_ms = d["T"]
                if (
                    type(s) is str
                    and type(u) is int
                    and type(b) is str
                    and type(a) is str
                    and type(bq) is str
                    and type(aq) is str
                    and type(e_ms) is int
                    and type(t_ms) is int
                    and s
                    and ("st" not in d or d["st"] == 1)
                ):
                    last = self._last.get(s)
                    if last is None:
                        last = self._last[s] = [None] * 8
                    if last[0] == b and last[2] == a:
                        bid = last[1]
                        ask = last[3]
                    else:
                        bid = float(b)
                        ask = float(a)
                        last[0:4] = b, bid, a, ask
                    if last[4] == bq:
                        bid_qty = last[5]
                    else:
                        bid_qty = last[5] = float(bq)
                        last[4] = bq
                    if last[6] == aq:
                        ask_qty = last[7]
                    else:
                        ask_qty = last[7] = float(aq)
                        last[6] = aq
                    if 0.0 < bid <= ask < INF and 0.0 <= bid_qty < INF and 0.0 <= ask_qty < INF:
                        ts = t_ms or e_ms or recv_ms
                        quote = _new(Quote, (s, ts, bid, bid_qty, ask, ask_qty))
                        return _new(BookTicker, (quote, u, e_ms, t_ms, recv_ms))
        except (KeyError, TypeError, ValueError):
            pass
        return _decode_ticker_message(msg, recv_ms)


def _decode_ticker_message(msg: Any, recv_ms: int) -> BookTicker | ControlReply:
    if type(msg) is not dict:
        raise Malformed(DropKind.NOT_OBJECT)
    data = msg.get("data")
    if data is None:
        if "e" not in msg:
            reply = control_reply(msg)
            if reply is not None:
                return reply
        data = msg
    elif type(data) is not dict:
        raise Malformed(DropKind.NOT_OBJECT)
    e = data.get("e")
    # A spot-style generation sends the same fields without `e`/`E`/`T`.
    if e == "bookTicker" or (e is None and "u" in data and "b" in data):
        return decode_book_ticker(data, recv_ms)
    raise Malformed(DropKind.UNKNOWN_EVENT if e is not None else DropKind.MISSING_FIELD)


def decode_book_ticker(d: Json, recv_ms: int) -> BookTicker:
    """bookTicker fields: `s` symbol, `u` update id, `b`/`B` best bid price/qty, `a`/`A` best
    ask price/qty (all four decimal strings), `E` event time, `T` transaction time, and since
    2025 `st` symbol type (1 = USDT-M) and `ps` pair."""
    try:
        s = d["s"]
        u = d["u"]
        b = d["b"]
        bq = d["B"]
        a = d["a"]
        aq = d["A"]
        e_ms = d.get("E", 0)
        t_ms = d.get("T", 0)
        if (
            type(s) is str
            and type(u) is int
            and type(b) is str
            and type(a) is str
            and type(bq) is str
            and type(aq) is str
            and type(e_ms) is int
            and type(t_ms) is int
            and s
            and d.get("st", 1) == 1
        ):
            bid = float(b)
            ask = float(a)
            bid_qty = float(bq)
            ask_qty = float(aq)
            # Chained comparisons are False for NaN, so NaN needs no test of its own.
            if 0.0 < bid <= ask < INF and 0.0 <= bid_qty < INF and 0.0 <= ask_qty < INF:
                quote = _new(Quote, (s, t_ms or e_ms or recv_ms, bid, bid_qty, ask, ask_qty))
                return _new(BookTicker, (quote, u, e_ms, t_ms, recv_ms))
    except (KeyError, ValueError):
        pass
    raise Malformed(classify_book_ticker(d))


def classify_book_ticker(d: Json) -> DropKind:
    """Why `decode_book_ticker` refused `d` (slow path, runs only for bad frames)."""
    for key in ("s", "u", "b", "B", "a", "A"):
        if key not in d:
            return DropKind.MISSING_FIELD
    if type(d["u"]) is not int or any(
        k in d and type(d[k]) is not int for k in ("E", "T")
    ):
        return DropKind.WRONG_TYPE
    for key in ("s", "b", "B", "a", "A"):
        if type(d[key]) is not str:
            return DropKind.WRONG_TYPE
        if not d[key]:
            return DropKind.EMPTY_VALUE
    if d.get("st", 1) != 1:
        return DropKind.FOREIGN_MARKET
    try:
        bid, bid_qty, ask, ask_qty = (float(d[k]) for k in ("b", "B", "a", "A"))
    except ValueError:
        return DropKind.BAD_VALUE
    if not all(math.isfinite(x) for x in (bid, bid_qty, ask, ask_qty)):
        return DropKind.NON_FINITE
    if bid <= 0.0 or ask <= 0.0:
        return DropKind.NON_POSITIVE
    if bid_qty < 0.0 or ask_qty < 0.0:
        return DropKind.NEGATIVE_QTY
    return DropKind.CROSSED


@dataclass(frozen=True, slots=True)
class MarkPrice:
    """`markPriceUpdate` (`<symbol>@markPrice[@1s]`, route /market)."""

    E: int  # event time
    s: str
    p: Decimal  # mark price
    i: Decimal | None  # index price (absent in the 2019 generation)
    P: Decimal | None  # estimated settle price, only meaningful in the last hour before settlement
    r: Decimal  # funding rate
    T: int  # next funding time (0 for delivery contracts)


def decode_mark_price(d: Json) -> MarkPrice:
    return MarkPrice(
        E=_int(d, "E"), s=_str(d, "s"), p=_dec(d, "p"), i=_opt_dec(d, "i"), P=_opt_dec(d, "P"),
        r=_dec(d, "r"), T=_int(d, "T"),
    )


@dataclass(frozen=True, slots=True)
class Kline:
    """`kline` (`<symbol>@kline_<interval>`, route /market); the fields of its `k` object."""

    E: int
    s: str
    t: int  # candle open time
    T: int  # candle close time
    i: str  # interval, e.g. "1m"
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 - Binance's name for the low
    c: Decimal
    v: Decimal  # base-asset volume
    n: int  # number of trades
    x: bool  # candle closed: only closed candles are final
    q: Decimal  # quote-asset volume


def decode_kline(d: Json) -> Kline:
    k = d.get("k")
    if type(k) is not dict:
        raise Malformed(DropKind.MISSING_FIELD if k is None else DropKind.WRONG_TYPE, "k")
    return Kline(
        E=_int(d, "E"), s=_str(d, "s"), t=_int(k, "t"), T=_int(k, "T"), i=_str(k, "i"),
        o=_dec(k, "o"), h=_dec(k, "h"), l=_dec(k, "l"), c=_dec(k, "c"), v=_dec(k, "v"),
        n=_int(k, "n"), x=_bool(k, "x"), q=_dec(k, "q"),
    )


MarketEvent = BookTicker | MarkPrice | Kline


def decode_market_event(msg: Any, recv_ms: int) -> MarketEvent:
    """Any handled market payload (bookTicker, markPriceUpdate, kline), enveloped or bare."""
    data = unwrap(msg)
    e = data.get("e")
    if e == "bookTicker" or (e is None and "u" in data and "b" in data):
        return decode_book_ticker(data, recv_ms)
    decoder = MARKET_DECODERS.get(e) if type(e) is str else None
    if decoder is None:
        raise Malformed(DropKind.UNKNOWN_EVENT if e is not None else DropKind.MISSING_FIELD)
    return decoder(data)


# ---------------------------------------------------------------------------------------------
# User data stream


@dataclass(frozen=True, slots=True)
class OrderFields:
    """The `o` object of ORDER_TRADE_UPDATE. Portfolio-margin accounts omit `wt`, `ot`, `cp`,
    `pP`, `si`, `ss`, so nothing here depends on them."""

    s: str  # symbol
    c: str  # client order id (`autoclose-...` for a liquidation, `adl_autoclose` for ADL)
    S: str  # side
    o: str  # order type
    x: str  # execution type: NEW, TRADE, CANCELED, EXPIRED, CALCULATED (liquidation), AMENDMENT
    X: str  # order status after this event
    i: int  # exchange order id
    q: Decimal  # original quantity
    p: Decimal  # price
    ap: Decimal  # average fill price
    z: Decimal  # cumulative filled quantity
    l: Decimal  # noqa: E741 - last filled quantity (this trade)
    L: Decimal  # last fill price
    n: Decimal  # commission of this trade, in asset N (0 when Binance sends none)
    N: str | None  # commission asset; not always USDT (BNB fee discount)
    T: int  # trade time
    t: int  # trade id (0 when the event is not a trade)
    m: bool  # this trade was the maker side
    R: bool  # reduce-only
    ps: str  # position side: BOTH (one-way) / LONG / SHORT (hedge)
    rp: Decimal  # realized profit of this trade, before fees
    er: int  # expiry reason code (2025-10-23+), see EXPIRY_REASONS


@dataclass(frozen=True, slots=True)
class OrderTradeUpdate:
    E: int  # event time
    T: int  # transaction time
    o: OrderFields
    fs: str | None = None  # "UM" on portfolio-margin accounts


@dataclass(frozen=True, slots=True)
class BalanceEntry:
    a: str  # asset
    wb: Decimal  # wallet balance
    cw: Decimal  # cross wallet balance
    bc: Decimal  # balance change except PnL and commission


@dataclass(frozen=True, slots=True)
class PositionEntry:
    s: str
    pa: Decimal  # position amount, signed (negative = short)
    ep: Decimal  # entry price
    bep: Decimal  # breakeven price
    cr: Decimal  # accumulated realized PnL, before fees
    up: Decimal  # unrealized PnL
    mt: str  # margin type (isolated / cross); absent on portfolio-margin -> ""
    iw: Decimal  # isolated wallet
    ps: str  # position side


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """ACCOUNT_UPDATE. Only changed balances/positions are sent; a cross FUNDING_FEE carries only
    balances. `m`, `B`, `P` (and `S`, the symbol of a FUNDING_FEE) live under `a` on the wire."""

    E: int
    T: int
    m: str  # reason: ORDER, FUNDING_FEE, DEPOSIT, ...
    B: tuple[BalanceEntry, ...]
    P: tuple[PositionEntry, ...]
    fs: str | None = None
    S: str = ""  # the symbol a balance change is about (FUNDING_FEE); "" when not sent


@dataclass(frozen=True, slots=True)
class AlgoFields:
    """The `o` object of ALGO_UPDATE (conditional orders, since 2025-12-09)."""

    caid: str  # client algo id
    aid: int  # algo id
    at: str  # algo type (CONDITIONAL)
    o: str  # order type (STOP_MARKET, TAKE_PROFIT_MARKET, ...)
    s: str
    S: str
    ps: str
    q: Decimal
    tp: Decimal  # trigger price
    p: Decimal
    X: str  # algo status: NEW, CANCELED, TRIGGERING, TRIGGERED, FINISHED, REJECTED, EXPIRED
    R: bool  # reduce-only
    ai: str  # matching-engine order id once triggered ("" before)
    ap: Decimal  # average price of the triggered order
    aq: Decimal  # executed quantity of the triggered order
    tt: int  # trigger time (0 before)
    rm: str  # fail reason


@dataclass(frozen=True, slots=True)
class AlgoUpdate:
    E: int
    T: int
    o: AlgoFields
    fs: str | None = None


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    """No event follows on this connection until a new key is in use; the socket stays open."""

    E: int
    listenKey: str


@dataclass(frozen=True, slots=True)
class TradeLite:
    """TRADE_LITE: a low-latency copy of a TRADE without fee, realized PnL or order status. The
    same fill also arrives as ORDER_TRADE_UPDATE, which is what becomes a `Fill`."""

    E: int
    T: int
    s: str
    c: str
    S: str
    l: Decimal  # noqa: E741 - last filled quantity
    L: Decimal  # last fill price
    t: int
    i: int
    m: bool


@dataclass(frozen=True, slots=True)
class OtherUserEvent:
    """A user-data event this adapter knows but does not act on (MARGIN_CALL, ...)."""

    e: str
    E: int


UserEvent = (
    OrderTradeUpdate | AccountUpdate | AlgoUpdate | ListenKeyExpired | TradeLite | OtherUserEvent
)


def decode_user_frame(raw: bytes | str) -> UserEvent | ControlReply:
    msg = load_frame(raw)
    if type(msg) is dict and "stream" not in msg:
        reply = control_reply(msg)
        if reply is not None:
            return reply
    return decode_user_event(msg)


def decode_user_event(msg: Any) -> UserEvent:
    data = unwrap(msg)
    e = data.get("e")
    if type(e) is not str:
        raise Malformed(DropKind.MISSING_FIELD if e is None else DropKind.WRONG_TYPE, "e")
    decoder = USER_DECODERS.get(e)
    if decoder is not None:
        return decoder(data)
    if e in IGNORED_USER_EVENTS:
        return OtherUserEvent(e, _int(data, "E"))
    raise Malformed(DropKind.UNKNOWN_EVENT, e)


def decode_order_trade_update(d: Json) -> OrderTradeUpdate:
    o = _obj(d, "o")
    fields = OrderFields(
        s=_str(o, "s"), c=_str(o, "c", allow_empty=True), S=_str(o, "S"), o=_str(o, "o", ""),
        x=_str(o, "x"), X=_str(o, "X"), i=_int(o, "i"),
        q=_dec(o, "q", 0), p=_dec(o, "p", 0), ap=_dec(o, "ap", 0), z=_dec(o, "z", 0),
        l=_dec(o, "l", 0), L=_dec(o, "L", 0), n=_dec(o, "n", 0), N=_opt_str(o, "N"),
        T=_int(o, "T", 0), t=_int(o, "t", 0), m=_bool(o, "m", False), R=_bool(o, "R", False),
        ps=_str(o, "ps", "BOTH"), rp=_dec(o, "rp", 0), er=_code(o, "er"),
    )
    if fields.z < 0 or fields.q < 0:
        raise Malformed(DropKind.NEGATIVE_QTY, "z" if fields.z < 0 else "q")
    if fields.x in EXECUTIONS:
        _check_trade(o, fields)
    return OrderTradeUpdate(E=_int(d, "E"), T=_int(d, "T", 0), o=fields, fs=_opt_str(d, "fs"))


def _check_trade(o: Json, f: OrderFields) -> None:
    for key in ("l", "L", "t", "T"):
        if key not in o:
            raise Malformed(DropKind.MISSING_FIELD, key)
    if f.t <= 0:
        raise Malformed(DropKind.BAD_VALUE, "t")
    if f.l <= 0 or f.L <= 0:
        raise Malformed(DropKind.NON_POSITIVE, "l/L")


def decode_account_update(d: Json) -> AccountUpdate:
    a = _obj(d, "a")
    balances = tuple(
        BalanceEntry(a=_str(b, "a"), wb=_dec(b, "wb"), cw=_dec(b, "cw", 0), bc=_dec(b, "bc", 0))
        for b in _objs(a, "B")
    )
    positions = tuple(
        PositionEntry(
            s=_str(p, "s"), pa=_dec(p, "pa"), ep=_dec(p, "ep", 0), bep=_dec(p, "bep", 0),
            cr=_dec(p, "cr", 0), up=_dec(p, "up", 0), mt=_str(p, "mt", ""), iw=_dec(p, "iw", 0),
            ps=_str(p, "ps", "BOTH"),
        )
        for p in _objs(a, "P")
    )
    return AccountUpdate(
        E=_int(d, "E"), T=_int(d, "T", 0), m=_str(a, "m", ""), B=balances, P=positions,
        fs=_opt_str(d, "fs"), S=_str(a, "S", "", allow_empty=True),
    )


def decode_algo_update(d: Json) -> AlgoUpdate:
    o = _obj(d, "o")
    ai = o.get("ai")
    fields = AlgoFields(
        caid=_str(o, "caid", allow_empty=True), aid=_int(o, "aid"), at=_str(o, "at", ""),
        o=_str(o, "o", ""), s=_str(o, "s"), S=_str(o, "S"), ps=_str(o, "ps", "BOTH"),
        q=_dec(o, "q", 0), tp=_dec(o, "tp", 0), p=_dec(o, "p", 0), X=_str(o, "X"),
        R=_bool(o, "R", False), ai="" if ai in (None, "", 0) else str(ai),
        ap=_dec(o, "ap", 0), aq=_dec(o, "aq", 0), tt=_int(o, "tt", 0),
        rm=_str(o, "rm", "", allow_empty=True),
    )
    return AlgoUpdate(E=_int(d, "E"), T=_int(d, "T", 0), o=fields, fs=_opt_str(d, "fs"))


def decode_listen_key_expired(d: Json) -> ListenKeyExpired:
    return ListenKeyExpired(E=_int(d, "E"), listenKey=_str(d, "listenKey", "", allow_empty=True))


def decode_trade_lite(d: Json) -> TradeLite:
    return TradeLite(
        E=_int(d, "E"), T=_int(d, "T"), s=_str(d, "s"), c=_str(d, "c", allow_empty=True),
        S=_str(d, "S"), l=_dec(d, "l"), L=_dec(d, "L"), t=_int(d, "t"), i=_int(d, "i"),
        m=_bool(d, "m", False),
    )


# ---------------------------------------------------------------------------------------------
# Wire -> domain


# X (order status) -> domain status. EXPIRED_IN_MATCH is an expiry by self-trade prevention;
# NEW_INSURANCE / NEW_ADL are the liquidation statuses of older generations.
ORDER_STATUS: Mapping[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
    "NEW_INSURANCE": OrderStatus.NEW,
    "NEW_ADL": OrderStatus.NEW,
}

# `er` of ORDER_TRADE_UPDATE (added 2025-10-23).
EXPIRY_REASONS: Mapping[int, str] = {
    1: "SELF_TRADE_PREVENTION",
    2: "IOC_REMAINDER",
    3: "IOC_SELF_TRADE_PREVENTION",
    4: "REDUCE_ONLY_KNOCKED_OUT",
    5: "LIQUIDATION",
    6: "GTE_CONDITION",
    7: "DELISTED",
    8: "STOP_TRIGGERED",
    9: "MARKET_REMAINDER",
}


# `x` values that carry a trade. CALCULATED is the exchange closing the position itself.
EXECUTIONS = frozenset({"TRADE", "CALCULATED"})

# Client ids the exchange gives the orders it sends on its own (BINANCE.md §5).
CLOSED_BY_EXCHANGE: tuple[tuple[str, str], ...] = (
    ("autoclose-", "LIQUIDATION"),
    ("adl_autoclose", "ADL"),
    ("settlement_autoclose-", "SETTLEMENT"),
)


def order_status(x: str) -> OrderStatus:
    try:
        return ORDER_STATUS[x]
    except KeyError:
        raise Malformed(DropKind.BAD_VALUE, f"X={x}") from None


def to_order_state(u: OrderTradeUpdate) -> OrderState:
    o = u.o
    if o.X == "EXPIRED_IN_MATCH":
        reason = o.X
    elif o.er:
        reason = EXPIRY_REASONS.get(o.er, f"er={o.er}")
    elif o.x in ("CALCULATED", "AMENDMENT"):
        reason = o.x
    else:
        reason = ""
    return OrderState(
        client_id=o.c, symbol=o.s, status=order_status(o.X), filled_qty=o.z, avg_price=o.ap,
        exchange_id=str(o.i), reason=reason,
    )


def is_execution(u: OrderTradeUpdate) -> bool:
    """True when the update carries a trade: the bot's, another client's, or the exchange's own
    closing of the position (liquidation, ADL, settlement: x=CALCULATED)."""
    return u.o.x in EXECUTIONS


def exec_type(o: OrderFields) -> str:
    """TRADE, or who closed the position when the exchange did it (Fill.exec_type)."""
    for prefix, kind in CLOSED_BY_EXCHANGE:
        if o.c.startswith(prefix):
            return kind
    return "LIQUIDATION" if o.x == "CALCULATED" else "TRADE"


def to_fill(u: OrderTradeUpdate, fee: Decimal | None = None) -> Fill:
    """The fill of an execution. `fee` overrides `n` once converted to USDT by the caller
    (Binance charges in BNB when the BNB fee discount is on); unconverted, the fee stays in its
    own asset and says so (`fee_asset`)."""
    o = u.o
    try:
        side = Side(o.S)
    except ValueError:
        raise Malformed(DropKind.BAD_VALUE, f"S={o.S}") from None
    fee_asset = "USDT" if fee is not None or not o.N else o.N
    return Fill(
        symbol=o.s, client_id=o.c, trade_id=o.t, side=side, qty=o.l, price=o.L,
        fee=o.n if fee is None else fee, realized_pnl=o.rp, ts_ms=o.T,
        order_status=order_status(o.X), reduce_only=o.R, is_maker=o.m,
        exec_type=exec_type(o), fee_asset=fee_asset,
    )


def to_account_events(u: AccountUpdate) -> list[AccountEvent]:
    """One PositionUpdate per one-way position row, then one BalanceChange per balance row that
    moved outside fills (`bc` != 0: funding fees, adjustments, insurance clear). Hedge-mode rows
    (`ps` LONG/SHORT) are left out: the bot refuses to trade in hedge mode."""
    ts = u.T or u.E
    events: list[AccountEvent] = [
        PositionUpdate(p.s, p.pa, p.ep, u.m, ts) for p in u.P if p.ps == "BOTH"
    ]
    events.extend(BalanceChange(b.a, b.bc, u.m, u.S, ts) for b in u.B if b.bc != 0)
    return events


def to_algo_update(u: AlgoUpdate) -> AlgoOrderUpdate:
    o = u.o
    try:
        status = AlgoStatus(o.X)
    except ValueError:
        raise Malformed(DropKind.BAD_VALUE, f"X={o.X}") from None
    return AlgoOrderUpdate(o.caid, o.s, status, o.rm, u.T or u.E)


# ---------------------------------------------------------------------------------------------
# Field readers for the non-hot paths: each raises Malformed with the precise kind.

_MISSING: Any = object()


def _get(d: Json, key: str, default: Any) -> Any:
    v = d.get(key, _MISSING)
    if v is _MISSING or v is None:
        if default is _MISSING:
            raise Malformed(DropKind.MISSING_FIELD, key)
        return default
    return v


def _str(d: Json, key: str, default: Any = _MISSING, *, allow_empty: bool = False) -> str:
    v = _get(d, key, default)
    if type(v) is not str:
        raise Malformed(DropKind.WRONG_TYPE, key)
    if not v and not allow_empty and default is _MISSING:
        raise Malformed(DropKind.EMPTY_VALUE, key)
    return v


def _opt_str(d: Json, key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if type(v) is not str:
        raise Malformed(DropKind.WRONG_TYPE, key)
    return v


def _int(d: Json, key: str, default: Any = _MISSING) -> int:
    v = _get(d, key, default)
    if type(v) is not int:
        raise Malformed(DropKind.WRONG_TYPE, key)
    return v


def _code(d: Json, key: str) -> int:
    """A small code Binance may print as a number or as a numeric string (`er`)."""
    v = d.get(key)
    if v is None or v == "":
        return 0
    if type(v) is int:
        return v
    if type(v) is str and v.isascii() and v.isdigit():
        return int(v)
    raise Malformed(DropKind.WRONG_TYPE, key)


def _bool(d: Json, key: str, default: Any = _MISSING) -> bool:
    v = _get(d, key, default)
    if type(v) is not bool:
        raise Malformed(DropKind.WRONG_TYPE, key)
    return v


def _dec(d: Json, key: str, default: Any = _MISSING) -> Decimal:
    v = _get(d, key, default)
    t = type(v)
    if t is str:
        if not v:
            if default is _MISSING:
                raise Malformed(DropKind.EMPTY_VALUE, key)
            return Decimal(default)
        try:
            out = Decimal(v)
        except InvalidOperation:
            raise Malformed(DropKind.BAD_VALUE, key) from None
    elif t is int:
        out = Decimal(v)
    elif t is float:
        # Portfolio-margin ACCOUNT_UPDATE sends `bep` as a JSON number: repr() gives back the
        # shortest decimal that round-trips, i.e. what the exchange printed.
        out = Decimal(repr(v))
    else:
        raise Malformed(DropKind.WRONG_TYPE, key)
    if not out.is_finite():
        raise Malformed(DropKind.NON_FINITE, key)
    return out


def _opt_dec(d: Json, key: str) -> Decimal | None:
    return None if d.get(key) is None else _dec(d, key)


def _obj(d: Json, key: str) -> Json:
    v = _get(d, key, _MISSING)
    if type(v) is not dict:
        raise Malformed(DropKind.WRONG_TYPE, key)
    return v


def _objs(d: Json, key: str) -> list[Json]:
    v = _get(d, key, [])
    if type(v) is not list or any(type(x) is not dict for x in v):
        raise Malformed(DropKind.WRONG_TYPE, key)
    return v


# ---------------------------------------------------------------------------------------------
# Routing tables

MARKET_DECODERS: Mapping[str, Callable[[Json], MarketEvent]] = {
    "markPriceUpdate": decode_mark_price,
    "kline": decode_kline,
}

USER_DECODERS: Mapping[str, Callable[[Json], UserEvent]] = {
    "ORDER_TRADE_UPDATE": decode_order_trade_update,
    "ACCOUNT_UPDATE": decode_account_update,
    "ALGO_UPDATE": decode_algo_update,
    "listenKeyExpired": decode_listen_key_expired,
    "TRADE_LITE": decode_trade_lite,
}

# Known user-data events this adapter does not act on; anything else counts as unknown.
IGNORED_USER_EVENTS = frozenset({
    "MARGIN_CALL",
    "ACCOUNT_CONFIG_UPDATE",
    "STRATEGY_UPDATE",
    "GRID_UPDATE",
    "CONDITIONAL_ORDER_TRIGGER_REJECT",
    # portfolio-margin account events
    "riskLevelChange",
    "openOrderLoss",
    "liabilityChange",
    "outboundAccountPosition",
    "balanceUpdate",
})
