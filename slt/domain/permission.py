"""The permission to risk money: a candidate family trades for real only while its recent
after-fee expectancy is above zero at the lower confidence bound.

A family's evidence is its last `window` outcomes (reaching further back when those fall on
fewer than `min_days` days: a busy family over many symbols can close 200 outcomes in two
days), real and virtual alike (every candidate is
labelled, taken or not), in R multiples after fees. Outcomes of one day share that day's
market, so they are not independent draws: the bound comes from a block bootstrap that
resamples whole UTC days (with replacement, as many days as the window holds) and takes the
mean R of each resample; the lower bound is the `1 - confidence` quantile of those means. The
resampling is seeded from `seed` and the family's name, so the same outcomes always give the
same verdict, whatever order families are asked in.

A family with fewer than `min_outcomes` outcomes, or whose outcomes fall on fewer than
`min_days` days, has not earned anything yet: it trades virtually until it has. A bootstrap
over few blocks understates the spread of the mean (a lucky week looks like a sure thing), so
`min_days` is the guard against that, not the confidence level.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from slt.domain.values import DAY_MS


@dataclass(frozen=True, slots=True)
class PermissionParams:
    window: int = 200  # most recent outcomes of a family that count
    min_outcomes: int = 50  # fewer: no permission yet
    min_days: int = 10  # distinct UTC days the window must span
    # One-sided: the bound is the 5th percentile of resampled means. Several families are
    # judged again after every outcome, so a looser bound lets one through by luck: at 0.9 a
    # losing trend family on the bundled data earned a day of real trades.
    confidence: float = 0.95
    resamples: int = 400
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError("learner.permission_window must be >= 2")
        if not 2 <= self.min_outcomes <= self.window:
            raise ValueError("learner.permission_min_outcomes must be in [2, permission_window]")
        if self.min_days < 2:
            raise ValueError("learner.permission_min_days must be >= 2")
        if not 0.5 <= self.confidence < 1:
            raise ValueError("learner.permission_confidence must be in [0.5, 1)")
        if self.resamples < 50:
            raise ValueError("learner.permission_resamples must be >= 50")


@dataclass(frozen=True, slots=True)
class Permission:
    family: str
    allowed: bool
    n: int  # outcomes in the window
    days: int  # distinct UTC days among them
    mean_r: float  # NaN without outcomes
    lower_r: float  # lower confidence bound of the mean; NaN when not computed
    reason: str

    def describe(self) -> str:
        state = "REAL" if self.allowed else "virtual only"
        return f"{self.family}: {state} ({self.reason})"


def lower_bound(
    outcomes: Sequence[tuple[int, float]], confidence: float, resamples: int, seed: int
) -> float:
    """Lower confidence bound of the mean R of `outcomes` ((close_ms, r) pairs), by a block
    bootstrap over UTC days."""
    by_day: dict[int, list[float]] = {}
    for close_ms, r in outcomes:
        by_day.setdefault(close_ms // DAY_MS, []).append(r)
    sums = np.array([math.fsum(rs) for rs in by_day.values()])
    counts = np.array([len(rs) for rs in by_day.values()])
    # An explicit generator from the seed: the same outcomes always resample alike.
    picks = np.random.default_rng(seed).integers(0, len(sums), size=(resamples, len(sums)))
    means = np.sort(sums[picks].sum(axis=1) / counts[picks].sum(axis=1))
    return float(means[min(resamples - 1, int((1 - confidence) * resamples))])


def judge(family: str, outcomes: Sequence[tuple[int, float]], p: PermissionParams) -> Permission:
    """The verdict on `family` from its recent `outcomes` ((close_ms, r) pairs, oldest first)."""
    recent = _recent(outcomes, p)
    n = len(recent)
    days = len({ms // DAY_MS for ms, _ in recent})
    mean = math.fsum(r for _, r in recent) / n if n else math.nan
    if n < p.min_outcomes:
        return Permission(family, False, n, days, mean, math.nan, f"{n}/{p.min_outcomes} outcomes")
    if days < p.min_days:
        reason = f"outcomes on {days}/{p.min_days} days"
        return Permission(family, False, n, days, mean, math.nan, reason)
    seed = p.seed ^ zlib.crc32(family.encode())
    low = lower_bound(recent, p.confidence, p.resamples, seed)
    allowed = low > 0
    reason = f"mean {mean:+.3f} R, {p.confidence:.0%} bound {low:+.3f} R over {n} in {days} d"
    return Permission(family, allowed, n, days, mean, low, reason)


Outcomes = Sequence[tuple[int, float]]


def _recent(outcomes: Outcomes, p: PermissionParams) -> Outcomes:
    """The last `window` outcomes, or as many more as it takes to span `min_days` days."""
    recent = outcomes[-p.window :]
    if len({ms // DAY_MS for ms, _ in recent}) >= p.min_days:
        return recent
    days: set[int] = set()
    for i in range(len(outcomes) - 1, -1, -1):
        days.add(outcomes[i][0] // DAY_MS)
        if len(days) > p.min_days:  # outcomes[i] opens a day too many
            return outcomes[i + 1 :]
    return outcomes


HISTORY = 20_000  # outcomes kept per family: ample to reach back `min_days` days


class PermissionBook:
    """Recent outcomes per family and their verdicts, recomputed only when a family has news."""

    def __init__(self, params: PermissionParams) -> None:
        self.params = params
        self._outcomes: dict[str, deque[tuple[int, float]]] = {}
        self._verdicts: dict[str, Permission] = {}

    def record(self, family: str, close_ms: int, r_multiple: float) -> None:
        window = self._outcomes.get(family)
        if window is None:
            window = self._outcomes[family] = deque(maxlen=max(self.params.window, HISTORY))
        window.append((close_ms, r_multiple))
        self._verdicts.pop(family, None)

    def record_all(self, outcomes: Iterable[tuple[str, int, float]]) -> None:
        for family, close_ms, r in outcomes:
            self.record(family, close_ms, r)

    def verdict(self, family: str) -> Permission:
        verdict = self._verdicts.get(family)
        if verdict is None:
            outcomes = list(self._outcomes.get(family, ()))
            verdict = self._verdicts[family] = judge(family, outcomes, self.params)
        return verdict

    def allowed(self, family: str) -> bool:
        return self.verdict(family).allowed

    def verdicts(self) -> list[Permission]:
        """The verdict on every family with an outcome, by name."""
        return [self.verdict(f) for f in sorted(self._outcomes)]


def summary(verdicts: Iterable[Permission]) -> str:
    """One line for the status line: which families risk money."""
    verdicts = list(verdicts)
    if not verdicts:
        return "no family has outcomes yet: virtual only"
    real = [v.family for v in verdicts if v.allowed]
    virtual = [v.family for v in verdicts if not v.allowed]
    parts = []
    if real:
        parts.append("real " + ",".join(real))
    if virtual:
        parts.append("virtual " + ",".join(virtual))
    return " / ".join(parts)
