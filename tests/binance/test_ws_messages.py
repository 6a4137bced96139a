"""Recorded Binance WebSocket payloads through the production decoders, and everything a frame
can get wrong (each kind counted, the cache untouched)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from slt.adapters.binance.ws.market import BinanceQuoteFeed
from slt.adapters.binance.ws.messages import (
    AccountUpdate,
    AlgoUpdate,
    BookTicker,
    BookTickerDecoder,
    ControlReply,
    DropKind,
    Kline,
    ListenKeyExpired,
    Malformed,
    MarkPrice,
    OrderTradeUpdate,
    OtherUserEvent,
    TradeLite,
    decode_market_event,
    decode_ticker_frame,
    decode_user_event,
    decode_user_frame,
    to_fill,
    to_order_state,
)
from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.orders import OrderStatus
from slt.domain.values import Quote, Side

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance_ws"
SHARED = Path("/work/shared/data/binance/ws")

MARKET_TYPES: dict[str, type] = {"bookTicker": BookTicker, "markPriceUpdate": MarkPrice,
                                 "kline": Kline}
UNHANDLED_MARKET = {"aggTrade", "trade", "depthUpdate"}
USER_TYPES: dict[str, type] = {
    "ORDER_TRADE_UPDATE": OrderTradeUpdate, "ACCOUNT_UPDATE": AccountUpdate,
    "ALGO_UPDATE": AlgoUpdate, "listenKeyExpired": ListenKeyExpired, "TRADE_LITE": TradeLite,
    "MARGIN_CALL": OtherUserEvent,
}


def messages(path: Path) -> Iterator[Any]:
    """The WebSocket messages of one file (REST snapshots interleaved in captures skipped)."""
    if path.suffix == ".json":
        yield orjson.loads(path.read_bytes())
        return
    for line in path.read_bytes().splitlines():
        row = orjson.loads(line)
        if "msg" not in row:
            yield row  # bare user-data event
        elif "rest_url" not in row and "lastUpdateId" not in row["msg"]:
            yield row["msg"]


def event_type(msg: Any) -> str:
    data = msg["data"] if "stream" in msg else msg
    return str(data["e"])


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".json", ".jsonl"))


ALL_FILES = files(FIXTURES) + (files(SHARED) if SHARED.is_dir() else [])


def ids(p: Path) -> str:
    return ("shared/" if SHARED in p.parents else "") + p.name


def test_fixtures_cover_every_kind_the_brief_names() -> None:
    kinds = {event_type(m) for p in files(FIXTURES) for m in messages(p)}
    assert {"bookTicker", "markPriceUpdate", "kline", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE",
            "ALGO_UPDATE", "listenKeyExpired"} <= kinds


@pytest.mark.parametrize("path", ALL_FILES, ids=ids)
def test_every_recorded_payload_decodes(path: Path) -> None:
    seen = 0
    for msg in messages(path):
        e = event_type(msg)
        raw = orjson.dumps(msg)
        if e in USER_TYPES:
            user_event = decode_user_frame(raw)
            assert type(user_event) is USER_TYPES[e]
            check_user_event(user_event, msg["data"] if "stream" in msg else msg)
        elif e in MARKET_TYPES:
            market_event = decode_market_event(msg, recv_ms=1)
            assert type(market_event) is MARKET_TYPES[e]
            if e == "bookTicker":
                check_book_ticker(decode_ticker_frame(raw, 1), msg["data"] if "stream" in msg
                                  else msg)
        else:
            assert e in UNHANDLED_MARKET, e
            with pytest.raises(Malformed) as exc:
                decode_market_event(msg, recv_ms=1)
            assert exc.value.kind is DropKind.UNKNOWN_EVENT
        seen += 1
    assert seen > 0


def check_book_ticker(t: BookTicker | ControlReply, d: dict[str, Any]) -> None:
    assert isinstance(t, BookTicker)
    q = t.quote
    assert (q.symbol, q.bid, q.bid_qty, q.ask, q.ask_qty) == (
        d["s"], float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]))
    assert (t.u, t.E, t.T) == (d["u"], d.get("E", 0), d.get("T", 0))
    assert q.ts_ms == d.get("T") or d.get("E") or t.recv_ms


def check_user_event(event: Any, d: dict[str, Any]) -> None:
    if isinstance(event, OrderTradeUpdate):
        o = d["o"]
        state = to_order_state(event)
        assert (state.client_id, state.symbol, state.exchange_id) == (o["c"], o["s"], str(o["i"]))
        assert state.filled_qty == Decimal(o["z"])
        if o["x"] == "TRADE":
            fill = to_fill(event)
            assert (fill.symbol, fill.trade_id, fill.side) == (o["s"], o["t"], Side(o["S"]))
            assert (fill.qty, fill.price) == (Decimal(o["l"]), Decimal(o["L"]))
            assert fill.fee == Decimal(o.get("n") or 0)
            assert fill.realized_pnl == Decimal(o["rp"])
            assert (fill.ts_ms, fill.reduce_only, fill.is_maker) == (o["T"], o["R"], o["m"])
    elif isinstance(event, AccountUpdate):
        assert event.m == d["a"]["m"]
        assert [b.a for b in event.B] == [b["a"] for b in d["a"]["B"]]
        assert [(p.s, p.pa) for p in event.P] == [(p["s"], Decimal(p["pa"])) for p in d["a"]["P"]]


# -- specific generations and variants ------------------------------------------------------------


def load(rel: str) -> Any:
    return next(messages(FIXTURES / rel))


def test_book_ticker_generations() -> None:
    old = decode_ticker_frame(
        orjson.dumps(load("market/bookTicker__BTCUSDT__2021-02-01__tardis.json")), 7)
    new = decode_ticker_frame(
        orjson.dumps(load("synthetic/bookTicker__new-generation-st-ps__combined.json")), 7)
    raw = decode_ticker_frame(
        orjson.dumps(load("synthetic/bookTicker__raw-stream__no-envelope.json")), 7)
    assert old == BookTicker(Quote("BTCUSDT", 1612137603568, 33134.42, 0.17, 33139.39, 0.38),
                             185130926750, 1612137603571, 1612137603568, 7)
    assert isinstance(new, BookTicker) and new.quote.bid == 94012.30 and new.T == 1767225600121
    assert isinstance(raw, BookTicker) and raw.quote.symbol == "ETHUSDT"
    # the spot-style generation: no e/E/T, timestamped on arrival
    spot = decode_ticker_frame(b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000",'
                               b'"B":"31.21000000","a":"25.36520000","A":"40.66000000"}', 99)
    assert isinstance(spot, BookTicker) and (spot.quote.ts_ms, spot.E, spot.T) == (99, 0, 0)


def test_control_replies_are_not_quotes() -> None:
    assert decode_ticker_frame(b'{"result":null,"id":3}', 1) == ControlReply(3, None, None, "")
    err = decode_ticker_frame(b'{"code":2,"msg":"Invalid request: unknown stream","id":4}', 1)
    assert err == ControlReply(4, None, 2, "Invalid request: unknown stream")


def test_portfolio_margin_order_updates_become_fills_and_states() -> None:
    events = [decode_user_event(m) for m in messages(
        FIXTURES / "user/ORDER_TRADE_UPDATE__portfolio-margin-UM__NEW_FILLED_CANCELED.jsonl")]
    assert all(isinstance(e, OrderTradeUpdate) and e.fs == "UM" for e in events)
    trades = [e for e in events if isinstance(e, OrderTradeUpdate) and e.o.x == "TRADE"]
    assert len(trades) == 16
    fill = to_fill(trades[0])
    assert (fill.symbol, fill.client_id, fill.trade_id, fill.side) == (
        "WLDUSDT", "c-11WLU7VP2rj4ss0i", 648980369, Side.SELL)
    assert (fill.qty, fill.price, fill.order_status, fill.is_maker) == (
        Decimal(10), Decimal("2.0623000"), OrderStatus.FILLED, True)
    states = {to_order_state(e).status for e in events if isinstance(e, OrderTradeUpdate)}
    assert states == {OrderStatus.NEW, OrderStatus.FILLED, OrderStatus.CANCELED}


def test_portfolio_margin_account_update_with_numeric_breakeven() -> None:
    first = decode_user_event(next(messages(
        FIXTURES / "user/ACCOUNT_UPDATE__portfolio-margin-UM__reason_ORDER.jsonl")))
    assert isinstance(first, AccountUpdate) and first.fs == "UM"
    pos = first.P[0]
    assert (pos.s, pos.pa, pos.bep, pos.mt, pos.iw) == (
        "WLDUSDT", Decimal(-10), Decimal("2.0623"), "", Decimal(0))


def test_expiry_reason_and_expired_in_match() -> None:
    u = decode_user_event(load("synthetic/ORDER_TRADE_UPDATE__EXPIRED_IN_MATCH__stp.json"))
    assert isinstance(u, OrderTradeUpdate) and u.o.er == 1
    state = to_order_state(u)
    assert (state.status, state.reason) == (OrderStatus.EXPIRED, "EXPIRED_IN_MATCH")


def test_algo_update_before_and_after_trigger() -> None:
    new = decode_user_event(load("synthetic/ALGO_UPDATE__NEW__STOP_MARKET.json"))
    hit = decode_user_event(load("synthetic/ALGO_UPDATE__TRIGGERED__STOP_MARKET.json"))
    assert isinstance(new, AlgoUpdate) and isinstance(hit, AlgoUpdate)
    assert (new.o.X, new.o.ai, new.o.tp, new.o.R) == ("NEW", "", Decimal("92000.00"), True)
    assert (hit.o.X, hit.o.ai, hit.o.aq, hit.o.tt) == (
        "TRIGGERED", "812345679999", Decimal("0.010"), 1767229203000)


def test_user_event_in_stream_mode_envelope() -> None:
    u = decode_user_frame(orjson.dumps(
        load("synthetic/ORDER_TRADE_UPDATE__TRADE__stream-mode-envelope.json")))
    assert isinstance(u, OrderTradeUpdate)
    assert to_fill(u).fee == Decimal("0.26567600")


def test_a_fee_left_in_bnb_keeps_its_asset_and_a_converted_one_is_usdt() -> None:
    raw = load("synthetic/ORDER_TRADE_UPDATE__TRADE__stream-mode-envelope.json")
    raw["data"]["o"]["N"] = "BNB"
    u = decode_user_frame(orjson.dumps(raw))
    assert isinstance(u, OrderTradeUpdate)
    assert (to_fill(u).fee_asset, to_fill(u, Decimal("0.1")).fee_asset) == ("BNB", "USDT")


@pytest.mark.parametrize(("patch", "kind"), [
    ({"o": None}, DropKind.MISSING_FIELD),
    ({"o": "x"}, DropKind.WRONG_TYPE),
    ({"E": "1"}, DropKind.WRONG_TYPE),
    ({"o.s": ""}, DropKind.EMPTY_VALUE),
    ({"o.l": "abc"}, DropKind.BAD_VALUE),
    ({"o.L": "NaN"}, DropKind.NON_FINITE),
    ({"o.t": 0}, DropKind.BAD_VALUE),
    ({"o.l": "0"}, DropKind.NON_POSITIVE),
    ({"o.X": "WEIRD"}, DropKind.BAD_VALUE),
    ({"o.S": "UP"}, DropKind.BAD_VALUE),
    ({"e": "NEW_THING"}, DropKind.UNKNOWN_EVENT),
])
def test_malformed_user_events(patch: dict[str, Any], kind: DropKind) -> None:
    msg = load("synthetic/ORDER_TRADE_UPDATE__TRADE__BNB-commission.json")
    for key, value in patch.items():
        target, _, field = key.rpartition(".")
        obj = msg[target] if target else msg
        if value is None:
            del obj[field]
        else:
            obj[field] = value
    with pytest.raises(Malformed) as exc:
        u = decode_user_event(msg)
        assert isinstance(u, OrderTradeUpdate)
        to_order_state(u)
        to_fill(u)
    assert exc.value.kind is kind


# -- the bookTicker path through the feed: malformed table and update-id ordering -----------------


def bt(**fields: Any) -> bytes:
    data = {"e": "bookTicker", "u": 10, "s": "BTCUSDT", "b": "100.0", "B": "1.5", "a": "100.1",
            "A": "2.5", "T": 1_000, "E": 1_001}
    for k, v in fields.items():
        if v is ...:
            del data[k]
        else:
            data[k] = v
    return orjson.dumps({"stream": "btcusdt@bookTicker", "data": data})


GOOD = bt(u=10)

MALFORMED: list[tuple[str, bytes, DropKind]] = [
    ("empty frame", b"", DropKind.NOT_JSON),
    ("plain text", b"hello", DropKind.NOT_JSON),
    ("binary garbage", b"\xff\xfe\x00", DropKind.NOT_JSON),
    ("NaN literal", b'{"e":"bookTicker","b":NaN}', DropKind.NOT_JSON),
    ("trailing garbage", GOOD + b"x", DropKind.NOT_JSON),
    ("truncated", GOOD[:-7], DropKind.TRUNCATED),
    ("array", b"[1,2]", DropKind.NOT_OBJECT),
    ("number", b"42", DropKind.NOT_OBJECT),
    ("string", b'"x"', DropKind.NOT_OBJECT),
    ("data is a list", b'{"stream":"btcusdt@bookTicker","data":[1]}', DropKind.NOT_OBJECT),
    ("no event type", b'{"stream":"btcusdt@bookTicker","data":{"x":1}}', DropKind.MISSING_FIELD),
    *[(f"missing {k}", bt(**{k: ...}), DropKind.MISSING_FIELD) for k in "suBbAa"],
    ("u as string", bt(u="11"), DropKind.WRONG_TYPE),
    ("bid as number", bt(b=100.0), DropKind.WRONG_TYPE),
    ("bid null", bt(b=None), DropKind.WRONG_TYPE),
    ("bid bool", bt(b=True), DropKind.WRONG_TYPE),
    ("symbol as number", bt(s=1), DropKind.WRONG_TYPE),
    ("T as string", bt(T="1000"), DropKind.WRONG_TYPE),
    ("empty bid", bt(b=""), DropKind.EMPTY_VALUE),
    ("empty symbol", bt(s=""), DropKind.EMPTY_VALUE),
    ("bid not a number", bt(b="abc"), DropKind.BAD_VALUE),
    ("bid NaN", bt(b="NaN"), DropKind.NON_FINITE),
    ("ask inf", bt(a="inf"), DropKind.NON_FINITE),
    ("ask qty Infinity", bt(A="Infinity"), DropKind.NON_FINITE),
    ("zero bid", bt(b="0"), DropKind.NON_POSITIVE),
    ("negative ask", bt(a="-100.1"), DropKind.NON_POSITIVE),
    ("negative bid qty", bt(B="-1"), DropKind.NEGATIVE_QTY),
    ("crossed", bt(b="100.2"), DropKind.CROSSED),
    ("unknown event", bt(e="depthUpdate"), DropKind.UNKNOWN_EVENT),
    ("coin-m row", bt(st=2), DropKind.FOREIGN_MARKET),
]


def new_feed() -> tuple[SimulatedClock, BinanceQuoteFeed, list[Quote]]:
    clock = SimulatedClock(5_000)
    feed = BinanceQuoteFeed(clock, rng=random.Random(1))
    heard: list[Quote] = []
    feed.add_listener(heard.append)
    return clock, feed, heard


@pytest.mark.parametrize(("name", "frame", "kind"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_frame_is_counted_and_never_reaches_the_cache(
    name: str, frame: bytes, kind: DropKind
) -> None:
    clock, feed, heard = new_feed()
    feed.ingest(GOOD, clock.now_ms())
    before = feed.ticker("BTCUSDT")
    feed.ingest(frame, clock.now_ms())
    feed.ingest(frame.decode("utf-8", "replace") if frame else "", clock.now_ms())  # str frames
    stats = feed.stats()
    assert dict(stats.dropped) == {kind: 2}, name
    assert feed.ticker("BTCUSDT") is before
    assert len(heard) == 1 and stats.accepted == 1 and stats.messages == 3


def test_binary_garbage_as_str_is_still_counted() -> None:
    clock, feed, _ = new_feed()
    feed.ingest("\ufffd\ufffd", clock.now_ms())
    assert dict(feed.stats().dropped) == {DropKind.NOT_JSON: 1}


def test_update_ids_only_move_forward() -> None:
    clock, feed, heard = new_feed()
    feed.ingest(bt(u=10, b="100.0"), clock.now_ms())
    feed.ingest(bt(u=9, b="99.0"), clock.now_ms())  # late
    feed.ingest(bt(u=10, b="98.0"), clock.now_ms())  # duplicate id
    feed.ingest(bt(u=11, b="100.05"), clock.now_ms())
    t = feed.ticker("BTCUSDT")
    assert t is not None and (t.u, t.quote.bid) == (11, 100.05)
    assert [q.bid for q in heard] == [100.0, 100.05]
    assert dict(feed.stats().dropped) == {DropKind.OUT_OF_ORDER: 2}


def test_a_lower_update_id_after_a_stale_silence_is_a_restarted_book() -> None:
    clock, feed, _ = new_feed()
    feed.ingest(bt(u=1_000), clock.now_ms())
    clock.advance(clock.now_ms() + feed.cache.stale_after_ms + 1)
    feed.ingest(bt(u=5, b="99.5"), clock.now_ms())
    t = feed.ticker("BTCUSDT")
    assert t is not None and t.u == 5 and feed.stats().update_id_resets == 1


def test_a_recorded_session_fills_the_cache_in_order() -> None:
    clock, feed, heard = new_feed()
    path = FIXTURES / "captures/BTCUSDT__2024-07-18T2357Z__hftbacktest__first400.jsonl"
    frames = [orjson.dumps(m) for m in messages(path)]
    tickers = [m["data"] for m in messages(path) if m["data"]["e"] == "bookTicker"]
    for f in frames:
        feed.ingest(f, clock.now_ms())
    stats = feed.stats()
    assert stats.accepted == len(tickers) == len(heard)
    assert dict(stats.dropped) == {DropKind.UNKNOWN_EVENT: len(frames) - len(tickers)}
    last = feed.ticker("BTCUSDT")
    assert last is not None and last.u == tickers[-1]["u"]
    assert last.quote.bid == float(tickers[-1]["b"])


def test_the_string_memo_never_changes_what_is_decoded() -> None:
    """One long-lived decoder (which reuses the floats of unchanged price and quantity strings)
    against a fresh decoder per frame, over a recorded session interleaved with every malformed
    frame."""
    recorded = [orjson.dumps(m) for m in messages(
        FIXTURES / "captures/BTCUSDT__2023-04-04T2358Z__hftbacktest__first400.jsonl")]
    bad = [frame for _, frame, _ in MALFORMED]
    frames = [f for pair in zip(recorded, bad * 20, strict=False) for f in pair] + recorded
    frames += [bt(u=20, b="100.0", a="100.1"), bt(u=21, b="100.0", a="100.05"),
               bt(u=22, b="100.2", a="100.1"), bt(u=23, b="100.0", a="100.1"),
               bt(u=24, B="-1.5"), bt(u=25, B="-1.5", A="nan"), bt(u=26, A="nan"),
               bt(u=27, B="1.5", A="2.5")]
    memo = BookTickerDecoder()

    def outcome(decode: Callable[[bytes, int], Any], f: bytes) -> Any:
        try:
            return decode(f, 1)
        except Malformed as exc:
            return exc.kind

    assert [outcome(memo.decode, f) for f in frames] == [
        outcome(decode_ticker_frame, f) for f in frames]
