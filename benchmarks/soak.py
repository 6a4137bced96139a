"""Soak: weeks of simulated trading over 20+ symbols, watching resident memory for growth.

    python benchmarks/soak.py [--symbols 20] [--days 60] [--seed 1] [--trace]

Writes seeded random-walk 5-minute klines (geometric, with volatility regimes so the strategy
trades) for each symbol into a temp dir, runs `slt.entrypoints.simulate.simulate` over them, and
samples the process's RSS (psutil) every 50,000 quotes (2.2 simulated days at 20 symbols). The
warm-up is two simulated days (caches, the interpreter's pools and the learner's first models have
filled); prints the RSS then and at the end of the replay (the run report drawn afterwards is
shown apart: it is not uptime), the growth in % (target < 5 %) and the slope in MiB per
simulated day after the warm-up (a least-squares fit over the samples, so one late spike does
not decide it).

The allocator is set up as `slt` sets it at start-up (`tune_allocator`: glibc's mmap threshold
pinned); the end also gives glibc's heap in use and free (mallinfo2) and the count of Python
objects, at the warm-up and at the end, to tell objects that grew from an allocator that holds
freed memory.

`--trace` also records Python allocations (tracemalloc, much slower): it prints the allocation
sites that grew most from the warm-up to a snapshot three days before the end, grouped by
traceback, and the object types whose count grew (`gc.get_objects()`): growth that is not
there lives in the allocator or in C libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import gzip
import math
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from slt.adapters.process_memory import tune_allocator
from slt.adapters.replay.sources import DataSource
from slt.config import load_settings
from slt.entrypoints.simulate import simulate

START_MS = 1_764_460_800_000  # 2025-11-30
BAR_MS = 5 * 60_000
DAY_MS = 86_400_000
WARM_DAYS = 2
LATE_DAYS = 3  # --trace compares the warm-up with a snapshot this many days before the end
TRACE_FRAMES = 8
TOP = 12


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


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap() -> tuple[float, float, int]:
    """glibc's heap in use and free (MiB; NaN elsewhere) and the count of Python objects."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        in_use, free = info.uordblks / 2**20, info.fordblks / 2**20
    except (OSError, AttributeError):
        in_use = free = math.nan
    return in_use, free, len(gc.get_objects())


def type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


@dataclass
class Soak:
    """What the run measured."""

    warm: float = math.nan  # RSS (MiB) at the end of the warm-up
    end: float = math.nan  # at the end of the replay
    after_report: float = math.nan  # once the run report is written
    elapsed: float = 0.0
    text: str = ""
    daily: list[tuple[float, float]] = field(default_factory=list)  # (simulated day, RSS)
    heap_warm: tuple[float, float, int] = (math.nan, math.nan, 0)
    heap_end: tuple[float, float, int] = (math.nan, math.nan, 0)
    growers: list[str] = field(default_factory=list)
    types: list[tuple[str, int, int]] = field(default_factory=list)  # (type, warm, end)

    @property
    def growth(self) -> float:
        return (self.end - self.warm) / self.warm * 100

    @property
    def slope(self) -> float:
        """MiB per simulated day after the warm-up (least squares)."""
        after = [(d, r) for d, r in self.daily if d >= WARM_DAYS]
        if len(after) < 2:
            return math.nan
        mx = sum(d for d, _ in after) / len(after)
        my = sum(r for _, r in after) / len(after)
        sxx = sum((d - mx) ** 2 for d, _ in after)
        return sum((d - mx) * (r - my) for d, r in after) / sxx if sxx else math.nan


async def soak(symbols: int, days: int, seed: int, trace: bool = False) -> Soak:
    result = Soak()
    with tempfile.TemporaryDirectory(prefix="slt-soak-") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        sources = make_data(root / "data", symbols, days, seed)
        # The learner imports scikit-learn (and scipy) lazily at its first fit: ~35 MiB of
        # module code that is not growth, so it is loaded before the run.
        import sklearn.ensemble  # noqa: F401

        day_quotes = symbols * (DAY_MS // BAR_MS) * 4  # each bar becomes 4 quotes
        seen = 0
        warm: list[tuple[tracemalloc.Snapshot, Counter[str]]] = []
        if trace:
            tracemalloc.start(TRACE_FRAMES)

        late: list[tuple[tracemalloc.Snapshot, Counter[str]]] = []

        def progress(n: int) -> None:
            nonlocal seen
            seen += n
            day = seen / day_quotes
            result.daily.append((day, rss_mb()))
            result.heap_end = heap()
            if math.isnan(result.warm) and day >= WARM_DAYS:
                result.warm = result.daily[-1][1]
                result.heap_warm = result.heap_end
                if trace:
                    warm.append((tracemalloc.take_snapshot(), type_counts()))
            elif trace and warm and not late and day >= days - LATE_DAYS:
                late.append((tracemalloc.take_snapshot(), type_counts()))

        t0 = time.perf_counter()
        summary = await simulate(
            load_settings(), sources, root / "out", seed=seed, progress=progress
        )
        result.elapsed = time.perf_counter() - t0
        result.after_report = rss_mb()
        result.text = summary.to_text()
        # The bot's memory is measured at the end of the replay: the run report drawn after
        # it (charts, the whole trade list) is a one-off of `slt simulate`, not uptime.
        result.end = result.daily[-1][1] if result.daily else result.after_report
        if math.isnan(result.warm):
            result.warm = result.end
        if trace and warm and late:
            (snapshot, counts), (end_snapshot, now) = warm[0], late[0]
            result.growers = growers(end_snapshot.compare_to(snapshot, "traceback"))
            result.types = [(t, counts[t], now[t]) for t, _ in (now - counts).most_common(TOP)]
        tracemalloc.stop()
    return result


def growers(stats: Sequence[tracemalloc.StatisticDiff]) -> list[str]:
    """The top allocation sites by growth, each with the slt frames of its traceback."""
    lines = []
    for stat in stats[:TOP]:
        frames = [f for f in stat.traceback if "/slt/" in f.filename] or list(stat.traceback)[-1:]
        where = " <- ".join(
            f"{f.filename.rsplit('/slt/', 1)[-1]}:{f.lineno}" for f in reversed(frames[-4:])
        )
        lines.append(f"  {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+9d} blocks  {where}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--trace",
        action="store_true",
        help="also print where Python allocations grew (tracemalloc; slower)",
    )
    args = parser.parse_args()
    tune_allocator()
    r = asyncio.run(soak(args.symbols, args.days, args.seed, args.trace))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}; {args.symbols} symbols, {args.days} simulated days,"
        f" {r.elapsed:.1f} s wall; load average {load}"
    )
    print(r.text)
    print("RSS by simulated day (MiB): " + " ".join(f"d{d:.0f}:{m:.0f}" for d, m in r.daily))
    if r.growers:
        print(f"Python allocations grown since the warm-up (tracemalloc, top {TOP}):")
        print("\n".join(r.growers))
    if r.types:
        print(
            "object types grown since the warm-up (gc): "
            + ", ".join(f"{t} {a}->{b}" for t, a, b in r.types)
        )
    (used0, free0, objects0), (used1, free1, objects1) = r.heap_warm, r.heap_end
    print(
        f"from the warm-up to the end: glibc heap in use {used0:.1f} -> {used1:.1f} MiB,"
        f" free in it {free0:.1f} -> {free1:.1f} MiB; Python objects {objects0:,} -> {objects1:,}"
    )
    print(f"RSS after the run report (not counted): {r.after_report:.1f} MiB")
    print(f"slope after the warm-up: {r.slope:+.3f} MiB per simulated day")
    print(
        f"RSS after the warm-up (day {WARM_DAYS}): {r.warm:.1f} MiB; at the end: {r.end:.1f} MiB;"
        f" growth {r.growth:+.1f} % (target < 5 %)"
    )
    return 0 if r.growth < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
