"""BinanceQuoteFeed without a socket: staleness on a simulated clock, the REST fallback,
listeners and the async stream."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator
from typing import cast

import orjson

from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.values import Quote

T0 = 1_767_225_600_000


def frame(symbol: str, u: int, bid: float, ask: float) -> bytes:
    return orjson.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": {
        "e": "bookTicker", "u": u, "s": symbol, "b": str(bid), "B": "1", "a": str(ask),
        "A": "2", "T": T0, "E": T0 + 1}})


async def run_until(clock: SimulatedClock, ts_ms: int) -> None:
    await clock.settle()
    while clock.next_due_ms <= ts_ms:
        clock.fire_due()
        await clock.settle()
    clock.advance(ts_ms)


def test_a_quote_goes_stale_after_the_configured_age_measured_from_receipt() -> None:
    clock = SimulatedClock(T0 + 60_000)  # our clock a minute ahead of Binance's: irrelevant
    feed = BinanceQuoteFeed(clock, QuoteFeedConfig(stale_after_ms=5_000), rng=random.Random(0))
    assert feed.latest("BTCUSDT") is None
    feed.ingest(frame("BTCUSDT", 1, 100.0, 100.1), clock.now_ms())
    fresh = feed.latest("BTCUSDT")
    assert fresh is not None and (fresh.age_ms, fresh.stale) == (0, False)
    assert fresh.quote == Quote("BTCUSDT", T0, 100.0, 1.0, 100.1, 2.0)
    clock.advance(clock.now_ms() + 5_000)
    edge = feed.latest("BTCUSDT")
    assert edge is not None and (edge.age_ms, edge.stale) == (5_000, False)
    clock.advance(clock.now_ms() + 1)
    stale = feed.latest("BTCUSDT")
    assert stale is not None and stale.stale and stale.quote == fresh.quote
    feed.ingest(frame("BTCUSDT", 2, 100.2, 100.3), clock.now_ms())
    again = feed.latest("BTCUSDT")
    assert again is not None and not again.stale


def test_stale_events_are_counted_once_per_silence_by_the_sweeper() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        feed = BinanceQuoteFeed(clock, QuoteFeedConfig(stale_after_ms=5_000, stale_check_ms=500),
                                rng=random.Random(0))
        await feed.start()  # no symbols subscribed: no socket; frames are fed by hand
        feed.ingest(frame("BTCUSDT", 1, 100.0, 100.1), clock.now_ms())
        feed.ingest(frame("ETHUSDT", 1, 10.0, 10.1), clock.now_ms())
        for step in range(1, 10):  # BTC keeps ticking every second, ETH falls silent
            await run_until(clock, T0 + step * 1_000)
            feed.ingest(frame("BTCUSDT", 1 + step, 100.0, 100.1), clock.now_ms())
        assert feed.stats().stale_events == 1  # ETH, once, however many sweeps saw it
        await run_until(clock, T0 + 20_000)
        assert feed.stats().stale_events == 2  # BTC stopped at 9 s
        feed.ingest(frame("ETHUSDT", 2, 10.0, 10.1), clock.now_ms())
        await run_until(clock, T0 + 30_000)
        assert feed.stats().stale_events == 3  # ETH went stale again
        await feed.stop()

    asyncio.run(main())


def test_stale_symbols_get_rest_quotes_through_the_listeners() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        calls: list[int] = []
        rest_quotes = [Quote("BTCUSDT", T0 + 9_000, 101.0, 3.0, 101.1, 4.0),
                       Quote("ETHUSDT", T0 + 9_000, 11.0, 3.0, 11.1, 4.0),
                       Quote("XRPUSDT", T0 + 9_000, 2.0, 3.0, 2.1, 4.0)]

        async def rest() -> list[Quote]:
            calls.append(clock.now_ms())
            if len(calls) == 2:
                raise ConnectionError("breaker open")
            return rest_quotes

        feed = BinanceQuoteFeed(clock, QuoteFeedConfig(stale_after_ms=5_000),
                                rng=random.Random(0), rest_fallback=rest)
        heard: list[Quote] = []
        feed.add_listener(heard.append)
        feed.ingest(frame("BTCUSDT", 1, 100.0, 100.1), clock.now_ms())
        feed.ingest(frame("ETHUSDT", 1, 10.0, 10.1), clock.now_ms())
        assert await feed.refresh_stale(["BTCUSDT", "ETHUSDT"]) == 0 and calls == []
        clock.advance(T0 + 9_000)
        feed.ingest(frame("ETHUSDT", 2, 10.0, 10.1), clock.now_ms())  # ETH still streams
        # one REST call for all; only the stale symbol asked about reaches the listeners
        assert await feed.refresh_stale(["BTCUSDT", "ETHUSDT"]) == 1
        assert heard[-1] == rest_quotes[0] and len(calls) == 1
        latest = feed.latest("BTCUSDT")
        assert latest is not None and latest.stale  # the stream itself is still stale
        assert await feed.refresh_stale(["BTCUSDT"]) == 0  # REST down: nothing, counted
        assert await feed.refresh_stale(["XRPUSDT"]) == 1  # never seen on the socket: REST
        stats = feed.stats()
        assert (stats.rest_fallbacks, stats.rest_fallback_errors) == (3, 1)

    asyncio.run(main())


def test_listeners_get_each_accepted_quote_and_a_failing_one_hurts_nobody() -> None:
    clock = SimulatedClock(T0)
    feed = BinanceQuoteFeed(clock, rng=random.Random(0))
    heard: list[float] = []

    def broken(q: Quote) -> None:
        raise RuntimeError("bug downstream")

    feed.add_listener(broken)
    feed.add_listener(lambda q: heard.append(q.bid))
    feed.ingest(frame("BTCUSDT", 1, 100.0, 100.1), clock.now_ms())
    feed.ingest(frame("BTCUSDT", 1, 99.0, 100.1), clock.now_ms())  # duplicate id: not delivered
    feed.ingest(frame("BTCUSDT", 2, 100.05, 100.1), clock.now_ms())
    assert heard == [100.0, 100.05]
    assert feed.stats().listener_errors == 2


def test_stream_yields_accepted_quotes_and_sheds_the_oldest_when_full() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        feed = BinanceQuoteFeed(clock, QuoteFeedConfig(stream_queue_size=3),
                                rng=random.Random(0))
        it = cast(AsyncGenerator[Quote, None], feed.stream())
        first = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)
        for u in range(1, 6):
            feed.ingest(frame("BTCUSDT", u, 100.0 + u, 200.0), clock.now_ms())
        got = [(await first).bid] + [(await it.__anext__()).bid for _ in range(2)]
        assert got == [103.0, 104.0, 105.0]  # 101 and 102 were shed
        assert feed.stats().stream_overflows == 2
        await it.aclose()

    asyncio.run(main())


def test_unsubscribed_symbols_leave_the_cache() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        feed = BinanceQuoteFeed(clock, rng=random.Random(0))
        await feed.subscribe(["btcusdt", "ETHUSDT"])
        assert feed.symbols == {"BTCUSDT", "ETHUSDT"}
        assert feed.pool.streams == {"btcusdt@bookTicker", "ethusdt@bookTicker"}
        feed.ingest(frame("ETHUSDT", 1, 10.0, 10.1), clock.now_ms())
        await feed.unsubscribe(["ETHUSDT"])
        assert feed.latest("ETHUSDT") is None
        assert feed.pool.streams == {"btcusdt@bookTicker"}

    asyncio.run(main())
