"""Transport logic that needs no socket: backoff schedule, pacing on a simulated clock, stream
routing, URLs, and how a pool packs streams into connections under the per-connection cap."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import orjson
import pytest

from slt.adapters.binance.ws.backoff import Backoff
from slt.adapters.binance.ws.pacing import Pacer
from slt.adapters.binance.ws.streams import (
    StreamConnection,
    StreamPool,
    StreamsConfig,
    book_ticker_stream,
    combined_url,
    route_for,
    stream_kind,
)
from slt.adapters.binance.ws.transport import TransportConfig, WsConnection
from slt.adapters.binance.ws.user import UserStreamConfig, user_stream_url
from slt.adapters.clocks.simulated import SimulatedClock


async def run_until(clock: SimulatedClock, ts_ms: int) -> None:
    """Drive the simulated clock: wake due timers and let tasks settle, up to `ts_ms`."""
    await clock.settle()
    while clock.next_due_ms <= ts_ms:
        clock.fire_due()
        await clock.settle()


# -- backoff ----------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_to_the_cap_with_seeded_jitter() -> None:
    b = Backoff(1_000, 30_000, 0.2, random.Random(42))
    delays = [b.next_ms() for _ in range(9)]
    bases = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]
    for d, base in zip(delays, bases, strict=True):
        assert 0.8 * base <= d <= min(30_000, 1.2 * base)
    assert len(set(delays)) > 5  # jittered, not lockstep
    again = Backoff(1_000, 30_000, 0.2, random.Random(42))
    assert [again.next_ms() for _ in range(9)] == delays  # reproducible from the seed
    b.reset()
    assert 800 <= b.next_ms() <= 1_200


def test_backoff_without_jitter_is_exact() -> None:
    b = Backoff(1_000, 60_000, 0.0, random.Random(0))
    assert [b.next_ms() for _ in range(8)] == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000,
                                               60_000, 60_000]
    for _ in range(100):
        b.next_ms()  # no overflow however long it keeps failing
    assert b.next_ms() == 60_000


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1_000, 0.1, random.Random(0))
    with pytest.raises(ValueError):
        Backoff(1_000, 500, 0.1, random.Random(0))
    with pytest.raises(ValueError):
        Backoff(1_000, 5_000, 1.0, random.Random(0))


# -- pacing -----------------------------------------------------------------------------------


def max_in_any_second(times: list[int]) -> int:
    return max(sum(1 for t in times if s <= t < s + 1_000) for s in times)


@pytest.mark.parametrize("limit", [5, 10])
def test_pacer_keeps_any_one_second_window_within_the_limit(limit: int) -> None:
    async def main() -> list[int]:
        clock = SimulatedClock(1_000_000)
        pacer = Pacer(clock, limit)
        sent: list[int] = []

        async def burst() -> None:
            for _ in range(37):
                sent.append(await pacer.acquire())

        task = clock.spawn(burst(), "burst")
        await run_until(clock, 2_000_000)
        assert task.done()
        return sent

    sent = asyncio.run(main())
    assert len(sent) == 37
    assert max_in_any_second(sent) == limit  # uses the budget, never more
    assert sent[limit] == sent[0] + 1_000
    assert sent[-1] - sent[0] < (37 // limit + 1) * 1_000


def test_pacer_slot_arithmetic() -> None:
    clock = SimulatedClock(0)
    pacer = Pacer(clock, 2, window_ms=1_000)
    assert pacer.next_slot_ms(0) == 0
    pacer._sent.extend([0, 400])
    assert pacer.next_slot_ms(500) == 1_000
    assert pacer.next_slot_ms(1_000) == 1_000  # the send at 0 has left the window
    assert pacer.next_slot_ms(1_500) == 1_500


class RecordingConnection:
    """Stands in for WsConnection under StreamConnection.sync: paced on the simulated clock,
    records what would have gone on the wire."""

    def __init__(self, clock: SimulatedClock, limit: int) -> None:
        self.clock = clock
        self.pacer = Pacer(clock, limit)
        self.connected = True
        self.name = "fake"
        self.frames: list[tuple[int, dict[str, Any]]] = []

    async def send(self, payload: str) -> bool:
        now = await self.pacer.acquire()
        self.frames.append((now, orjson.loads(payload)))
        return True


def test_subscription_changes_are_batched_and_paced() -> None:
    async def main() -> tuple[RecordingConnection, StreamConnection]:
        clock = SimulatedClock(0)
        config = StreamsConfig(max_streams_per_connection=1024, url_streams_max=10,
                               subscribe_batch=20)
        sc = StreamConnection("c", clock, "public", lambda raw, ms: None, config,
                              random.Random(0))
        fake = RecordingConnection(clock, TransportConfig().max_sends_per_s)
        sc.conn = fake  # type: ignore[assignment]
        sc.desired = {book_ticker_stream(f"S{i:04d}USDT") for i in range(700)}
        url = await sc._url()
        assert url.count("@bookTicker") == 10  # the URL carries only the first ten
        task = clock.spawn(sc.sync(), "sync")
        await run_until(clock, 60_000)
        assert task.done()
        # then the symbol set shrinks at runtime
        sc.desired = set(sorted(sc.desired)[:650])
        task = clock.spawn(sc.sync(), "sync")
        await run_until(clock, 120_000)
        assert task.done()
        return fake, sc

    fake, sc = asyncio.run(main())
    subs = [f for _, f in fake.frames if f["method"] == "SUBSCRIBE"]
    unsubs = [f for _, f in fake.frames if f["method"] == "UNSUBSCRIBE"]
    assert sum(len(f["params"]) for f in subs) == 690 and len(subs) == 35
    assert sum(len(f["params"]) for f in unsubs) == 50 and len(unsubs) == 3
    assert all(len(f["params"]) <= 20 for f in subs + unsubs)
    ids = [f["id"] for _, f in fake.frames]
    assert ids == sorted(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    times = [t for t, _ in fake.frames]
    assert max_in_any_second(times) <= 5 < 10  # Binance's limit is 10 incoming a second
    assert sc.active == sc.desired


# -- routes, names, URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(("stream", "kind", "route"), [
    ("btcusdt@bookTicker", "bookTicker", "public"),
    ("!bookTicker", "bookTicker", "public"),
    ("btcusdt@depth20@100ms", "depth", "public"),
    ("btcusdt@depth@500ms", "depth", "public"),
    ("btcusdt@kline_1m", "kline", "market"),
    ("btcusdt@markPrice@1s", "markPrice", "market"),
    ("!markPrice@arr@1s", "markPrice", "market"),
    ("btcusdt_perpetual@continuousKline_5m", "continuousKline", "market"),
    ("btcusdt@aggTrade", "aggTrade", "market"),
    ("!contractInfo", "contractInfo", "market"),
])
def test_stream_routes(stream: str, kind: str, route: str) -> None:
    assert stream_kind(stream) == kind
    assert route_for(stream) == route


def test_routes_are_configurable_and_unknown_kinds_refused() -> None:
    assert route_for("btcusdt@bookTicker", {"bookTicker": "ws"}) == "ws"
    with pytest.raises(ValueError):
        route_for("btcusdt@nothing")
    with pytest.raises(ValueError):
        stream_kind("btcusdt")


def test_urls() -> None:
    assert combined_url("wss://fstream.binance.com/", "public",
                        ["btcusdt@bookTicker", "ethusdt@bookTicker"]) == (
        "wss://fstream.binance.com/public/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker")
    assert book_ticker_stream("BTCUSDT") == "btcusdt@bookTicker"
    cfg = UserStreamConfig(base_url="wss://x", events=("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"))
    assert user_stream_url(cfg, "K") == (
        "wss://x/private/ws?listenKey=K&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE")
    path_form = UserStreamConfig(base_url="wss://x", url_template="{base}/private/ws/{listen_key}",
                                 events=("ORDER_TRADE_UPDATE",))
    assert user_stream_url(path_form, "K") == "wss://x/private/ws/K?events=ORDER_TRADE_UPDATE"
    assert user_stream_url(UserStreamConfig(base_url="wss://x"), "K") == (
        "wss://x/private/ws?listenKey=K")


# -- the per-connection stream cap ------------------------------------------------------------


def pool(cap: int) -> StreamPool:
    return StreamPool("p", SimulatedClock(0), "public", lambda raw, ms: None,
                      StreamsConfig(max_streams_per_connection=cap), random.Random(0))


def streams(*symbols: str) -> list[str]:
    return [book_ticker_stream(s) for s in symbols]


def test_streams_beyond_the_cap_open_more_connections() -> None:
    async def main() -> None:
        p = pool(cap=3)
        names = [f"S{i}USDT" for i in range(8)]
        await p.set_streams(streams(*names))
        sizes = [len(c.desired) for c in p.connections]
        assert sizes == [3, 3, 2]
        assert p.streams == frozenset(streams(*names))
        # dropping streams leaves holes; new streams fill them before a new connection opens
        await p.set_streams(streams(*names[2:8]))
        assert sum(len(c.desired) for c in p.connections) == 6
        await p.set_streams(streams(*names[2:8], "NEW1USDT", "NEW2USDT", "NEW3USDT"))
        assert [len(c.desired) for c in p.connections] == [3, 3, 3]
        # a connection left with nothing to carry is closed
        await p.set_streams(streams(*names[5:8]))
        assert len(p.connections) <= 2 and p.streams == frozenset(streams(*names[5:8]))
        assert all(c.desired for c in p.connections)
        await p.set_streams([])
        assert p.connections == ()

    asyncio.run(main())


def test_default_cap_is_1024_and_streams_must_match_the_route() -> None:
    async def main() -> None:
        p = StreamPool("p", SimulatedClock(0), "public", lambda raw, ms: None, StreamsConfig(),
                       random.Random(0))
        await p.set_streams(streams(*(f"S{i}USDT" for i in range(1500))))
        assert [len(c.desired) for c in p.connections] == [1024, 476]
        with pytest.raises(ValueError):
            await p.set_streams(["btcusdt@kline_1m"])  # a /market stream

    asyncio.run(main())


def test_failed_connects_are_retried_on_the_backoff_schedule_of_the_seeded_rng() -> None:
    async def main() -> tuple[list[int], int]:
        clock = SimulatedClock(0)
        attempts: list[int] = []

        async def unreachable() -> str:
            attempts.append(clock.now_ms())
            raise ConnectionRefusedError("nobody listens")  # before any socket is opened

        config = TransportConfig(backoff_first_ms=1_000, backoff_cap_ms=30_000,
                                 backoff_jitter=0.2)
        conn = WsConnection("c", clock, unreachable, lambda raw, ms: None, config,
                            rng=random.Random(99))
        conn.start()
        await run_until(clock, 200_000)
        failures = conn.stats().connect_failures
        await conn.stop()
        return attempts, failures

    attempts, failures = asyncio.run(main())
    expected = Backoff(1_000, 30_000, 0.2, random.Random(99))
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps == [expected.next_ms() for _ in gaps]
    assert gaps[0] < 1_500 and max(gaps) <= 30_000 and len(gaps) >= 8
    assert failures == len(attempts)
