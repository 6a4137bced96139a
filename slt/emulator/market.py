"""Market state behind the public endpoints and streams: last quotes, candles, marks.

Candles are kept per symbol at one base interval: the interval of the history loaded for it
(`load_bars`), else one minute. Pushed quotes extend them: a quote's mid moves the bar's
high/low/close and its bid size counts as traded volume. The replay spreads a kline's volume
over the four quotes it makes of the bar, so replayed klines come back with their own volume.
Any interval that is a whole multiple of the base interval is served by aggregating base bars;
others are refused with -1120. In the same spirit each quote is a trade at its mid for its bid
size on the `@trade` and `@aggTrade` streams: the market's only prints are its quotes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from slt.domain.realism import FundingRates
from slt.domain.values import DAY_MS, HOUR_MS, MINUTE_MS, Bar, Quote
from slt.emulator import payloads
from slt.emulator.payloads import Kline, Numbers

FUNDING_PERIOD_MS = 8 * HOUR_MS
# Binance weeks open on Monday 00:00 UTC; the Unix epoch fell on a Thursday.
WEEK_OFFSET_MS = 4 * DAY_MS
INTERVALS_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
MARK_PERIODS_MS = {"markPrice": 3_000, "markPrice@1s": 1_000}
# 24-hour ticker streams push at most this often (Binance: 2 s for ticker and miniTicker).
TICKER_PERIOD_MS = 2_000
TICKER_STREAMS = ("ticker", "miniTicker")


class IntervalUnavailable(ValueError):
    """The symbol's candles are coarser than (or not a divisor of) the interval asked for."""


def align(ts_ms: int, interval_ms: int) -> int:
    offset = WEEK_OFFSET_MS if interval_ms == INTERVALS_MS["1w"] else 0
    return ts_ms - (ts_ms - offset) % interval_ms


def next_funding_ms(ts_ms: int) -> int:
    return (ts_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS


def mid(q: Quote) -> Decimal:
    return (Decimal(repr(q.bid)) + Decimal(repr(q.ask))) / 2


@dataclass(slots=True)
class _Bar:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


class Candles:
    def __init__(self, default_base_ms: int = MINUTE_MS) -> None:
        self._default_base = default_base_ms
        self._base: dict[str, int] = {}
        self._bars: dict[str, list[_Bar]] = {}
        self._opens: dict[str, list[int]] = {}
        self._complete_until: dict[str, int] = {}

    def load(self, symbol: str, interval_ms: int, bars: Iterable[Bar], offset_ms: int = 0) -> int:
        """Append closed bars (each moved by `offset_ms`); return how many were added."""
        base = self._base.setdefault(symbol, interval_ms)
        if base != interval_ms:
            raise ValueError(f"{symbol}: candles are {base} ms bars, not {interval_ms} ms")
        own, opens = self._series(symbol)
        added = 0
        for bar in bars:
            t = bar.open_ms + offset_ms
            if opens and t <= opens[-1]:
                raise ValueError(f"{symbol}: bar at {t} does not follow the bar at {opens[-1]}")
            o, h, low, c, v = (Decimal(repr(x)) for x in bar[1:])
            own.append(_Bar(t, o, h, low, c, v, v * (o + h + low + c) / 4, 1))
            opens.append(t)
            added += 1
        if opens:
            self._complete_until[symbol] = max(
                self._complete_until.get(symbol, 0), opens[-1] + base
            )
        return added

    def add_quote(self, q: Quote) -> None:
        symbol = q.symbol
        base = self._base.setdefault(symbol, self._default_base)
        own, opens = self._series(symbol)
        price = mid(q)
        volume = Decimal(repr(q.bid_qty))
        t = align(q.ts_ms, base)
        if opens and t == opens[-1]:
            bar = own[-1]
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
            bar.volume += volume
            bar.quote_volume += volume * price
            bar.trades += 1
        elif not opens or t > opens[-1]:
            own.append(_Bar(t, price, price, price, price, volume, volume * price, 1))
            opens.append(t)
        # A quote older than the newest bar (replay reordering) leaves the candles alone.
        self._complete_until[symbol] = max(self._complete_until.get(symbol, 0), q.ts_ms)

    def klines(
        self,
        symbol: str,
        interval_ms: int,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """Binance's selection: from `start_ms` forward, else back from `end_ms` (or the
        newest bar); open times within [start_ms, end_ms]; at most `limit`, oldest first."""
        ratio = self._ratio(symbol, interval_ms)
        opens = self._opens.get(symbol, [])
        if not opens or limit <= 0:
            return []
        if start_ms is not None:
            lo = bisect_left(opens, align(start_ms, interval_ms))
            hi = min(len(opens), lo + (limit + 1) * ratio)
        else:
            last = len(opens) if end_ms is None else bisect_left(opens, end_ms + 1)
            hi = (
                bisect_left(opens, align(opens[last - 1], interval_ms) + interval_ms) if last else 0
            )
            lo = max(0, hi - (limit + 1) * ratio)
        groups = [
            k
            for k in self._groups(symbol, interval_ms, lo, hi)
            if (start_ms is None or k.open_ms >= start_ms)
            and (end_ms is None or k.open_ms <= end_ms)
        ]
        return groups[:limit] if start_ms is not None else groups[-limit:]

    def current(self, symbol: str, interval_ms: int) -> Kline | None:
        """The newest bar of `interval_ms` (possibly still forming)."""
        newest = self.klines(symbol, interval_ms, limit=1)
        return newest[0] if newest else None

    def window(self, symbol: str, start_ms: int, end_ms: int) -> Kline | None:
        """All bars opening in [start_ms, end_ms) folded into one, or None."""
        opens = self._opens.get(symbol, [])
        lo, hi = bisect_left(opens, start_ms), bisect_left(opens, end_ms)
        if lo >= hi:
            return None
        return self._fold(symbol, self._bars[symbol][lo:hi], start_ms, end_ms - start_ms)

    def last_ts(self, symbol: str) -> int:
        return self._complete_until.get(symbol, 0)

    def first_ts(self, symbol: str) -> int | None:
        opens = self._opens.get(symbol)
        return opens[0] if opens else None

    def base_ms(self, symbol: str) -> int:
        """The interval the symbol's candles are kept at."""
        return self._base.get(symbol, self._default_base)

    def _ratio(self, symbol: str, interval_ms: int) -> int:
        base = self._base.get(symbol, self._default_base)
        if interval_ms % base:
            raise IntervalUnavailable(
                f"Invalid interval: the emulator holds {symbol} as {base // 1000} s bars"
            )
        return interval_ms // base

    def _series(self, symbol: str) -> tuple[list[_Bar], list[int]]:
        return self._bars.setdefault(symbol, []), self._opens.setdefault(symbol, [])

    def _groups(self, symbol: str, interval_ms: int, lo: int, hi: int) -> list[Kline]:
        bars = self._bars[symbol]
        if lo < hi:
            # Start on a group boundary so that the first group is whole.
            lo = bisect_left(self._opens[symbol], align(bars[lo].open_ms, interval_ms))
        out: list[Kline] = []
        i = lo
        while i < hi:
            start = align(bars[i].open_ms, interval_ms)
            j = bisect_right(self._opens[symbol], start + interval_ms - 1, i, len(bars))
            out.append(self._fold(symbol, bars[i:j], start, interval_ms))
            i = j
        return out

    def _fold(self, symbol: str, bars: list[_Bar], start: int, interval_ms: int) -> Kline:
        return Kline(
            open_ms=start,
            close_ms=start + interval_ms - 1,
            open=bars[0].open,
            high=max(b.high for b in bars),
            low=min(b.low for b in bars),
            close=bars[-1].close,
            volume=sum((b.volume for b in bars), start=Decimal(0)),
            quote_volume=sum((b.quote_volume for b in bars), start=Decimal(0)),
            trades=sum(b.trades for b in bars),
            closed=start + interval_ms <= self._complete_until.get(symbol, 0),
        )


Publish = Callable[[str, Callable[[], payloads.Json]], None]
Wants = Callable[[str], Iterable[str]]


class MarketState:
    """Last quote per symbol, candles, and the market streams a quote feeds."""

    def __init__(self, numbers: Numbers, funding: FundingRates) -> None:
        self.quotes: dict[str, Quote] = {}
        self.candles = Candles()
        self.update_id = 0
        self._numbers = numbers
        self._funding = funding
        self._mark_sent: dict[str, int] = {}
        self._kline_open: dict[str, int] = {}

    def funding_rate(self, symbol: str, funding_ms: int) -> Decimal:
        """The rate charged (or to be charged) at the funding time `funding_ms`."""
        return self._funding.rate_at(symbol, funding_ms)

    def mark(self, symbol: str) -> Decimal:
        q = self.quotes.get(symbol)
        return mid(q) if q is not None else Decimal(0)

    def on_quote(self, q: Quote, publish: Publish, subscribed: Wants) -> None:
        """Take a quote and publish the market stream messages it causes.

        `subscribed(prefix)` lists the subscribed streams starting with `prefix`, so that no
        payload is built for a stream nobody listens to.
        """
        self.update_id += 1
        self.quotes[q.symbol] = q
        self.candles.add_quote(q)
        n, uid = self._numbers, self.update_id
        name = q.symbol.lower()

        def ticker() -> payloads.Json:
            return payloads.book_ticker_event(q, uid, n)

        publish(f"{name}@bookTicker", ticker)
        publish("!bookTicker", ticker)
        publish(f"{name}@trade", lambda: payloads.trade_event(q, mid(q), uid, n, aggregate=False))
        publish(f"{name}@aggTrade", lambda: payloads.trade_event(q, mid(q), uid, n, aggregate=True))
        for stream in subscribed(f"{name}@kline_"):
            self._publish_kline(q, stream, publish)
        for stream in subscribed(f"{name}@markPrice"):
            self._publish_mark(q, stream, publish)
        for kind in TICKER_STREAMS:
            for stream in subscribed(f"{name}@{kind}"):
                self._publish_ticker(q, stream, kind, publish)

    def _publish_kline(self, q: Quote, stream: str, publish: Publish) -> None:
        """The forming bar; first the bar just closed, if this quote opened a new one."""
        interval = stream.rsplit("_", 1)[1]
        interval_ms = INTERVALS_MS.get(interval)
        if interval_ms is None:
            return
        try:
            bar = self.candles.current(q.symbol, interval_ms)
        except IntervalUnavailable:
            return
        if bar is None:
            return

        def send(k: Kline) -> None:
            publish(
                stream, lambda: payloads.kline_event(k, q.symbol, interval, self._numbers, q.ts_ms)
            )

        previous = self._kline_open.get(stream)
        if previous is not None and previous < bar.open_ms:
            for closed in self.candles.klines(q.symbol, interval_ms, start_ms=previous, limit=1):
                send(closed)
        self._kline_open[stream] = bar.open_ms
        send(bar)

    def _publish_ticker(self, q: Quote, stream: str, kind: str, publish: Publish) -> None:
        """The rolling 24-hour statistics, from the candles, once per ticker period."""
        if stream != f"{q.symbol.lower()}@{kind}":
            return
        if q.ts_ms - self._mark_sent.get(stream, -TICKER_PERIOD_MS) < TICKER_PERIOD_MS:
            return
        self._mark_sent[stream] = q.ts_ms
        day = self.candles.window(q.symbol, q.ts_ms - DAY_MS, q.ts_ms + 1)
        if day is None:
            return
        last = mid(q)
        build = payloads.ticker_event if kind == "ticker" else payloads.mini_ticker_event
        publish(stream, lambda: build(q.symbol, day, last, self._numbers, q.ts_ms))

    def _publish_mark(self, q: Quote, stream: str, publish: Publish) -> None:
        period = MARK_PERIODS_MS.get(stream.split("@", 1)[1])
        if period is None or q.ts_ms - self._mark_sent.get(stream, -period) < period:
            return
        self._mark_sent[stream] = q.ts_ms
        mark = mid(q)
        at = next_funding_ms(q.ts_ms)
        rate = self.funding_rate(q.symbol, at)
        publish(
            stream, lambda: payloads.mark_price_event(q.symbol, mark, rate, at, q.ts_ms)
        )
