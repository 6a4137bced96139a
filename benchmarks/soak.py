"""Soak: weeks of simulated trading over 20+ symbols, watching resident memory for growth.

    python benchmarks/soak.py [--symbols 20] [--days 7] [--seed 1]   # --days 60: ~5 min

Writes seeded random-walk 5-minute klines (geometric, with volatility regimes so the strategy
trades) for each symbol into a temp dir, runs `slt.simulator.run.simulate` over them, and samples
the process's RSS (psutil) every simulated day. The warm-up is two simulated days (caches, the
interpreter's pools and the learner's first models have filled); prints the RSS then, at the
end, the growth in % (target < 5 %) and the slope in MiB per simulated day after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import math
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from slt.adapters.replay.sources import DataSource
from slt.config import load_settings
from slt.simulator.run import simulate

START_MS = 1_764_460_800_000  # 2025-11-30
BAR_MS = 5 * 60_000
DAY_MS = 86_400_000


def write_klines(path: Path, rng: random.Random, price: float, bars: int) -> None:
    rows = ["open_time_ms,open,high,low,close,volume,close_time_ms"]
    decimals = max(1, 4 - int(math.log10(price)))
    vol = 0.002
    for i in range(bars):
        if i % 288 == 0:  # a new volatility regime every simulated day
            vol = rng.choice([0.001, 0.002, 0.004])
        drift = rng.gauss(0, vol)
        o = price
        c = price * math.exp(drift)
        h = max(o, c) * (1 + abs(rng.gauss(0, vol / 2)))
        low = min(o, c) * (1 - abs(rng.gauss(0, vol / 2)))
        t = START_MS + i * BAR_MS
        rows.append(
            f"{t},{o:.{decimals}f},{h:.{decimals}f},{low:.{decimals}f},{c:.{decimals}f},"
            f"{rng.uniform(100, 1000):.2f},{t + BAR_MS - 1}"
        )
        price = c
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")


def make_data(root: Path, symbols: int, days: int, seed: int) -> list[DataSource]:
    rng = random.Random(seed)
    bars = days * DAY_MS // BAR_MS
    sources = []
    for k in range(symbols):
        name = f"SOAK{k:02d}USDT"
        path = root / f"{name}-5m-soak.csv.gz"
        write_klines(path, rng, rng.choice([0.5, 3.0, 40.0, 250.0, 2_000.0, 60_000.0]), bars)
        sources.append(DataSource(path, name))
    return sources


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


async def soak(
    symbols: int, days: int, seed: int, trace: bool = False
) -> tuple[float, float, str, float, list[tuple[float, float]]]:
    with tempfile.TemporaryDirectory(prefix="slt-soak-") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        sources = make_data(root / "data", symbols, days, seed)
        # Each bar becomes 4 quotes; the warm-up is two simulated days. The learner imports
        # scikit-learn (and scipy) lazily at its first fit: ~35 MiB of module code that is not
        # growth, so it is loaded before the run.
        import sklearn.ensemble  # noqa: F401

        day_quotes = symbols * (DAY_MS // BAR_MS) * 4
        warm_quotes = 2 * day_quotes
        seen = 0
        samples: dict[str, float] = {}
        daily: list[tuple[float, float]] = []  # (simulated day, RSS) at each progress step
        snapshots: list[tracemalloc.Snapshot] = []
        if trace:
            tracemalloc.start(1)

        def progress(n: int) -> None:
            nonlocal seen
            seen += n
            daily.append((seen / day_quotes, rss_mb()))
            if "warm" not in samples and seen >= warm_quotes:
                samples["warm"] = rss_mb()
                if trace:
                    snapshots.append(tracemalloc.take_snapshot())

        settings = load_settings()
        t0 = time.perf_counter()
        summary = await simulate(settings, sources, root / "out", seed=seed, progress=progress)
        elapsed = time.perf_counter() - t0
        end = rss_mb()
        if trace and snapshots:
            growth = tracemalloc.take_snapshot().compare_to(snapshots[0], "lineno")
            print("largest allocation growth since the warm-up:")
            for stat in growth[:12]:
                print(f"  {stat}")
        warm = samples.get("warm", end)
        return warm, end, summary.to_text(), elapsed, daily


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trace", action="store_true",
                        help="also print where Python allocations grew (tracemalloc; slower)")
    args = parser.parse_args()
    warm, end, text, elapsed, daily = asyncio.run(
        soak(args.symbols, args.days, args.seed, args.trace)
    )
    growth = (end - warm) / warm * 100
    print(f"python {sys.version.split()[0]}; {args.symbols} symbols, {args.days} simulated days,"
          f" {elapsed:.1f} s wall")
    print(text)
    print("RSS by simulated day (MiB): " + " ".join(f"d{d:.0f}:{r:.0f}" for d, r in daily))
    after = [(d, r) for d, r in daily if d >= 2]
    if len(after) >= 2 and after[-1][0] > after[0][0]:
        slope = (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0])
        print(f"slope after the warm-up: {slope:+.2f} MiB per simulated day")
    print(f"RSS after warm-up (day 2): {warm:.1f} MiB; at the end: {end:.1f} MiB; "
          f"growth {growth:+.1f} % (target < 5 %)")
    return 0 if growth < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
