"""The permission to risk money: a candidate family trades for real only while its recent
after-fee expectancy is above zero at the lower confidence bound.

A family's evidence is its last `window` outcomes (reaching further back when those fall on
fewer than `min_days` days: a busy family over many symbols can close 200 outcomes in two
days), real and virtual alike (every candidate is
labelled, taken or not), in R multiples after fees. Outcomes of one day share that day's
market, so they are not independent draws: the bound comes from a block bootstrap that
resamples whole UTC days (with replacement, as many days as the window holds) and takes the
mean R of each resample; the lower bound is a low quantile of those means. The resampling is
seeded from `seed` and the family's name, so the same outcomes always give the same verdict.

Several families are judged at once (four plan families, and `model:<family>` ones), so one of
them clears a 95% bound by chance far more often than 5% of the time. The families with enough
evidence are therefore judged together with Holm's step-down correction (`correction`): the
chance that any family without an edge is granted at one judgement stays at 1 - `confidence`.
Judging again after every outcome is a further repeated test that no correction here covers
exactly; consecutive windows share almost all their outcomes, and `min_days` / `min_outcomes`
keep a short lucky run from counting.

A family with fewer than `min_outcomes` outcomes, or whose outcomes fall on fewer than
`min_days` days, has not earned anything yet: it trades virtually until it has. A bootstrap
over few blocks understates the spread of the mean (a lucky week looks like a sure thing), so
`min_days` is the guard against that, not the confidence level.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from slt.domain.values import DAY_MS

CORRECTIONS = ("holm", "bonferroni", "none")


@dataclass(frozen=True, slots=True)
class PermissionParams:
    window: int = 200  # most recent outcomes of a family that count
    min_outcomes: int = 50  # fewer: no permission yet
    min_days: int = 10  # distinct UTC days the window must span
    # One-sided and family-wise: the chance that any family without an edge gets permission
    # at one judgement is at most 1 - confidence (with `correction` "holm" or "bonferroni").
    confidence: float = 0.95
    correction: str = "holm"
    # Fine enough for Holm's smallest level: 0.05 / 8 families is still 12 resampled means.
    resamples: int = 2000
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
        if self.correction not in CORRECTIONS:
            names = ", ".join(CORRECTIONS)
            raise ValueError(f"learner.permission_correction must be one of {names}")
        if self.resamples < 50:
            raise ValueError("learner.permission_resamples must be >= 50")


@dataclass(frozen=True, slots=True)
class Permission:
    family: str
    allowed: bool
    n: int  # outcomes in the window
    days: int  # distinct UTC days among them
    mean_r: float  # NaN without outcomes
    lower_r: float  # lower bound of the mean at the family's corrected level; NaN if not tested
    reason: str

    def describe(self) -> str:
        state = "REAL" if self.allowed else "virtual only"
        return f"{self.family}: {state} ({self.reason})"


def bootstrap_means(outcomes: Sequence[tuple[int, float]], resamples: int, seed: int) -> np.ndarray:
    """Sorted means of `resamples` block-bootstrap resamples of `outcomes` ((close_ms, r)
    pairs), resampling whole UTC days."""
    by_day: dict[int, list[float]] = {}
    for close_ms, r in outcomes:
        by_day.setdefault(close_ms // DAY_MS, []).append(r)
    sums = np.array([math.fsum(rs) for rs in by_day.values()])
    counts = np.array([len(rs) for rs in by_day.values()])
    # An explicit generator from the seed: the same outcomes always resample alike.
    picks = np.random.default_rng(seed).integers(0, len(sums), size=(resamples, len(sums)))
    return np.sort(sums[picks].sum(axis=1) / counts[picks].sum(axis=1))


def _quantile(means: np.ndarray, level: float) -> float:
    return float(means[min(len(means) - 1, int(level * len(means)))])


def lower_bound(
    outcomes: Sequence[tuple[int, float]], confidence: float, resamples: int, seed: int
) -> float:
    """Lower confidence bound of the mean R of `outcomes` ((close_ms, r) pairs), by a block
    bootstrap over UTC days."""
    return _quantile(bootstrap_means(outcomes, resamples, seed), 1 - confidence)


@dataclass(frozen=True, slots=True)
class _Evidence:
    """One family's window; `means` (its bootstrap) only when it has enough to be tested."""

    family: str
    n: int
    days: int
    mean: float
    means: np.ndarray | None
    reason: str = ""

    def untested(self) -> Permission:
        return Permission(self.family, False, self.n, self.days, self.mean, math.nan, self.reason)

    def at_level(self, level: float, allowed_if_positive: bool, note: str) -> Permission:
        assert self.means is not None
        low = _quantile(self.means, level)
        reason = (
            f"mean {self.mean:+.3f} R, {100 * (1 - level):.4g}% bound {low:+.3f} R"
            f" over {self.n} in {self.days} d{note}"
        )
        allowed = allowed_if_positive and low > 0
        return Permission(self.family, allowed, self.n, self.days, self.mean, low, reason)


def _evidence(family: str, outcomes: Sequence[tuple[int, float]], p: PermissionParams) -> _Evidence:
    recent = _recent(outcomes, p)
    n = len(recent)
    days = len({ms // DAY_MS for ms, _ in recent})
    mean = math.fsum(r for _, r in recent) / n if n else math.nan
    if n < p.min_outcomes:
        return _Evidence(family, n, days, mean, None, f"{n}/{p.min_outcomes} outcomes")
    if days < p.min_days:
        return _Evidence(family, n, days, mean, None, f"outcomes on {days}/{p.min_days} days")
    seed = p.seed ^ zlib.crc32(family.encode())
    return _Evidence(family, n, days, mean, bootstrap_means(recent, p.resamples, seed))


def _judge_all(evidence: Sequence[_Evidence], p: PermissionParams) -> list[Permission]:
    """Verdicts on families judged together. Every family with enough outcomes is one test of
    "its expectancy is above zero"; with m such tests at level 1 - confidence each, some family
    without an edge passes by chance far more often than 1 - confidence. Holm's step-down keeps
    that family-wise error at 1 - confidence and grants more than Bonferroni's alpha / m: the
    families in order of their bootstrap p-value (share of resampled means <= 0) are tested at
    alpha / m, alpha / (m - 1), ..., and the first that fails stops the rest."""
    alpha = 1 - p.confidence
    tested = sorted(
        (e for e in evidence if e.means is not None),
        key=lambda e: (int(np.searchsorted(e.means, 0.0, side="right")), e.family),
    )
    m = len(tested)
    verdicts = {e.family: e.untested() for e in evidence if e.means is None}
    going = True
    for j, e in enumerate(tested):
        if p.correction == "holm":
            level, note = alpha / (m - j), f", Holm {j + 1} of {m}"
        elif p.correction == "bonferroni":
            level, note = alpha / m, f", Bonferroni over {m}"
        else:
            level, note = alpha, ""
        verdict = e.at_level(level, going, note if m > 1 else "")
        if p.correction == "holm" and not verdict.allowed:
            going = False  # Holm stops at the first family that fails
        verdicts[e.family] = verdict
    return [verdicts[e.family] for e in evidence]


def judge(family: str, outcomes: Sequence[tuple[int, float]], p: PermissionParams) -> Permission:
    """The verdict on `family` alone from its recent `outcomes` ((close_ms, r) pairs, oldest
    first)."""
    return _judge_all([_evidence(family, outcomes, p)], p)[0]


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


def _days_start(days: np.ndarray, min_days: int) -> int | None:
    """Where the longest suffix of `days` that falls on at most `min_days` distinct days
    starts (as `_recent` finds it); None when all of `days` does."""
    _, first_seen = np.unique(days[::-1], return_index=True)  # position from the end
    if len(first_seen) <= min_days:
        return None
    return len(days) - int(np.sort(first_seen)[min_days])


class _Outcomes:
    """A family's last `capacity` outcomes as two columns, reserved when the family closes its
    first one: as a deque of (close_ms, r) tuples they cost ~0.1 KiB each, and the bot grew by
    them for months."""

    __slots__ = ("_close", "_next", "_r", "_size")

    def __init__(self, capacity: int) -> None:
        # Filled, not np.zeros (calloc leaves fresh pages untouched): resident from the start.
        self._close = np.full(capacity, 0, dtype=np.int64)
        self._r = np.full(capacity, 0.0)
        self._next = 0  # the slot the next outcome takes
        self._size = 0

    def append(self, close_ms: int, r_multiple: float) -> None:
        self._close[self._next] = close_ms
        self._r[self._next] = r_multiple
        self._next = (self._next + 1) % len(self._r)
        self._size = min(self._size + 1, len(self._r))

    def recent(self, p: PermissionParams) -> list[tuple[int, float]]:
        """`_recent` of the outcomes, oldest first, reading back only as far as it needs."""
        n = min(p.window, self._size)
        while True:
            rows = np.arange(self._next - n, self._next) % len(self._r)
            days = self._close[rows] // DAY_MS
            start: int | None = len(rows) - min(p.window, len(rows))
            if len(np.unique(days[start:])) < p.min_days:
                start = _days_start(days, p.min_days)
            if start is not None or n == self._size:
                rows = rows[start or 0 :]
                return list(zip(self._close[rows].tolist(), self._r[rows].tolist(), strict=True))
            n = min(4 * n, self._size)


class PermissionBook:
    """Recent outcomes per family and their verdicts, judged together (see `_judge_all`); a
    family's bootstrap is recomputed only when it has news."""

    def __init__(self, params: PermissionParams) -> None:
        self.params = params
        self._outcomes: dict[str, _Outcomes] = {}
        self._evidence: dict[str, _Evidence] = {}
        self._verdicts: dict[str, Permission] | None = None

    def record(self, family: str, close_ms: int, r_multiple: float) -> None:
        window = self._outcomes.get(family)
        if window is None:
            window = self._outcomes[family] = _Outcomes(max(self.params.window, HISTORY))
        window.append(close_ms, r_multiple)
        self._evidence.pop(family, None)
        self._verdicts = None

    def record_all(self, outcomes: Iterable[tuple[str, int, float]]) -> None:
        for family, close_ms, r in outcomes:
            self.record(family, close_ms, r)

    def verdict(self, family: str) -> Permission:
        verdict = self._judged().get(family)
        return verdict if verdict is not None else judge(family, (), self.params)

    def allowed(self, family: str) -> bool:
        return self.verdict(family).allowed

    def verdicts(self) -> list[Permission]:
        """The verdict on every family with an outcome, by name."""
        return sorted(self._judged().values(), key=lambda v: v.family)

    def _judged(self) -> dict[str, Permission]:
        if self._verdicts is None:
            evidence = [self._family_evidence(f) for f in sorted(self._outcomes)]
            self._verdicts = {v.family: v for v in _judge_all(evidence, self.params)}
        return self._verdicts

    def _family_evidence(self, family: str) -> _Evidence:
        evidence = self._evidence.get(family)
        if evidence is None:
            outcomes = self._outcomes[family].recent(self.params)
            evidence = self._evidence[family] = _evidence(family, outcomes, self.params)
        return evidence


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
