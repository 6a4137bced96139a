"""Fuzzing the WebSocket decoders: bookTicker (raw and combined stream), ORDER_TRADE_UPDATE,
ACCOUNT_UPDATE, ALGO_UPDATE, listenKeyExpired, and the quote feed's hot path.

The contract under test: a decoder raises `Malformed` (and nothing else) for anything it cannot
trust, and what it does return is sane: finite positive uncrossed quotes, finite Decimals,
non-negative quantities. Garbage fed to `BinanceQuoteFeed.ingest` never reaches its cache."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from fuzz_support import WS, dumps, finite_decimal_fields, json_values, load_json, mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slt.adapters.binance.ws.market import BinanceQuoteFeed
from slt.adapters.binance.ws.messages import (
    AccountUpdate,
    AlgoUpdate,
    BookTicker,
    BookTickerDecoder,
    ControlReply,
    ListenKeyExpired,
    Malformed,
    OrderTradeUpdate,
    decode_market_event,
    decode_ticker_frame,
    decode_user_frame,
    to_fill,
    to_order_state,
)
from slt.adapters.clocks.live import LiveClock
from slt.domain.values import Quote

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SYN = WS / "synthetic"
TICKER_COMBINED = load_json(SYN / "bookTicker__new-generation-st-ps__combined.json")
TICKER_RAW = load_json(SYN / "bookTicker__raw-stream__no-envelope.json")
USER_PAYLOADS = {
    "trade": load_json(SYN / "ORDER_TRADE_UPDATE__TRADE__BNB-commission.json"),
    "stp": load_json(SYN / "ORDER_TRADE_UPDATE__EXPIRED_IN_MATCH__stp.json"),
    "envelope": load_json(SYN / "ORDER_TRADE_UPDATE__TRADE__stream-mode-envelope.json"),
    "account": load_json(SYN / "ACCOUNT_UPDATE__FUNDING_FEE__cross.json"),
    "algo_new": load_json(SYN / "ALGO_UPDATE__NEW__STOP_MARKET.json"),
    "algo_triggered": load_json(SYN / "ALGO_UPDATE__TRIGGERED__STOP_MARKET.json"),
    "expired": load_json(SYN / "listenKeyExpired.json"),
}
PM_ACCOUNT = WS / "user/ACCOUNT_UPDATE__portfolio-margin-UM__reason_ORDER.jsonl"
USER_PAYLOADS["pm_account"] = json.loads(
    PM_ACCOUNT.read_text().splitlines()[0])
USER_BASES = list(USER_PAYLOADS.values())
TICKER_BASES = [TICKER_COMBINED, TICKER_RAW]

frames = st.binary(max_size=300) | st.text(max_size=300) | json_values.map(dumps)
ticker_frames = st.sampled_from(TICKER_BASES).flatmap(mutated).map(dumps)
user_frames = st.sampled_from(USER_BASES).flatmap(mutated).map(dumps)


def sane_quote(q: Quote) -> bool:
    return (
        isinstance(q.symbol, str) and bool(q.symbol)
        and all(isinstance(x, float) and math.isfinite(x)
                for x in (q.bid, q.ask, q.bid_qty, q.ask_qty))
        and 0.0 < q.bid <= q.ask and q.bid_qty >= 0.0 and q.ask_qty >= 0.0
    )


def check_ticker_result(result: BookTicker | ControlReply) -> None:
    if isinstance(result, BookTicker):
        assert sane_quote(result.quote), result
        assert type(result.u) is int


def check_user_result(result: Any) -> None:
    """Everything the decoders return is finite; wire -> domain refuses with Malformed only."""
    if isinstance(result, ControlReply):
        return
    assert finite_decimal_fields(result), result
    if isinstance(result, OrderTradeUpdate):
        assert finite_decimal_fields(result.o), result
        try:
            state = to_order_state(result)
        except Malformed:
            state = None
        if state is not None:
            assert state.filled_qty.is_finite() and state.avg_price.is_finite()
        if result.o.x == "TRADE":
            try:
                fill = to_fill(result)
            except Malformed:
                return
            assert finite_decimal_fields(fill), fill
            assert fill.qty > 0 and fill.price > 0, fill
    elif isinstance(result, AccountUpdate):
        assert all(finite_decimal_fields(b) for b in result.B)
        assert all(finite_decimal_fields(p) for p in result.P)
    elif isinstance(result, AlgoUpdate):
        assert finite_decimal_fields(result.o)
    elif isinstance(result, ListenKeyExpired):
        assert isinstance(result.listenKey, str)


def decode_or_malformed(decode: Any, raw: Any) -> Any:
    try:
        return decode(raw)
    except Malformed:
        return None


@FUZZ
@given(frames)
def test_ticker_decoders_survive_arbitrary_frames(raw: bytes | str) -> None:
    stateful = BookTickerDecoder()
    for decode in (lambda r: decode_ticker_frame(r, 1), lambda r: stateful.decode(r, 1)):
        result = decode_or_malformed(decode, raw)
        if result is not None:
            check_ticker_result(result)


@FUZZ
@given(st.lists(ticker_frames, min_size=1, max_size=6))
def test_ticker_decoders_refuse_mutated_recorded_frames(raws: list[bytes]) -> None:
    # A stateful decoder remembers price strings between frames: run a sequence through it.
    stateful = BookTickerDecoder()
    for raw in [dumps(TICKER_COMBINED), *raws]:
        for decode in (lambda r: decode_ticker_frame(r, 1), lambda r: stateful.decode(r, 1)):
            result = decode_or_malformed(decode, raw)
            if result is not None:
                check_ticker_result(result)


@FUZZ
@given(st.sampled_from(TICKER_BASES).flatmap(mutated) | json_values)
def test_market_event_decoder_on_mutated_objects(msg: Any) -> None:
    result = decode_or_malformed(lambda m: decode_market_event(m, 1), msg)
    if isinstance(result, BookTicker):
        assert sane_quote(result.quote)
    elif result is not None:
        assert finite_decimal_fields(result)


@FUZZ
@given(frames)
def test_user_decoder_survives_arbitrary_frames(raw: bytes | str) -> None:
    result = decode_or_malformed(decode_user_frame, raw)
    if result is not None:
        check_user_result(result)


@FUZZ
@given(user_frames)
def test_user_decoder_refuses_mutated_recorded_events(raw: bytes) -> None:
    result = decode_or_malformed(decode_user_frame, raw)
    if result is not None:
        check_user_result(result)


@pytest.mark.parametrize("name", sorted(USER_PAYLOADS))
def test_recorded_user_events_still_decode(name: str) -> None:
    """The fuzz bases are valid: a mutation is what makes a frame bad."""
    check_user_result(decode_user_frame(dumps(USER_PAYLOADS[name])))


def test_negative_cumulative_qty_never_reaches_an_order_state() -> None:
    payload = dict(USER_PAYLOADS["stp"], o={**USER_PAYLOADS["stp"]["o"], "z": "-5"})
    try:
        state = to_order_state(decode_user_frame(dumps(payload)))  # type: ignore[arg-type]
    except Malformed:
        return
    assert state.filled_qty >= 0


def test_expiry_reason_superscript_digit_is_malformed_not_a_crash() -> None:
    payload = dict(USER_PAYLOADS["trade"], o={**USER_PAYLOADS["trade"]["o"], "er": "²"})
    with pytest.raises(Malformed):
        decode_user_frame(dumps(payload))


def new_feed() -> tuple[BinanceQuoteFeed, list[Quote]]:
    feed = BinanceQuoteFeed(LiveClock(), rng=random.Random(0))
    heard: list[Quote] = []
    feed.add_listener(heard.append)
    return feed, heard


@FUZZ
@given(st.lists(ticker_frames | frames, min_size=1, max_size=20))
def test_garbage_never_reaches_the_quote_cache(raws: list[bytes | str]) -> None:
    feed, heard = new_feed()
    feed.ingest(dumps(TICKER_COMBINED), 1)
    for i, raw in enumerate(raws):
        feed.ingest(raw, 2 + i)
    for ticker in feed.cache.entries.values():
        assert sane_quote(ticker.quote), ticker
    assert all(sane_quote(q) for q in heard)
    assert feed.stats().messages == len(raws) + 1


@given(st.sampled_from(["NaN", "inf", "-1", "0", "", "abc", "1e999"]),
       st.sampled_from(["b", "a", "B", "A"]))
@FUZZ
def test_each_bad_number_is_dropped_and_counted(bad: str, key: str) -> None:
    """The property can fail: a known bad value must be counted as dropped, not cached."""
    feed, heard = new_feed()
    frame = dict(TICKER_COMBINED, data={**TICKER_COMBINED["data"], key: bad})
    if key in ("B", "A") and bad == "0":
        return  # a zero quantity is legal
    feed.ingest(dumps(frame), 1)
    assert feed.cache.entries == {} and heard == []
    assert sum(feed.stats().dropped.values()) == 1


def test_valid_frame_is_cached() -> None:
    feed, heard = new_feed()
    feed.ingest(dumps(TICKER_COMBINED), 1)
    (ticker,) = feed.cache.entries.values()
    assert ticker.quote.bid == float(Decimal("94012.30")) and len(heard) == 1
