"""PriceFeed for simulation: quotes are pushed in by the simulation driver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from slt.domain.quote_cache import QuoteAge, QuoteCache
from slt.domain.values import Quote
from slt.ports.clock import Clock
from slt.ports.price_feed import PriceFeed, QuoteListener


class ReplayFeed(PriceFeed):
    def __init__(self, clock: Clock, stale_after_ms: int = 5000) -> None:
        self._clock = clock
        self.cache = QuoteCache(stale_after_ms)
        self._update = self.cache.update
        self._listeners: tuple[QuoteListener, ...] = ()
        self._queues: list[asyncio.Queue[Quote]] = []
        self.symbols: set[str] = set()

    def publish(self, q: Quote) -> None:
        if self._update(q):
            for listener in self._listeners:
                listener(q)
            if self._queues:
                for queue in self._queues:
                    queue.put_nowait(q)

    async def subscribe(self, symbols: Iterable[str]) -> None:
        self.symbols.update(symbols)

    def latest(self, symbol: str) -> QuoteAge | None:
        return self.cache.latest(symbol, self._clock.now_ms())

    def add_listener(self, listener: QuoteListener) -> None:
        self._listeners = (*self._listeners, listener)

    async def stream(self) -> AsyncIterator[Quote]:
        queue: asyncio.Queue[Quote] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)
