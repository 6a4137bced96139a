"""Replay throughput, memory and exit-check latency of the simulator's hot path.

    python benchmarks/replay_throughput.py [--quotes 1000000] [--symbols 100] [--positions 200]

1. Writes a seeded random walk of N bookTicker quotes over S symbols to a temporary CSV
   (multi-symbol quotes format), then replays it from disk — parsing included — through
   FakeExchange -> ReplayFeed (quote cache) -> bars -> PositionController, with P open positions
   (P/S per symbol) whose stops (--stop-pct away, target at 2R) are hit from time to time and
   then reopened: each exit walks the position lifecycle and writes to the store.
   Also the same pipeline with the quotes already in memory and no positions: the per-quote
   cost of the bot itself, parsing aside.
   And the floor: the file parsed into quotes with nothing downstream.
2. Peak resident memory of the process (ru_maxrss), and the growth during the replay.
3. Per-quote latency of PositionController.on_quote alone with P positions over S symbols and
   nothing firing: p50 / p99 / max.

For reference, NautilusTrader 1.221 processes 126-139k quotes/s through its backtest engine on
a 2-core machine of this kind with ~400 MB for 200k quotes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.replay import DataSource, open_replay
from slt.adapters.replay.feed import ReplayFeed
from slt.adapters.sqlite_store import SqliteStore
from slt.application.data_service import BarBuilder
from slt.application.position_controller import ExitSettings, PositionController
from slt.application.simulation.driver import replay
from slt.domain.filters import SymbolFilters
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Quote

START_MS = 1_764_460_800_000


def write_random_walk(path: Path, n: int, symbols: int, seed: int) -> None:
    rng = random.Random(seed)
    mids = [100.0 + 10 * i for i in range(symbols)]
    ts = START_MS
    with path.open("w") as out:
        out.write("symbol,ts_ms,bid_price,bid_qty,ask_price,ask_qty\n")
        for _ in range(n):
            i = rng.randrange(symbols)
            ts += rng.randrange(0, 20)
            mids[i] = max(1.0, mids[i] * (1 + rng.gauss(0, 0.0005)))
            bid = round(mids[i], 2)
            out.write(f"S{i:03d}USDT,{ts},{bid:.2f},1.5,{bid + 0.01:.2f},2.5\n")


def filters_for(symbols: int) -> dict[str, SymbolFilters]:
    return {
        f"S{i:03d}USDT": SymbolFilters(
            symbol=f"S{i:03d}USDT",
            tick_size=Decimal("0.01"),
            step_size=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            max_qty=Decimal(10**6),
            min_notional=Decimal(5),
        )
        for i in range(symbols)
    }


class Rig:
    def __init__(self, symbols: int, positions: int) -> None:
        self.filters = filters_for(symbols)
        self.clock = SimulatedClock(START_MS)
        self.exchange = FakeExchange(self.filters, self.clock, wallet=Decimal(10**9))
        self.feed = ReplayFeed(self.clock, stale_after_ms=60_000)
        self.bars = BarBuilder("1m")
        self.controller = PositionController(
            self.clock,
            self.exchange,
            SqliteStore(":memory:"),
            self.filters,
            ExitSettings(max_hold_ms=0),
        )
        self.feed.add_listener(self.exchange.on_quote)
        self.feed.add_listener(self.bars.on_quote)
        self.feed.add_listener(self.controller.on_quote)
        self.per_symbol = positions // symbols
        self.symbols = list(self.filters)
        self.reopened = 0
        self.controller.add_closed_listener(self._reopen)

    def publish(self, q: Quote) -> None:
        self.feed.publish(q)

    stop_pct = 2.0

    async def open(self, symbol: str) -> None:
        q = self.feed.cache.quotes[symbol]
        # One-way mode nets a symbol's positions, so all of a symbol's share a direction.
        direction = Direction.LONG if self.symbols.index(symbol) % 2 == 0 else Direction.SHORT
        entry = Decimal(repr(q.ask if direction is Direction.LONG else q.bid))
        dist = q.mid * self.stop_pct / 100
        candidate = Candidate(symbol, direction, q.ts_ms, q.mid, dist, 2.0, 0.0)
        sizing = Sizing(Decimal(1), entry, 1, Decimal(repr(dist)))
        await self.controller.open_position(candidate, sizing, entry)

    def _reopen(self, p) -> None:  # type: ignore[no-untyped-def]
        self.reopened += 1
        self.clock.spawn(self.open(p.symbol), name="reopen")

    async def seed_positions(self) -> None:
        # One quote per symbol so entries have a price, then the positions.
        for i, symbol in enumerate(self.symbols):
            mid = 100.0 + 10 * i
            self.publish(Quote(symbol, START_MS, mid, 1.0, mid + 0.01, 1.0))
        for symbol in self.symbols:
            for _ in range(self.per_symbol):
                await self.open(symbol)
        await self.clock.settle()


async def throughput(
    path: Path, symbols: int, positions: int, stop_pct: float
) -> tuple[int, float, int, int]:
    rig = Rig(symbols, positions)
    rig.stop_pct = stop_pct
    await rig.seed_positions()
    open_before = len(rig.controller.positions)
    stream = open_replay([DataSource(path, None)])
    began = time.perf_counter()
    n = await replay(stream, rig.clock, rig.feed.publish)
    elapsed = time.perf_counter() - began
    assert len(rig.controller.positions) == open_before
    return n, elapsed, rig.reopened, len(rig.controller.positions)


def parse_only(path: Path) -> tuple[int, float]:
    """The floor: reading the file into quotes, nothing else."""
    began = time.perf_counter()
    n = sum(1 for _ in open_replay([DataSource(path, None)]))
    return n, time.perf_counter() - began


async def pipeline_only(path: Path, symbols: int) -> tuple[int, float]:
    quotes = list(open_replay([DataSource(path, None)]))
    rig = Rig(symbols, 0)
    began = time.perf_counter()
    n = await replay(quotes, rig.clock, rig.feed.publish)
    return n, time.perf_counter() - began


async def latency(symbols: int, positions: int, samples: int, seed: int) -> list[int]:
    rig = Rig(symbols, positions)
    await rig.seed_positions()
    rng = random.Random(seed)
    quotes = []
    for k in range(samples):
        i = rng.randrange(symbols)
        mid = (100.0 + 10 * i) * (1 + rng.uniform(-0.004, 0.004))  # inside every stop/target
        quotes.append(Quote(rig.symbols[i], START_MS + 1 + k, mid, 1.0, mid + 0.01, 1.0))
    on_quote = rig.controller.on_quote
    clock = time.perf_counter_ns
    timings = []
    for q in quotes:
        t0 = clock()
        on_quote(q)
        timings.append(clock() - t0)
    assert len(rig.controller.positions) == positions
    return timings


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--latency-samples", type=int, default=200_000)
    parser.add_argument("--stop-pct", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "walk.csv"
        write_random_walk(path, args.quotes, args.symbols, args.seed)
        rss_before = rss_mb()
        n, elapsed, reopened, still_open = asyncio.run(
            throughput(path, args.symbols, args.positions, args.stop_pct)
        )
        rss_after = rss_mb()
        bare_n, bare_elapsed = asyncio.run(pipeline_only(path, args.symbols))
        parse_n, parse_elapsed = parse_only(path)
    print(f"python {sys.version.split()[0]}")
    print(f"replay: {n:,} quotes over {args.symbols} symbols in {elapsed:.2f} s "
          f"= {n / elapsed:,.0f} quotes/s (CSV parsing, exchange, cache, bars, exits)")
    print(f"        {reopened:,} exits taken and reopened, {still_open} positions open at the end")
    print(f"bot only (quotes in memory, no positions): {bare_n / bare_elapsed:,.0f} quotes/s")
    print(f"parse only (CSV to quotes, the floor): {parse_n / parse_elapsed:,.0f} quotes/s "
          f"({parse_elapsed:.2f} s, {parse_elapsed / elapsed:.0%} of the replay)")
    print(f"memory: peak RSS {rss_after:.0f} MB (grew {rss_after - rss_before:.0f} MB "
          "during the replay)")
    timings = asyncio.run(latency(args.symbols, args.positions, args.latency_samples, args.seed))
    q = statistics.quantiles(timings, n=100)
    print(f"exit check, {args.positions} positions over {args.symbols} symbols: "
          f"p50 {q[49] / 1000:.2f} us  p99 {q[98] / 1000:.2f} us  max {max(timings) / 1000:.1f} us")


if __name__ == "__main__":
    main()
