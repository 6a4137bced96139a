"""Combined market streams: routes, URLs, and a pool of connections per route.

Binance serves each stream on one route since 2026-03 (`/public` for the book, `/market` for the
rest, `/private` for user data); an unrouted connection receives only `/public` streams. One
connection carries up to `max_streams_per_connection` streams (1024 since 2025-07; 200 before)
and accepts 10 incoming messages a second, so the pool packs streams into as few connections as
the cap allows and changes subscriptions with paced SUBSCRIBE/UNSUBSCRIBE frames.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson

from slt.adapters.binance.ws.transport import (
    ConnectionStats,
    FrameHandler,
    TransportConfig,
    WsConnection,
)
from slt.ports.clock import Clock

MAINNET_WS = "wss://fstream.binance.com"
TESTNET_WS = "wss://fstream.binancefuture.com"

# Stream kind -> route (BINANCE.md section 7). The kind is the stream name's event part without
# symbol, interval or speed: `btcusdt@kline_1m` -> kline, `btcusdt@depth20@100ms` -> depth.
ROUTES: Mapping[str, str] = MappingProxyType({
    "bookTicker": "public",
    "depth": "public",
    "rpiDepth": "public",
    "aggTrade": "market",
    "markPrice": "market",
    "kline": "market",
    "continuousKline": "market",
    "miniTicker": "market",
    "ticker": "market",
    "forceOrder": "market",
    "compositeIndex": "market",
    "contractInfo": "market",
    "assetIndex": "market",
})


def stream_kind(stream: str) -> str:
    """`btcusdt@kline_1m` -> `kline`; `!markPrice@arr@1s` -> `markPrice`."""
    parts = stream.split("@")
    if stream.startswith("!"):
        part = parts[0][1:]
    elif len(parts) > 1:
        part = parts[1]
    else:
        raise ValueError(f"not a stream name: {stream!r}")
    return part.split("_", 1)[0].rstrip("0123456789")


def route_for(stream: str, routes: Mapping[str, str] = ROUTES) -> str:
    kind = stream_kind(stream)
    try:
        return routes[kind]
    except KeyError:
        raise ValueError(f"no route configured for {kind!r} streams ({stream!r})") from None


def book_ticker_stream(symbol: str) -> str:
    return f"{symbol.lower()}@bookTicker"  # stream names are lowercase


def combined_url(base: str, route: str, streams: Iterable[str]) -> str:
    return f"{base.rstrip('/')}/{route}/stream?streams={'/'.join(streams)}"


def _default_routes() -> Mapping[str, str]:
    return ROUTES


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    base_url: str = MAINNET_WS
    routes: Mapping[str, str] = field(default_factory=_default_routes)
    max_streams_per_connection: int = 1024
    # Streams named in the connection URL; the rest are added with SUBSCRIBE, which keeps the
    # request line short however many streams a connection carries.
    url_streams_max: int = 100
    subscribe_batch: int = 100  # stream names per SUBSCRIBE/UNSUBSCRIBE frame
    transport: TransportConfig = field(default_factory=TransportConfig)

    def __post_init__(self) -> None:
        if self.max_streams_per_connection <= 0 or self.url_streams_max <= 0:
            raise ValueError("stream limits must be positive")
        if self.subscribe_batch <= 0:
            raise ValueError("subscribe_batch must be positive")


class StreamConnection:
    """One connection of a pool: the streams it should carry (`desired`) and the ones it has
    asked the server for on the current socket (`active`). `sync` closes the gap with paced
    control frames, after every (re)connect and after every change."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        route: str,
        on_frame: FrameHandler,
        config: StreamsConfig,
        rng: random.Random,
    ) -> None:
        self.route = route
        self.desired: set[str] = set()
        self.active: set[str] = set()
        self._config = config
        self._clock = clock
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._syncing: asyncio.Task[None] | None = None
        self.conn = WsConnection(
            name, clock, self._url, on_frame, config.transport, rng=rng, on_open=self.sync
        )

    async def _url(self) -> str:
        streams = sorted(self.desired)[: self._config.url_streams_max]
        self.active = set(streams)
        return combined_url(self._config.base_url, self.route, streams)

    async def sync(self) -> None:
        async with self._lock:
            batch = self._config.subscribe_batch
            while self.conn.connected:
                adds = sorted(self.desired - self.active)[:batch]
                if adds:
                    if not await self._send("SUBSCRIBE", adds):
                        return
                    self.active.update(adds)
                    continue
                removes = sorted(self.active - self.desired)[:batch]
                if removes:
                    if not await self._send("UNSUBSCRIBE", removes):
                        return
                    self.active.difference_update(removes)
                    continue
                return

    def resync(self) -> None:
        """Start a sync unless one is already running (it loops until nothing differs)."""
        if self.conn.connected and (self._syncing is None or self._syncing.done()):
            self._syncing = self._clock.spawn(self.sync(), f"{self.conn.name}:sync")

    async def _send(self, method: str, params: list[str]) -> bool:
        frame = {"method": method, "params": params, "id": next(self._ids)}
        return await self.conn.send(orjson.dumps(frame).decode())

    async def stop(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
        await self.conn.stop()


class StreamPool:
    """All connections of one route, each carrying at most `max_streams_per_connection`."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        route: str,
        on_frame: FrameHandler,
        config: StreamsConfig,
        rng: random.Random,
    ) -> None:
        self.name = name
        self.route = route
        self._clock = clock
        self._on_frame = on_frame
        self._config = config
        self._rng = rng
        self._conns: list[StreamConnection] = []
        self._serial = itertools.count()
        self._running = False

    @property
    def connections(self) -> tuple[StreamConnection, ...]:
        return tuple(self._conns)

    @property
    def streams(self) -> frozenset[str]:
        return frozenset(s for c in self._conns for s in c.desired)

    def start(self) -> None:
        self._running = True
        for c in self._conns:
            c.conn.start()

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*(c.stop() for c in self._conns))

    async def set_streams(self, streams: Iterable[str]) -> None:
        """Carry exactly `streams`: fill connections with room first, open new ones for the
        rest, and close connections left with nothing to carry."""
        want = set(streams)
        for s in want:
            if route_for(s, self._config.routes) != self.route:
                raise ValueError(f"{s!r} is not served on /{self.route}")
        cap = self._config.max_streams_per_connection
        changed: list[StreamConnection] = []
        for c in self._conns:
            if c.desired - want:
                c.desired &= want
                changed.append(c)
        adds = sorted(want - {s for c in self._conns for s in c.desired})
        for c in self._conns:
            room = cap - len(c.desired)
            if adds and room > 0:
                c.desired.update(adds[:room])
                del adds[:room]
                changed.append(c)
        while adds:
            c = self._new_connection()
            c.desired.update(adds[:cap])
            del adds[:cap]
            if self._running:
                c.conn.start()
        empty = [c for c in self._conns if not c.desired]
        self._conns = [c for c in self._conns if c.desired]
        for c in changed:
            if c.desired:
                c.resync()
        await asyncio.gather(*(c.stop() for c in empty))

    def stats(self) -> tuple[ConnectionStats, ...]:
        return tuple(c.conn.stats() for c in self._conns)

    def _new_connection(self) -> StreamConnection:
        c = StreamConnection(
            f"{self.name}-{next(self._serial)}", self._clock, self.route, self._on_frame,
            self._config, self._rng,
        )
        self._conns.append(c)
        return c
