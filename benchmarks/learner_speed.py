"""Speed of the learning trader: prints its figures.

1. Indicators: CPU time of one closed-bar update of every indicator (IndicatorSet) after
   1k, 10k and 100k bars of history: it stays flat, the update is O(1).
2. Trading cycle: CPU time of one trading cycle of the SelfLearningTrader in simulation with
   S symbols (default 50) x 3 intervals (5m, 15m, 1h), a live model scoring every candidate.
   Measured on the cycles at whole hours, where a bar closes at all three intervals for every
   symbol; the bot is built by the real composition root and fed by the simulation driver.
3. Training: wall and CPU time of one training (walk-forward validation with 3 folds plus the
   final fit) on 10k samples, and of the final fit alone.

Usage: python benchmarks/learner_speed.py [--symbols 50] [--days 3] [--samples 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.model import fit
from slt.application.learner.registry import ModelRegistry
from slt.application.learner.samples import LabelledSample
from slt.application.learner.training import FoldMetrics, TrainResult, Validation, train
from slt.application.learner.window import TrainingWindow
from slt.application.simulation.driver import replay, run_until
from slt.config import Settings
from slt.container import build_container, listen_to_quotes
from slt.domain.filters import inferred_filters
from slt.domain.indicators import IndicatorParams, IndicatorSet
from slt.domain.values import Bar, Quote

START = 1_764_547_200_000  # 2025-12-01 00:00 UTC
HOUR = 3_600_000


def indicator_update_us(history: int, probes: int = 20_000) -> float:
    rng = random.Random(history)
    indicators = IndicatorSet(IndicatorParams())
    price = 100.0

    def bar(i: int) -> Bar:
        nonlocal price
        o = price
        price *= 1 + rng.gauss(0, 0.002)
        return Bar(i, o, max(o, price) * 1.001, min(o, price) * 0.999, price, rng.uniform(1, 9))

    for i in range(history):
        indicators.update(bar(i))
    bars = [bar(history + i) for i in range(probes)]
    began = time.process_time()
    for b in bars:
        indicators.update(b)
    return (time.process_time() - began) / probes * 1e6


def synthetic_samples(n: int, seed: int = 1) -> list[LabelledSample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = tuple(rng.gauss(0, 1) for _ in FEATURE_NAMES)
        r = 2.0 if rng.random() < (0.5 if x[0] > 0 else 0.25) else -1.0
        out.append(LabelledSample(i * 60_000, i * 60_000 + HOUR, x, r))
    return out


def quotes(symbols: list[str], days: int, seed: int) -> Iterator[Quote]:
    """A random walk per symbol, one quote per symbol every 20 s."""
    rng = random.Random(seed)
    prices = {s: 100.0 + 10 * i for i, s in enumerate(symbols)}
    for ts in range(START, START + days * 24 * HOUR, 20_000):
        for s in symbols:
            p = prices[s] = prices[s] * (1 + rng.gauss(0, 0.0015))
            yield Quote(s, ts, round(p, 4), rng.uniform(1, 50), round(p * 1.0001 + 1e-4, 4), 5.0)


async def cycle_cpu_ms(n_symbols: int, days: int) -> tuple[list[float], list[float], int]:
    symbols = [f"S{i:03d}USDT" for i in range(n_symbols)]
    filters = {s: inferred_filters(s, 4, 100.0) for s in symbols}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # A live model from the start, so every candidate is scored.
        model = fit([s.features for s in synthetic_samples(2000)], [2.0, -1.0] * 1000)
        fold = FoldMetrics(0, 1, 100, 100, 80, -10.0, 50, 30, 20.0, 50.0, 0.5)
        passing = Validation((fold,), 0.0, 0.2)
        ModelRegistry(out / "models").register(TrainResult(model, passing, START, 2000, 0, START))
        container = build_container(Settings(), filters, START, out)
        clock, feed, trader = container.clock(), container.feed(), container.trader()
        listen_to_quotes(container)
        await feed.subscribe(filters)
        hourly: list[float] = []
        other: list[float] = []
        inner = trader.trading_cycle

        async def timed(now_ms: int) -> None:
            began = time.process_time()
            await inner(now_ms)
            (hourly if now_ms % HOUR == 0 else other).append((time.process_time() - began) * 1e3)

        trader.trading_cycle = timed  # type: ignore[method-assign]
        scheduler = container.scheduler()
        scheduler.start()
        await clock.settle()
        await replay(quotes(symbols, days, 7), clock, feed.publish)
        await run_until(clock, START + days * 24 * HOUR)
        await scheduler.stop()
        container.store().close()
        return hourly, other, trader.candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}")

    sizes = (1_000, 10_000, 100_000)
    figures = ", ".join(f"{n:,} bars: {indicator_update_us(n):.1f} us" for n in sizes)
    print(f"indicators (EMA x2, ATR, ATR baseline, RSI, MACD, Bollinger, ADX, volume, range), "
          f"one closed-bar update after {figures}")

    hourly, other, candidates = asyncio.run(cycle_cpu_ms(args.symbols, args.days))
    print(f"trading cycle, {args.symbols} symbols x 3 intervals, live model scoring "
          f"{candidates} candidates over {args.days} days:")
    print(f"  at whole hours (all intervals close, {len(hourly)} cycles): median "
          f"{statistics.median(hourly):.1f} ms CPU, max {max(hourly):.1f} ms")
    print(f"  other minutes ({len(other)} cycles): median {statistics.median(other):.2f} ms, "
          f"max {max(other):.1f} ms")

    data = synthetic_samples(args.samples)
    window = TrainingWindow(len(data))
    window.extend(data)
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(window.samples(), 10**13, 0.0, 3)
    print(f"training on {args.samples:,} samples (3-fold walk-forward + final fit): "
          f"{time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU; "
          f"validation says live={result.validation.beats_rules}")
    wall = time.perf_counter()
    fit([s.features for s in data], [s.r_multiple for s in data])
    print(f"final fit alone: {time.perf_counter() - wall:.2f} s")


if __name__ == "__main__":
    main()
