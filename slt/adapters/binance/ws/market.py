"""BinanceQuoteFeed: the live PriceFeed, from `<symbol>@bookTicker` combined streams."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from slt.adapters.binance.ws.messages import (
    BookTicker,
    BookTickerDecoder,
    ControlReply,
    DropKind,
    Malformed,
)
from slt.adapters.binance.ws.streams import (
    StreamPool,
    StreamsConfig,
    book_ticker_stream,
    route_for,
)
from slt.adapters.binance.ws.transport import ConnectionStats, worth_logging
from slt.domain.quote_cache import QuoteAge
from slt.domain.values import Quote
from slt.ports.clock import Clock
from slt.ports.price_feed import PriceFeed, QuoteListener

log = logging.getLogger(__name__)

RestQuotes = Callable[[], Awaitable[list[Quote]]]  # every symbol's best bid/ask over REST


class TickerCache:
    """Newest bookTicker per symbol, ordered by Binance's update id `u`.

    Unlike the domain QuoteCache it orders by `u` rather than by timestamp (several updates share
    a millisecond) and measures age from the local receive time, so a skew between our clock and
    Binance's cannot make every quote look stale, or none. Sanity (finite, positive, uncrossed)
    is checked by the decoder before a ticker gets here.
    """

    __slots__ = ("entries", "stale_after_ms")

    def __init__(self, stale_after_ms: int) -> None:
        if stale_after_ms <= 0:
            raise ValueError("stale_after_ms must be positive")
        self.stale_after_ms = stale_after_ms
        self.entries: dict[str, BookTicker] = {}

    def get(self, symbol: str) -> BookTicker | None:
        return self.entries.get(symbol)

    def latest(self, symbol: str, now_ms: int) -> QuoteAge | None:
        t = self.entries.get(symbol)
        if t is None:
            return None
        age = max(0, now_ms - t.recv_ms)
        return QuoteAge(t.quote, age, age > self.stale_after_ms)

    def discard(self, symbol: str) -> None:
        self.entries.pop(symbol, None)


@dataclass(frozen=True, slots=True)
class QuoteFeedConfig:
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    stale_after_ms: int = 5_000
    stale_check_ms: int = 1_000  # how often staleness transitions are counted
    stream_queue_size: int = 10_000  # per `stream()` consumer; the oldest quote goes on overflow


@dataclass(frozen=True, slots=True)
class QuoteFeedStats:
    messages: int
    accepted: int
    dropped: Mapping[str, int]  # DropKind value -> count, out_of_order included
    stale_events: int  # a cached symbol went stale (counted once per silence)
    update_id_resets: int  # a lower `u` accepted because the cached one had gone stale
    rest_fallbacks: int
    rest_fallback_errors: int
    control_replies: int
    control_errors: int
    listener_errors: int
    stream_overflows: int
    reconnects: int  # sum over the open connections
    connections: tuple[ConnectionStats, ...]


class BinanceQuoteFeed(PriceFeed):
    """Best bid/ask of the subscribed symbols from `<symbol>@bookTicker` combined streams.

    Frames are decoded as they arrive (`ingest`, the hot path) and each accepted quote goes to
    the cache and, synchronously, to every listener. Malformed frames and late update ids are
    counted by kind and dropped. `latest` marks a quote stale once it is older than
    `stale_after_ms`; `refresh_stale` then reads REST quotes for the symbols that matter and
    passes them to the listeners like streamed ones. Connections, reconnects,
    pacing and rotation are the pool's (streams.StreamPool); `stats()` is a frozen snapshot.
    """

    def __init__(
        self,
        clock: Clock,
        config: QuoteFeedConfig | None = None,
        *,
        rng: random.Random,
        rest_fallback: RestQuotes | None = None,
    ) -> None:
        self.config = config = config or QuoteFeedConfig()
        self._clock = clock
        self._rest = rest_fallback
        self.cache = TickerCache(config.stale_after_ms)
        self._entries = self.cache.entries
        self._decode = BookTickerDecoder().decode
        self._route = route_for(book_ticker_stream("btcusdt"), config.streams.routes)
        self._pool = StreamPool(
            f"bookTicker/{self._route}", clock, self._route, self.ingest, config.streams, rng
        )
        self._symbols: set[str] = set()
        self._listeners: tuple[QuoteListener, ...] = ()
        self._queues: list[asyncio.Queue[Quote]] = []
        self._stale_marks: dict[str, int] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._messages = 0
        self._dropped: dict[str, int] = {}
        self._controls = 0
        self._control_errors = 0
        self._listener_errors = 0
        self._overflows = 0
        self._stale_events = 0
        self._id_resets = 0
        self._rest_calls = 0
        self._rest_errors = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._pool.start()
        if self._sweeper is None:
            self._sweeper = self._clock.spawn(self._sweep_stale(), "quote-feed:stale-sweep")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        await self._pool.stop()

    # -- PriceFeed ----------------------------------------------------------------------------

    async def subscribe(self, symbols: Iterable[str]) -> None:
        await self.set_symbols(self._symbols | {s.upper() for s in symbols})

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        await self.set_symbols(self._symbols - {s.upper() for s in symbols})

    async def set_symbols(self, symbols: Iterable[str]) -> None:
        """Carry exactly `symbols`; the pool sends only the difference."""
        wanted = {s.upper() for s in symbols}
        for gone in self._symbols - wanted:
            self.cache.discard(gone)
            self._stale_marks.pop(gone, None)
        self._symbols = wanted
        await self._pool.set_streams(book_ticker_stream(s) for s in wanted)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    def latest(self, symbol: str) -> QuoteAge | None:
        return self.cache.latest(symbol, self._clock.now_ms())

    def ticker(self, symbol: str) -> BookTicker | None:
        """The full cached record: quote, update id, event/transaction and receive times."""
        return self.cache.get(symbol)

    def add_listener(self, listener: QuoteListener) -> None:
        self._listeners = (*self._listeners, listener)

    async def stream(self) -> AsyncIterator[Quote]:
        queue: asyncio.Queue[Quote] = asyncio.Queue(self.config.stream_queue_size)
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    async def refresh_stale(self, symbols: Iterable[str]) -> int:
        """Those of `symbols` whose streamed quote is stale (or missing) get one from the REST
        fallback (one request for all), passed to the listeners as if streamed, so that exits
        keep being checked while a stream is silent. The cache keeps the streamed quote: the
        stream is still stale. Returns how many quotes were passed on."""
        now = self._clock.now_ms()
        latest = self.cache.latest
        stale = set()
        for symbol in symbols:
            cached = latest(symbol, now)
            if cached is None or cached.stale:
                stale.add(symbol)
        if not stale or self._rest is None:
            return 0
        self._rest_calls += 1
        try:
            quotes = await self._rest()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._rest_errors += 1
            log.warning("REST quotes for stale %s failed: %r", sorted(stale), exc)
            return 0
        passed = 0
        for quote in quotes:
            if quote.symbol in stale:
                self._publish(quote)
                passed += 1
        return passed

    # -- the hot path -------------------------------------------------------------------------

    def ingest(self, raw: bytes | str, recv_ms: int) -> None:
        """One frame from a bookTicker connection."""
        self._messages += 1
        try:
            t = self._decode(raw, recv_ms)
        except Malformed as exc:
            self._drop(exc.kind)
            return
        if type(t) is not BookTicker:
            self._on_control(t)
            return
        entries = self._entries
        # Tuple indexing rather than field names on the hot path: t[0] = quote, t[1] = u,
        # quote[0] = symbol.
        quote = t[0]
        symbol = quote[0]
        prev = entries.get(symbol)
        if prev is not None and t[1] <= prev[1] and not self._accept_lower_id(t, prev):
            self._drop(DropKind.OUT_OF_ORDER)
            return
        entries[symbol] = t
        # _publish, inlined: one call less per frame.
        for listener in self._listeners:
            try:
                listener(quote)
            except Exception:
                self._listener_failed(listener)
        if self._queues:
            self._enqueue(quote)

    def _publish(self, quote: Quote) -> None:
        for listener in self._listeners:
            try:
                listener(quote)
            except Exception:
                self._listener_failed(listener)
        self._enqueue(quote)

    def _listener_failed(self, listener: QuoteListener) -> None:
        self._listener_errors += 1
        if worth_logging(self._listener_errors):
            log.exception("quote listener %r failed (%d failures so far)", listener,
                          self._listener_errors)

    def _enqueue(self, quote: Quote) -> None:
        for queue in self._queues:
            if queue.full():
                self._overflows += 1
                queue.get_nowait()
            queue.put_nowait(quote)

    def _accept_lower_id(self, t: BookTicker, prev: BookTicker) -> bool:
        # An update id that went backwards after a long silence is a restarted book, not a late
        # frame: refusing it would leave the symbol stale forever.
        if t.recv_ms - prev.recv_ms > self.cache.stale_after_ms:
            self._id_resets += 1
            log.warning("%s: update id went back %s -> %s", t.quote.symbol, prev.u, t.u)
            return True
        return False

    def _drop(self, kind: str) -> None:
        n = self._dropped[kind] = self._dropped.get(kind, 0) + 1
        if worth_logging(n) and kind != DropKind.OUT_OF_ORDER:
            log.warning("bookTicker frame dropped: %s (%d so far)", kind, n)

    def _on_control(self, reply: ControlReply) -> None:
        self._controls += 1
        if reply.code is not None:
            self._control_errors += 1
            log.error("bookTicker control request %s failed: %s %s", reply.id, reply.code,
                      reply.msg)

    # -- staleness ----------------------------------------------------------------------------

    async def _sweep_stale(self) -> None:
        while True:
            await self._clock.sleep(self.config.stale_check_ms / 1000)
            self.count_stale(self._clock.now_ms())

    def count_stale(self, now_ms: int) -> int:
        """Count symbols that went stale since the last sweep; returns how many did."""
        went = 0
        limit = self.cache.stale_after_ms
        marks = self._stale_marks
        for symbol, t in self.cache.entries.items():
            if now_ms - t.recv_ms <= limit or marks.get(symbol) == t.recv_ms:
                continue
            marks[symbol] = t.recv_ms  # counted once until a newer quote arrives
            went += 1
        self._stale_events += went
        return went

    # -- metrics ------------------------------------------------------------------------------

    def stats(self) -> QuoteFeedStats:
        conns = self._pool.stats()
        dropped = sum(self._dropped.values())
        return QuoteFeedStats(
            messages=self._messages,
            accepted=self._messages - dropped - self._controls,
            dropped=MappingProxyType(dict(self._dropped)),
            stale_events=self._stale_events,
            update_id_resets=self._id_resets,
            rest_fallbacks=self._rest_calls,
            rest_fallback_errors=self._rest_errors,
            control_replies=self._controls,
            control_errors=self._control_errors,
            listener_errors=self._listener_errors,
            stream_overflows=self._overflows,
            reconnects=sum(c.reconnects for c in conns),
            connections=conns,
        )

    @property
    def pool(self) -> StreamPool:
        return self._pool
