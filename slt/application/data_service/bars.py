"""Candles of one interval for every symbol, and their indicators.

A bar is fed either from quotes (`on_quote`: simulation and recorded bookTicker data) or from
kline events (`on_kline`: the live kline stream and REST backfill). Both paths keep the forming
bar apart and move a bar into the closed history, and into the indicators, in one place
(`_close`), once and in order. Only closed bars are ever served or seen by an indicator.

A quote-fed bar closes when the first quote of a later bar arrives or when `roll(now)` passes
its end (quiet symbols). A kline-fed bar closes on its `closed` event, or when a later bar's
event shows the close was missed; time alone never closes it, because the exchange's final
update of a bar arrives a moment after the bar's end.

Volume. Quotes carry no traded volume, so a quote-fed bar's volume is the sum over its quotes
of the mean top-of-book size, (bid_qty + ask_qty) / 2. For kline data replayed as quotes this
is exactly the kline's volume (replay puts volume / 4 on both sides of each of the bar's four
quotes); for recorded bookTicker quotes it is a size-weighted tick count, an activity measure
that is only ever compared with the same symbol's own history (the volume ratio). Live,
kline events carry the exchange's traded volume.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from slt.domain.indicators import IndicatorParams, IndicatorSet, Snapshot
from slt.domain.values import Bar, Quote
from slt.ports.market_history import MarketHistory

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_interval(text: str) -> int:
    """'5m' -> 300000. Raises ValueError naming the bad value."""
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"interval {text!r} is not like 1m, 5m, 1h or 1d")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


class _History:
    """The last `size` closed bars, in memory allocated once.

    A deque of Bar tuples grew by ~250 bytes a bar until full, which for 500 hourly bars is
    three weeks of steady growth per symbol; rows of a preallocated array do not grow at all.
    """

    __slots__ = ("_count", "_rows")

    def __init__(self, size: int) -> None:
        self._rows = np.zeros((size, 6), dtype=np.float64)
        self._count = 0

    def append(self, bar: Bar) -> None:
        self._rows[self._count % len(self._rows)] = bar
        self._count += 1

    def last(self, limit: int) -> list[Bar]:
        size = len(self._rows)
        n = min(limit, self._count, size)
        if n <= 0:
            return []
        start = self._count - n
        index = np.arange(start, start + n) % size
        return [
            Bar(int(t), o, h, low, c, v) for t, o, h, low, c, v in self._rows[index].tolist()
        ]


class _Symbol:
    """One symbol's forming bar, closed history and indicators at one interval."""

    __slots__ = ("closed", "forming", "from_klines", "indicators", "last_open_ms")

    def __init__(self, max_bars: int, params: IndicatorParams) -> None:
        # [open_ms, open, high, low, close, volume]: mutated in place on the quote hot path.
        self.forming: list[float] | None = None
        self.closed = _History(max_bars)
        self.indicators = IndicatorSet(params)
        self.from_klines = False
        self.last_open_ms = -1


class BarBuilder(MarketHistory):
    """One interval's candles and indicators for every symbol, bounded memory per symbol."""

    def __init__(
        self, interval: str, max_bars: int = 500, params: IndicatorParams | None = None
    ) -> None:
        self.interval = interval
        self.interval_ms = parse_interval(interval)
        self._max_bars = max_bars
        self._params = params or IndicatorParams()
        self._symbols: dict[str, _Symbol] = {}
        self._fresh: list[tuple[str, Bar, Snapshot]] = []
        # No quote-fed bar ends before this: `roll` skips the scan until then.
        self._due_ms = 0

    def _state(self, symbol: str) -> _Symbol:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _Symbol(self._max_bars, self._params)
        return state

    def on_quote(self, q: Quote) -> None:
        symbol, ts, bid, bid_qty, ask, ask_qty = q
        state = self._symbols.get(symbol) or self._state(symbol)
        mid = (bid + ask) * 0.5
        size = (bid_qty + ask_qty) * 0.5
        cur = state.forming
        if cur is None or ts >= cur[0] + self.interval_ms:
            if cur is not None:
                self._close(symbol, state, cur)
            start = ts - ts % self.interval_ms
            state.forming = [start, mid, mid, mid, mid, size]
            if start + self.interval_ms < self._due_ms:
                self._due_ms = start + self.interval_ms
            return
        if mid > cur[2]:
            cur[2] = mid
        elif mid < cur[3]:
            cur[3] = mid
        cur[4] = mid
        cur[5] += size

    def on_kline(self, symbol: str, bar: Bar, closed: bool) -> None:
        """A kline event: the bar so far (replacing the forming one), or its final state."""
        state = self._state(symbol)
        state.from_klines = True
        if bar.open_ms <= state.last_open_ms:
            return  # a repeat of a bar already closed (REST backfill overlapping the stream)
        cur = state.forming
        if cur is not None and bar.open_ms > cur[0]:
            self._close(symbol, state, cur)  # its closing event was missed
        state.forming = [bar.open_ms, bar.open, bar.high, bar.low, bar.close, bar.volume]
        if closed:
            self._close(symbol, state, state.forming)

    def _close(self, symbol: str, state: _Symbol, cur: list[float]) -> None:
        bar = Bar(int(cur[0]), cur[1], cur[2], cur[3], cur[4], cur[5])
        state.forming = None
        state.last_open_ms = bar.open_ms
        state.closed.append(bar)
        self._fresh.append((symbol, bar, state.indicators.update(bar)))

    def has_closed(self, now_ms: int) -> bool:
        """Whether `roll(now_ms)` may return bars (never False when it would)."""
        return bool(self._fresh) or now_ms >= self._due_ms

    def roll(self, now_ms: int) -> list[tuple[str, Bar, Snapshot]]:
        """Close every quote-fed bar whose end has passed; return the bars closed since the
        last call with the indicators right after each, oldest first and, within one open
        time, by symbol (a deterministic order)."""
        if now_ms >= self._due_ms:
            self._close_due(now_ms)
        if not self._fresh:
            return []
        fresh, self._fresh = self._fresh, []
        fresh.sort(key=lambda item: (item[1].open_ms, item[0]))
        return fresh

    def _close_due(self, now_ms: int) -> None:
        due = 2**62
        for symbol, state in self._symbols.items():
            cur = state.forming
            if cur is None or state.from_klines:
                continue
            end = int(cur[0]) + self.interval_ms
            if end <= now_ms:
                self._close(symbol, state, cur)
            else:
                due = min(due, end)
        self._due_ms = due

    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    def forming(self, symbol: str) -> Bar | None:
        """The bar still forming (never seen by an indicator), for display and tests."""
        state = self._symbols.get(symbol)
        cur = state.forming if state is not None else None
        return None if cur is None else Bar(int(cur[0]), cur[1], cur[2], cur[3], cur[4], cur[5])

    def snapshot(self, symbol: str) -> Snapshot | None:
        """Indicators as of the symbol's last closed bar."""
        state = self._symbols.get(symbol)
        return state.indicators.last if state is not None else None

    async def klines(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        if parse_interval(interval) != self.interval_ms:
            raise ValueError(f"bars are built at {self.interval}, not {interval}")
        state = self._symbols.get(symbol)
        if state is None or limit <= 0:
            return []
        return state.closed.last(limit)
