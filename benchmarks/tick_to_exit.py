"""Tick-to-exit latency over loopback: the emulator sends a bookTicker that crosses a stop;
how long until it receives the bot's reduce-only exit order?

    python benchmarks/tick_to_exit.py [--trials 120] [--runs 3]

The full live path: emulator WebSocket -> BinanceQuoteFeed (decode, cache) -> PositionController
(exit guard, state machine) -> GuardedGateway (breaker) -> BinanceGateway (signing, limiter) ->
HTTP -> emulator. Fills come back on the user-data stream. Prints p50 / p99 / max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from decimal import Decimal

from slt.adapters.binance import BinanceGateway, BinanceHttpClient, RestConfig
from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.user import ListenKeyCalls, UserDataStream, UserSinks, UserStreamConfig
from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.adapters.sqlite_store import SqliteStore
from slt.application.guarded_gateway import GuardedGateway
from slt.application.position_controller import ExitSettings, PositionController
from slt.domain.breaker import CircuitBreaker
from slt.domain.filters import SymbolFilters
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Quote
from slt.emulator import Emulator, EmulatorConfig

SYMBOL = "BTCUSDT"
FILTERS = {
    SYMBOL: SymbolFilters(
        SYMBOL, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(1000), Decimal(5)
    )
}


class StampedCalls(list):  # type: ignore[type-arg]
    """The emulator's order ledger, stamped with the wall time each request was recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()
        self.stamps: list[float] = []

    def append(self, call) -> None:  # type: ignore[no-untyped-def]
        super().append(call)
        self.stamps.append(time.perf_counter())
        self.arrived.set()


async def _nothing() -> None:
    return None


async def wait_for(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.001)


async def main(trials: int) -> list[float]:
    clock = LiveClock()
    config = EmulatorConfig(filters=FILTERS, ws_max_incoming_per_s=1000)
    async with Emulator(config, clock) as emulator:
        calls = StampedCalls()
        emulator.ledger.calls = calls
        creds = Credentials(config.api_key, config.api_secret)
        async with BinanceHttpClient(RestConfig(base_url=emulator.rest_url), clock, creds) as http:
            binance = BinanceGateway(http)
            store = SqliteStore(":memory:", durable=False)
            gateway = GuardedGateway(binance, CircuitBreaker(), clock, store)
            controller = PositionController(
                clock, gateway, store, FILTERS, ExitSettings(max_hold_ms=0, exchange_stop=False)
            )
            feed = BinanceQuoteFeed(
                clock,
                QuoteFeedConfig(streams=StreamsConfig(base_url=emulator.ws_url)),
                rng=random.Random(0),
            )
            feed.add_listener(controller.on_quote)
            user = UserDataStream(
                clock,
                ListenKeyCalls(binance.create_listen_key, binance.keepalive_listen_key),
                UserSinks(fill=binance.deliver_fill),
                reconcile=_nothing,
                config=UserStreamConfig(base_url=emulator.ws_url),
                rng=random.Random(1),
            )
            await feed.subscribe([SYMBOL])
            await feed.start()
            await user.start()
            await asyncio.wait_for(user.connection.wait_connected(), 5)
            latencies = []
            for k in range(trials):
                base = 90_000.0 + (k % 7)
                quote = Quote(SYMBOL, clock.now_ms(), base, 1.0, base + 0.1, 1.0)
                while feed.latest(SYMBOL) is None or feed.latest(SYMBOL).quote.bid != base:
                    emulator.push_quote(quote._replace(ts_ms=clock.now_ms()))
                    await asyncio.sleep(0.005)
                candidate = Candidate(SYMBOL, Direction.LONG, clock.now_ms(), base, 100.0, 2.0, 0.0)
                p = await controller.open_position(
                    candidate,
                    Sizing(Decimal("0.01"), Decimal(900), 5, Decimal(1)),
                    Decimal(repr(base + 0.1)),
                )
                await wait_for(lambda p=p: p.status == "open")
                before = len(calls)
                calls.arrived.clear()
                t0 = time.perf_counter()
                emulator.push_quote(
                    Quote(SYMBOL, clock.now_ms(), base - 200, 1.0, base - 199.9, 1.0)
                )
                while len(calls) == before:
                    calls.arrived.clear()
                    await asyncio.wait_for(calls.arrived.wait(), 5)
                latencies.append((calls.stamps[before] - t0) * 1000)
                await wait_for(lambda p=p: p.status == "closed")
            await user.stop()
            await feed.stop()
            return latencies


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Two orders a trial: more than 150 in 10 s would meet Binance's 300 orders/10 s limit.
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--runs", type=int, default=1, help="runs, each on a fresh emulator")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, load average (1 min) {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    p50s, p99s = [], []
    for _ in range(args.runs):
        lat = asyncio.run(main(args.trials))
        q = statistics.quantiles(lat, n=100)
        p50s.append(q[49])
        p99s.append(q[98])
        print(
            f"tick-to-exit over loopback, {len(lat)} trials: p50 {q[49]:.2f} ms  "
            f"p99 {q[98]:.2f} ms  max {max(lat):.2f} ms"
        )
    if args.runs > 1:
        print(f"median of {args.runs} runs: p50 {statistics.median(p50s):.2f} ms  "
              f"p99 {statistics.median(p99s):.2f} ms; load average now {os.getloadavg()[0]:.1f}")
