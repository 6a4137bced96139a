"""Cost of the whole-run report that `slt simulate` writes (report.html, report.md): prints its
figures.

Runs the default simulation (the bundled two months of 5 symbols) once into a temporary
folder, then rebuilds the report from its trades N times and prints, per stage, the median
wall time: reading the klines for prices and gaps, computing the figures, drawing the charts
and writing both files. The first build also pays for importing matplotlib; it is shown apart.

Usage: python benchmarks/run_report.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from slt.adapters.replay.market_prices import kline_prices
from slt.adapters.reporting.run_render import write_run_report
from slt.adapters.sqlite_store import SqliteStore
from slt.application.reporting.run_analysis import build_run_report
from slt.config import Settings
from slt.data import bundled_sources
from slt.entrypoints.simulate import simulate


def _iso_to_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    sources = bundled_sources()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        began = time.perf_counter()
        summary = asyncio.run(simulate(settings, sources, out))
        simulation_s = time.perf_counter() - began
        start, end = _iso_to_ms(summary.start), _iso_to_ms(summary.end)
        with SqliteStore(out / "state.db") as store:
            trades = store.trades()
        stages: dict[str, list[float]] = {"read klines": [], "figures": [], "charts + files": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            prices, gaps = kline_prices(sources, start, end)
            t1 = time.perf_counter()
            report = build_run_report("bench", start, end, start_wallet=settings.exchange.wallet,
                                      trades=trades, prices=prices, gaps=gaps,
                                      symbols=summary.symbols)
            t2 = time.perf_counter()
            files = write_run_report(report, prices, out)
            t3 = time.perf_counter()
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                stages[name].append(seconds)
        size = files.html.stat().st_size
    print(f"default run: {summary.trades} trades, {len(summary.symbols)} symbols, "
          f"{summary.quotes} quotes; simulation {simulation_s:.1f} s")
    print(f"report as built inside that run (matplotlib import included): {summary.report_s:.2f} s")
    for name, times in stages.items():
        print(f"  {name:15s} median {statistics.median(times):.3f} s over {len(times)} builds")
    total = sum(statistics.median(t) for t in stages.values())
    print(f"  total           {total:.3f} s; report.html {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
