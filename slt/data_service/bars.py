"""Candles from quotes.

Bars are built from mid prices, so the same code serves recorded quotes, kline data expanded
into quotes, and the live bookTicker stream. A bar closes when the first quote of a later bar
arrives or when `roll(now)` passes its end (quiet symbols); only closed bars are ever served, so
nothing downstream can see the forming bar. `volume` counts quotes (tick volume): quote streams
carry no traded volume.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from slt.domain.values import Bar
from slt.ports.market_history import MarketHistory

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_interval(text: str) -> int:
    """'5m' -> 300000. Raises ValueError naming the bad value."""
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"interval {text!r} is not like 1m, 5m, 1h or 1d")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


class BarBuilder(MarketHistory):
    """One interval's candles for every symbol, with bounded memory per symbol."""

    def __init__(self, interval: str, max_bars: int = 1000) -> None:
        self.interval = interval
        self.interval_ms = parse_interval(interval)
        self._max_bars = max_bars
        # symbol -> [open_ms, open, high, low, close, ticks] of the forming bar
        self._forming: dict[str, list[float]] = {}
        self._closed: dict[str, deque[Bar]] = {}
        self._fresh: list[tuple[str, Bar]] = []

    def on_quote(self, q: object) -> None:
        symbol, ts, bid, _, ask, _ = q  # type: ignore[misc]
        mid = (bid + ask) * 0.5
        cur = self._forming.get(symbol)
        if cur is None or ts >= cur[0] + self.interval_ms:
            if cur is not None:
                self._close(symbol, cur)
            start = ts - ts % self.interval_ms
            self._forming[symbol] = [start, mid, mid, mid, mid, 1]
            return
        if mid > cur[2]:
            cur[2] = mid
        elif mid < cur[3]:
            cur[3] = mid
        cur[4] = mid
        cur[5] += 1

    def _close(self, symbol: str, cur: list[float]) -> None:
        bar = Bar(int(cur[0]), cur[1], cur[2], cur[3], cur[4], cur[5])
        bars = self._closed.get(symbol)
        if bars is None:
            bars = self._closed[symbol] = deque(maxlen=self._max_bars)
        bars.append(bar)
        self._fresh.append((symbol, bar))

    def roll(self, now_ms: int) -> list[tuple[str, Bar]]:
        """Close every bar whose end has passed; return the bars closed since the last call,
        oldest first and, within one close time, by symbol (a deterministic order)."""
        for symbol in [
            s for s, cur in self._forming.items() if cur[0] + self.interval_ms <= now_ms
        ]:
            self._close(symbol, self._forming.pop(symbol))
        fresh, self._fresh = self._fresh, []
        fresh.sort(key=lambda item: (item[1].open_ms, item[0]))
        return fresh

    def symbols(self) -> list[str]:
        return sorted(self._closed)

    async def klines(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        if parse_interval(interval) != self.interval_ms:
            raise ValueError(f"bars are built at {self.interval}, not {interval}")
        bars = self._closed.get(symbol, ())
        return list(bars)[-limit:] if limit else []
