"""Venues for the contract suite: each gives the ports wired to one implementation.

A venue is an async context manager yielding a `Venue`. The suite is written only against the
ports; differences between venues are capability flags, never venue names.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from slt.adapters.binance import BinanceGateway, BinanceHttpClient, RestConfig
from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.user import (
    ListenKeyCalls,
    UserDataStream,
    UserSinks,
    UserStreamConfig,
)
from slt.adapters.clocks.live import LiveClock
from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.credentials import Credentials
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.replay.feed import ReplayFeed
from slt.domain.account_events import AccountEvent
from slt.domain.filters import SymbolFilters
from slt.domain.orders import Fill
from slt.domain.values import Quote
from slt.emulator import Emulator, EmulatorConfig
from slt.ports.clock import Clock
from slt.ports.order_gateway import OrderGateway
from slt.ports.price_feed import PriceFeed

START_MS = 1_764_460_800_000
FUNDING_RATE = Decimal("0.0001")
FILTERS = {
    "BTCUSDT": SymbolFilters(
        "BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(1000), Decimal(5)
    ),
    "ETHUSDT": SymbolFilters(
        "ETHUSDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal(10000), Decimal(5)
    ),
}


@dataclass
class Venue:
    gateway: OrderGateway
    feed: PriceFeed
    clock: Clock
    # Makes the venue's market show this quote; returns once the feed has it.
    push: Callable[[Quote], Awaitable[None]]
    # Makes the exchange settle funding on a symbol: a long pays, a short receives.
    charge_funding: Callable[[str], None]
    fills: list[Fill] = field(default_factory=list)
    events: list[AccountEvent] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self._arrived.set()

    def on_account_event(self, event: AccountEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_event(
        self, wanted: Callable[[AccountEvent], bool], timeout_s: float = 5.0
    ) -> AccountEvent:
        """The first account event so far that is `wanted` (a user stream brings it later)."""
        while True:
            found = next((e for e in self.events if wanted(e)), None)
            if found is not None:
                return found
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                raise AssertionError(f"no such event among {self.events}") from None

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

    venue = Venue(
        exchange, feed, clock, push, lambda symbol: exchange.charge_funding(symbol, FUNDING_RATE)
    )
    exchange.add_fill_listener(venue.on_fill)
    exchange.add_account_listener(venue.on_account_event)
    yield venue


@contextlib.asynccontextmanager
async def binance_emulator_venue() -> AsyncIterator[Venue]:
    """The real Binance adapters (REST gateway, quote stream, user-data stream) against the
    local emulator, on the wall clock over loopback."""
    clock = LiveClock()
    config = EmulatorConfig(filters=FILTERS, ws_max_incoming_per_s=1000)
    async with Emulator(config, clock) as emulator:
        creds = Credentials(config.api_key, config.api_secret)
        async with BinanceHttpClient(RestConfig(base_url=emulator.rest_url), clock, creds) as http:
            gateway = BinanceGateway(http)
            streams = StreamsConfig(base_url=emulator.ws_url)
            feed = BinanceQuoteFeed(
                clock,
                QuoteFeedConfig(streams=streams),
                rng=random.Random(0),
                rest_fallback=gateway.book_tickers,
            )
            user = UserDataStream(
                clock,
                ListenKeyCalls(
                    gateway.create_listen_key,
                    gateway.keepalive_listen_key,
                    gateway.close_listen_key,
                ),
                UserSinks(fill=gateway.deliver_fill, account=gateway.deliver_account),
                reconcile=_nothing,
                config=UserStreamConfig(base_url=emulator.ws_url),
                rng=random.Random(1),
            )
            arrived = asyncio.Event()
            feed.add_listener(lambda q: arrived.set())

            async def push(q: Quote) -> None:
                # The stream carries the exchange's time: stamp the quote now, as it would be.
                # A quote moves time on, as on the fake venue: what came before it (an order
                # filled a moment ago) must have an earlier time, so wait for the next ms.
                await clock.sleep_until(clock.now_ms() + 1)
                # Until the subscription is live a pushed quote reaches nobody: push again.
                for _ in range(50):
                    arrived.clear()
                    emulator.push_quote(q._replace(ts_ms=clock.now_ms()))
                    try:
                        await asyncio.wait_for(arrived.wait(), 0.1)
                        return
                    except TimeoutError:
                        continue
                raise AssertionError("the pushed quote never reached the feed")

            venue = Venue(
                gateway, feed, clock, push,
                lambda symbol: emulator.venue.charge_funding(symbol, Decimal("-0.05")),
            )
            gateway.add_fill_listener(venue.on_fill)
            gateway.add_account_listener(venue.on_account_event)
            await feed.subscribe(FILTERS)
            await feed.start()
            await user.start()
            await asyncio.wait_for(user.connection.wait_connected(), 5)
            try:
                yield venue
            finally:
                await user.stop()
                await feed.stop()


async def _nothing() -> None:
    return None


VENUES: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Venue]]] = {
    "fake": fake_venue,
    "binance-emulator": binance_emulator_venue,
}


@pytest.fixture(params=sorted(VENUES))
def venue_factory(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return VENUES[request.param]
