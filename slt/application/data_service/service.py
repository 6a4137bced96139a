"""DataService: closed candles and their indicators at several intervals (MarketHistory).

One `BarBuilder` per interval. Quotes go to every interval (`on_quote`, a price-feed
listener); kline events go to the interval they belong to (`on_kline`), so the live kline
stream and REST backfill feed the same bars, history and indicators that quotes feed in
simulation. Consumers read only closed bars: `roll`, `snapshot`, `klines`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from slt.application.data_service.bars import BarBuilder, parse_interval
from slt.domain.indicators import IndicatorParams, Snapshot
from slt.domain.values import Bar, Quote
from slt.ports.market_history import MarketHistory


class ClosedBar(NamedTuple):
    symbol: str
    interval_ms: int
    bar: Bar
    snapshot: Snapshot  # indicators right after this bar


class DataService(MarketHistory):
    def __init__(
        self,
        intervals: Sequence[str],
        max_bars: int = 500,
        params: IndicatorParams | None = None,
    ) -> None:
        if not intervals:
            raise ValueError("the DataService needs at least one interval")
        builders = {parse_interval(i): BarBuilder(i, max_bars, params) for i in intervals}
        self._builders = dict(sorted(builders.items()))
        self._on_quotes = tuple(b.on_quote for b in self._builders.values())

    @property
    def intervals_ms(self) -> tuple[int, ...]:
        return tuple(self._builders)

    def on_quote(self, q: Quote) -> None:
        for on_quote in self._on_quotes:
            on_quote(q)

    def on_kline(self, symbol: str, interval: str, bar: Bar, closed: bool) -> None:
        self._builder(parse_interval(interval)).on_kline(symbol, bar, closed)

    def has_closed(self, now_ms: int) -> bool:
        """Whether `roll(now_ms)` may return bars (never False when it would): cheap, for
        skipping a trading cycle that would find nothing."""
        return any(b.has_closed(now_ms) for b in self._builders.values())

    def roll(self, now_ms: int) -> list[ClosedBar]:
        """Bars closed since the last call, in close-time order, then interval, then symbol."""
        fresh = [
            ClosedBar(symbol, interval_ms, bar, snapshot)
            for interval_ms, builder in self._builders.items()
            for symbol, bar, snapshot in builder.roll(now_ms)
        ]
        fresh.sort(key=lambda c: (c.bar.open_ms + c.interval_ms, c.interval_ms, c.symbol))
        return fresh

    def snapshot(self, symbol: str, interval_ms: int) -> Snapshot | None:
        return self._builder(interval_ms).snapshot(symbol)

    def forming(self, symbol: str, interval_ms: int) -> Bar | None:
        return self._builder(interval_ms).forming(symbol)

    def symbols(self) -> list[str]:
        return sorted({s for b in self._builders.values() for s in b.symbols()})

    async def klines(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        return await self._builder(parse_interval(interval)).klines(symbol, interval, limit)

    def _builder(self, interval_ms: int) -> BarBuilder:
        builder = self._builders.get(interval_ms)
        if builder is None:
            raise ValueError(f"no bars at {interval_ms} ms; intervals: {list(self._builders)}")
        return builder
