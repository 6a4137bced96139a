"""Market-data endpoints: klines from loaded history and pushed quotes, tickers, marks, book,
exchangeInfo."""

from __future__ import annotations

from decimal import Decimal

from slt.domain.filters import filters_from_exchange_info
from slt.domain.values import DAY_MS, HOUR_MS, MINUTE_MS, Bar
from slt.emulator.market import Candles, align

from emu_helpers import BTC, BTC_FILTERS, CONFIG, START_MS, ManualClock, async_test, quote, running

FIVE_MIN = 5 * MINUTE_MS


def bars(n: int, start_ms: int = START_MS - DAY_MS, step: int = FIVE_MIN) -> list[Bar]:
    """Bar i: open 100+i, high 101+i, low 99+i, close 100.5+i, volume 10."""
    return [Bar(start_ms + i * step, 100 + i, 101 + i, 99 + i, 100.5 + i, 10.0) for i in range(n)]


def test_week_bars_open_on_monday() -> None:
    monday = 1_767_571_200_000  # 2026-01-05T00:00:00Z
    assert align(monday + 3 * DAY_MS, 7 * DAY_MS) == monday


def test_klines_aggregate_loaded_bars_and_select_like_binance() -> None:
    candles = Candles()
    candles.load(BTC, FIVE_MIN, bars(24))  # two hours of 5m bars
    hourly = candles.klines(BTC, HOUR_MS)
    assert [(k.open_ms, k.open, k.high, k.low, k.close, k.volume) for k in hourly] == [
        (START_MS - DAY_MS, 100, 112, 99, Decimal("111.5"), 120),
        (START_MS - DAY_MS + HOUR_MS, 112, 124, 111, Decimal("123.5"), 120),
    ]
    assert all(k.closed for k in hourly)
    five = candles.klines(BTC, FIVE_MIN, start_ms=START_MS - DAY_MS + FIVE_MIN, limit=2)
    assert [k.open for k in five] == [101, 102]
    before = candles.klines(BTC, FIVE_MIN, end_ms=START_MS - DAY_MS + 3 * FIVE_MIN, limit=2)
    assert [k.open for k in before] == [102, 103]
    assert [k.open for k in candles.klines(BTC, FIVE_MIN, limit=3)] == [121, 122, 123]


def test_pushed_quotes_extend_the_candles() -> None:
    candles = Candles()
    candles.load(BTC, MINUTE_MS, [Bar(START_MS - MINUTE_MS, 10, 11, 9, 10, 1)])
    candles.add_quote(quote(20.0, 20.2, START_MS + 5))
    candles.add_quote(quote(21.0, 21.2, START_MS + 6))
    candles.add_quote(quote(19.0, 19.2, START_MS + 7))
    last = candles.klines(BTC, MINUTE_MS, limit=1)[0]
    assert (last.open, last.high, last.low, last.close) == (
        Decimal("20.1"),
        Decimal("21.1"),
        Decimal("19.1"),
        Decimal("19.1"),
    )
    assert (last.volume, last.trades, last.closed) == (Decimal("4.5"), 3, False)


@async_test
async def test_klines_endpoint() -> None:
    async with running() as (emu, client):
        emu.load_bars(BTC, FIVE_MIN, bars(12), offset_ms=DAY_MS - HOUR_MS)
        status, _, rows = await client.public(
            "/fapi/v1/klines", symbol=BTC, interval="15m", limit=2
        )
        assert status == 200
        assert rows == [
            # bars 6-8 and 9-11; quote volume: 10 * (o+h+l+c)/4 summed over the bars
            [
                START_MS - 30 * MINUTE_MS,
                "106.0",
                "109.0",
                "105.0",
                "108.5",
                "30.000",
                START_MS - 15 * MINUTE_MS - 1,
                "3213.75000000",
                3,
                "0",
                "0",
                "0",
            ],
            [
                START_MS - 15 * MINUTE_MS,
                "109.0",
                "112.0",
                "108.0",
                "111.5",
                "30.000",
                START_MS - 1,
                "3303.75000000",
                3,
                "0",
                "0",
                "0",
            ],
        ]
        for params, code in (
            ({"interval": "1m"}, -1120),  # finer than the 5m history
            ({"interval": "7m"}, -1120),
            ({"interval": "5m", "limit": 1501}, -1130),
            ({"interval": "5m", "symbol": "NOPE"}, -1121),
        ):
            status, _, body = await client.public("/fapi/v1/klines", **{"symbol": BTC, **params})
            assert (status, body["code"]) == (400, code), params


@async_test
async def test_tickers_marks_and_book() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emu, client):
        emu.load_bars(BTC, FIVE_MIN, bars(288))  # the day before START_MS
        emu.push_quote(quote(400.0, 400.2, START_MS))
        day = (await client.public("/fapi/v1/ticker/24hr", symbol=BTC))[2]
        # From the first bar's open (100) to the last quote's mid (400.1); the window starts
        # one day before that quote, so the first bar (opening exactly then) is in it.
        assert (day["openPrice"], day["lastPrice"], day["highPrice"], day["lowPrice"]) == (
            "100.0",
            "400.1",
            "400.1",
            "99.0",
        )
        assert day["volume"] == "2881.500" and day["count"] == 289
        everyone = (await client.public("/fapi/v1/ticker/24hr"))[2]
        assert [(t["symbol"], t["lastPrice"]) for t in everyone] == [
            (BTC, "400.1"),
            ("ETHUSDT", "0"),
        ]
        mark = (await client.public("/fapi/v1/premiumIndex", symbol=BTC))[2]
        assert (mark["markPrice"], mark["nextFundingTime"], mark["time"]) == (
            "400.10000000",
            START_MS + 8 * HOUR_MS,
            START_MS,
        )
        book = (await client.public("/fapi/v1/ticker/bookTicker", symbol=BTC))[2]
        assert (book["bidPrice"], book["askQty"], book["lastUpdateId"]) == ("400.0", "2.500", 1)
        depth = (await client.public("/fapi/v1/depth", symbol=BTC, limit=5))[2]
        assert (depth["bids"], depth["asks"]) == ([["400.0", "1.500"]], [["400.2", "2.500"]])
        status, _, body = await client.public("/fapi/v1/depth", symbol=BTC, limit=7)
        assert (status, body["code"]) == (400, -4021)


@async_test
async def test_exchange_info_describes_the_configured_symbols() -> None:
    async with running() as (_, client):
        status, _, info = await client.public("/fapi/v1/exchangeInfo")
        assert status == 200
        assert [s["symbol"] for s in info["symbols"]] == [BTC, "ETHUSDT"]
        parsed = filters_from_exchange_info(info)[BTC]
        fields = ("tick_size", "step_size", "min_qty", "max_qty", "min_notional")
        assert [getattr(parsed, f) for f in fields] == [getattr(BTC_FILTERS, f) for f in fields]
        assert info["symbols"][0]["pricePrecision"] == 1
        assert [r["limit"] for r in info["rateLimits"]] == [2400, 1200, 300]
