"""Market endpoints and streams added for third-party clients: funding history and info,
prices, open interest, mark and index klines, aggregate trades, 24-hour ticker streams, and
stream URLs carrying a client's connection id."""

from __future__ import annotations

from decimal import Decimal

import orjson

from slt.domain.values import DAY_MS, HOUR_MS, MINUTE_MS, Bar

from emu_helpers import (
    BTC,
    START_MS,
    ManualClock,
    async_test,
    barrier,
    quote,
    receive_json,
    running,
)

FIVE_MIN = 5 * MINUTE_MS
EIGHT_HOURS = 8 * HOUR_MS


def day_of_bars() -> list[Bar]:
    """The day before START_MS in 5m bars: open 100+i, close 100.5+i, volume 10."""
    start = START_MS - DAY_MS
    return [
        Bar(start + i * FIVE_MIN, 100 + i, 101 + i, 99 + i, 100.5 + i, 10.0) for i in range(288)
    ]


@async_test
async def test_funding_history_lists_every_funding_time_the_candles_cover() -> None:
    async with running() as (emu, client):
        emu.load_bars(BTC, FIVE_MIN, day_of_bars())
        _, _, rows = await client.public("/fapi/v1/fundingRate", symbol=BTC)
        _, _, two = await client.public("/fapi/v1/fundingRate", symbol=BTC, limit=2)
        _, _, first = await client.public(
            "/fapi/v1/fundingRate", symbol=BTC, startTime=START_MS - DAY_MS, limit=1
        )
        _, _, info = await client.public("/fapi/v1/fundingInfo")
    times = [r["fundingTime"] for r in rows]
    assert times == [START_MS - DAY_MS + EIGHT_HOURS, START_MS - EIGHT_HOURS, START_MS]
    assert {r["fundingRate"] for r in rows} == {"0.00010000"}
    # The mark at a funding time: the close of the bar before it (bar 95 closes at 195.5).
    assert Decimal(rows[0]["markPrice"]) == Decimal("195.5")
    assert [r["fundingTime"] for r in two] == times[-2:]  # the newest, oldest first
    assert [r["fundingTime"] for r in first] == times[:1]
    assert [i["symbol"] for i in info] == [BTC, "ETHUSDT"]
    assert info[0]["fundingIntervalHours"] == 8


@async_test
async def test_prices_open_interest_and_price_klines() -> None:
    async with running() as (emu, client):
        emu.load_bars(BTC, FIVE_MIN, day_of_bars())
        emu.push_quote(quote(50_000.0, 50_000.2))
        _, _, price = await client.public("/fapi/v1/ticker/price", symbol=BTC)
        _, _, prices = await client.public("/fapi/v2/ticker/price")
        _, _, flat = await client.public("/fapi/v1/openInterest", symbol=BTC)
        await client.ok("POST", "/fapi/v1/order", symbol=BTC, side="SELL", type="MARKET",
                        quantity="0.030")
        _, _, short = await client.public("/fapi/v1/openInterest", symbol=BTC)
        _, _, klines = await client.public("/fapi/v1/klines", symbol=BTC, interval="5m", limit=2)
        _, _, marks = await client.public(
            "/fapi/v1/markPriceKlines", symbol=BTC, interval="5m", limit=2
        )
        _, _, index = await client.public(
            "/fapi/v1/indexPriceKlines", pair=BTC, interval="5m", limit=2
        )
        status, _, bad = await client.public(
            "/fapi/v1/indexPriceKlines", pair="NOPE", interval="5m"
        )
    assert (price["symbol"], price["price"]) == (BTC, "50000.1")
    assert [p["symbol"] for p in prices] == [BTC, "ETHUSDT"]
    assert (flat["openInterest"], short["openInterest"]) == ("0", "0.030")
    assert [m[:5] for m in marks] == [k[:5] for k in klines]
    assert all(m[5] == "0" for m in marks) and index == marks
    assert (status, bad["code"]) == (400, -1121)


@async_test
async def test_aggregate_trades_are_one_per_stored_bar() -> None:
    async with running() as (emu, client):
        emu.load_bars(BTC, FIVE_MIN, day_of_bars()[:3])
        _, _, trades = await client.public("/fapi/v1/aggTrades", symbol=BTC)
        first = trades[0]["a"]
        _, _, later = await client.public("/fapi/v1/aggTrades", symbol=BTC, fromId=first + 1)
    assert [(t["p"], t["q"]) for t in trades] == [
        ("100.5", "10.000"),
        ("101.5", "10.000"),
        ("102.5", "10.000"),
    ]
    closes = [START_MS - DAY_MS + (i + 1) * FIVE_MIN - 1 for i in range(3)]
    assert [t["T"] for t in trades] == closes
    assert [t["a"] for t in later] == [first + 1, first + 2]


@async_test
async def test_ticker_streams_push_the_rolling_day_at_most_every_two_seconds() -> None:
    clock = ManualClock()
    async with running(clock=clock) as (emu, client):
        emu.load_bars(BTC, FIVE_MIN, day_of_bars())
        ws = await client.session.ws_connect(f"{emu.ws_url}/market/ws/btcusdt@ticker")
        mini = await client.session.ws_connect(f"{emu.ws_url}/market/ws/btcusdt@miniTicker")
        emu.push_quote(quote(400.0, 400.2, ts_ms=START_MS))
        emu.push_quote(quote(401.0, 401.2, ts_ms=START_MS + 1_000))  # within 2 s: not sent
        emu.push_quote(quote(402.0, 402.2, ts_ms=START_MS + 2_000))
        tickers = await barrier(ws)
        minis = await barrier(mini)
    assert [t["c"] for t in tickers] == ["400.1", "402.1"]
    first = tickers[0]
    assert (first["e"], first["s"], first["o"]) == ("24hrTicker", BTC, "100.0")
    assert Decimal(first["h"]) == Decimal("400.1")  # the quote's mid is the newest high
    assert Decimal(first["p"]) == Decimal("300.1")
    assert [m["e"] for m in minis] == ["24hrMiniTicker", "24hrMiniTicker"]


@async_test
async def test_a_connection_id_in_the_stream_url_is_accepted_and_ignored() -> None:
    async with running() as (emu, client):
        for path in ("/market/ws/0", "/public/ws/1", "/ws/2", "/ws", "/stream", "/market/stream"):
            ws = await client.session.ws_connect(f"{emu.ws_url}{path}")
            await ws.send_str(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
            assert await receive_json(ws) == {"result": [], "id": 1}, path
            await ws.close()
        ws = await client.session.ws_connect(f"{emu.ws_url}/public/ws/0")
        subscribe = {"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 2}
        await ws.send_str(orjson.dumps(subscribe).decode())
        assert await receive_json(ws) == {"result": None, "id": 2}
        emu.push_quote(quote(50_000.0, 50_000.1))
        [ticker] = await barrier(ws)
        assert (ticker["e"], ticker["b"]) == ("bookTicker", "50000.0")


@async_test
async def test_each_quote_is_a_print_on_the_trade_streams() -> None:
    async with running() as (emu, client):
        trades = await client.session.ws_connect(f"{emu.ws_url}/public/ws/btcusdt@trade")
        agg = await client.session.ws_connect(f"{emu.ws_url}/market/ws/btcusdt@aggTrade")
        emu.push_quote(quote(50_000.0, 50_000.2, ts_ms=START_MS + 5))
        [trade] = await barrier(trades)
        [aggregate] = await barrier(agg)
    assert (trade["e"], trade["p"], trade["q"]) == ("trade", "50000.1", "1.500")
    assert trade["T"] == START_MS + 5
    assert (aggregate["e"], aggregate["a"], aggregate["p"]) == ("aggTrade", trade["t"], "50000.1")
