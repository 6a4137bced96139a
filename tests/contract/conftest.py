"""Venues for the contract suite: each gives the ports wired to one implementation.

A venue is an async context manager yielding a `Venue`. The suite is written only against the
ports; differences between venues are capability flags, never venue names.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.replay_feed import ReplayFeed
from slt.domain.filters import SymbolFilters
from slt.domain.orders import Fill
from slt.domain.values import Quote
from slt.ports.clock import Clock
from slt.ports.order_gateway import OrderGateway
from slt.ports.price_feed import PriceFeed

START_MS = 1_764_460_800_000
FILTERS = {
    "BTCUSDT": SymbolFilters("BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"),
                             Decimal(1000), Decimal(5)),
    "ETHUSDT": SymbolFilters("ETHUSDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"),
                             Decimal(10000), Decimal(5)),
}


@dataclass
class Venue:
    gateway: OrderGateway
    feed: PriceFeed
    clock: Clock
    # Makes the venue's market show this quote; returns once the feed has it.
    push: Callable[[Quote], Awaitable[None]]
    fills: list[Fill] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self._arrived.set()

    async def wait_fills(self, n: int, timeout_s: float = 5.0) -> list[Fill]:
        """Fills may arrive with the acknowledgement or shortly after it (a user stream)."""
        while len(self.fills) < n:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                raise AssertionError(f"expected {n} fills, got {len(self.fills)}") from None
        return self.fills


@contextlib.asynccontextmanager
async def fake_venue() -> AsyncIterator[Venue]:
    clock = SimulatedClock(START_MS)
    exchange = FakeExchange(FILTERS, clock)
    feed = ReplayFeed(clock)

    async def push(q: Quote) -> None:
        clock.advance(q.ts_ms)
        exchange.on_quote(q)
        feed.publish(q)

    venue = Venue(exchange, feed, clock, push)
    exchange.add_fill_listener(venue.on_fill)
    yield venue


VENUES: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Venue]]] = {
    "fake": fake_venue,
}


@pytest.fixture(params=sorted(VENUES))
def venue_factory(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return VENUES[request.param]
