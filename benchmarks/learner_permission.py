"""What a permission verdict costs: the day-block bootstrap over a family's recent outcomes.

A verdict is recomputed only when its family has a new outcome and a candidate of it needs a
decision, so this runs at most once per family per trading cycle, on the trading cycle (never
on the quote path).

Usage: python benchmarks/learner_permission.py [--resamples 400]
"""

from __future__ import annotations

import argparse
import random
import time

from slt.domain.permission import PermissionParams, judge
from slt.domain.values import DAY_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(0)
    params = PermissionParams(resamples=args.resamples)
    for n, per_day in ((200, 5), (200, 20), (2000, 100)):
        outcomes = [(i // per_day * DAY_MS + i, rng.gauss(0.05, 1.0)) for i in range(n)]
        runs = 50
        began = time.perf_counter()
        for _ in range(runs):
            verdict = judge("trend/2R", outcomes, params)
        ms = (time.perf_counter() - began) / runs * 1000
        print(f"{n:>5} outcomes, {per_day:>3}/day: {ms:6.2f} ms per verdict "
              f"({verdict.n} in the window over {verdict.days} days)")


if __name__ == "__main__":
    main()
