"""Training with walk-forward validation against what the rules trade, and the go-live test.

The span of the samples' decision times is cut into `folds + 1` consecutive blocks of equal
length (time blocks, not equal counts: a busy week must not stretch a block over a quiet
month). For each block k >= 1, a model is fitted on the samples whose outcome was known before
the block began, less an embargo (`embargo_ms`): labels that overlap the block are purged, and
the embargo keeps the slowly decaying correlation of neighbouring trades out of the fit. The
model then scores the block, and two policies are compared on the actual outcomes:

* rules: what the rules actually trade: every candidate within the cost filter (`cost_r`
  at most `max_cost_r`), one position per symbol at a time (a candidate on a symbol whose
  previous trade is still open is skipped, as the entry gate would);
* model: the same, among the candidates it expects more than `threshold` R from.

The model goes live only if, over the blocks, with the reason of every verdict recorded:

* it took at least `MIN_TAKEN` trades (a gate that lets nothing through cannot be judged by
  its own trades);
* its trades' mean R is above zero at the lower confidence bound (the block bootstrap by day
  of slt.domain.permission): beating a losing rule by losing less is not an edge;
* it earns more R in total than the rules, and wins at least half of the blocks;
* its mean R beats the rules' mean by at least `MIN_EDGE_SE` standard errors: when the rules
  lose money, any gate that trades less earns "more", so the total alone would promote a coin
  flip. Two standard errors, because the test is repeated at every retraining.

Each block also records the Spearman rank correlation of expected and actual R over all of
its candidates. The model is fitted on every sample either way; the registry records whether
it went live.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.model import OutcomeModel, fit
from slt.application.learner.window import Samples
from slt.domain.permission import lower_bound

MIN_TAKEN = 10
MIN_EDGE_SE = 2.0
MIN_TRAIN = 50  # samples a validation fit needs
CONFIDENCE = 0.9  # of the lower bound of the model's mean R
RESAMPLES = 400
COST_R = FEATURE_NAMES.index("cost_r")


@dataclass(frozen=True, slots=True)
class FoldMetrics:
    first_decision_ms: int
    last_decision_ms: int
    n_train: int
    n: int  # candidates in the block
    rules_taken: int  # of them, those the rules would trade
    rules_sum_r: float
    model_taken: int
    model_wins: int  # of the model's trades, those with R > 0
    model_sum_r: float
    model_sum_r2: float  # sum of squared R of the model's trades, for its standard error
    rank_corr: float  # Spearman correlation of expected and actual R


@dataclass(frozen=True, slots=True)
class Validation:
    folds: tuple[FoldMetrics, ...]
    threshold: float
    model_lower_r: float = math.nan  # lower confidence bound of the model's mean R

    @property
    def rules_sum_r(self) -> float:
        return sum(f.rules_sum_r for f in self.folds)

    @property
    def model_sum_r(self) -> float:
        return sum(f.model_sum_r for f in self.folds)

    @property
    def model_taken(self) -> int:
        return sum(f.model_taken for f in self.folds)

    @property
    def rules_mean_r(self) -> float:
        n = sum(f.rules_taken for f in self.folds)
        return self.rules_sum_r / n if n else math.nan

    @property
    def model_hit_rate(self) -> float:
        n = self.model_taken
        return sum(f.model_wins for f in self.folds) / n if n else math.nan

    @property
    def model_mean_r(self) -> float:
        n = self.model_taken
        return self.model_sum_r / n if n else math.nan

    @property
    def model_mean_se(self) -> float:
        """Standard error of the model's mean R."""
        n = self.model_taken
        if n < 2:
            return math.inf
        mean = self.model_mean_r
        var = (sum(f.model_sum_r2 for f in self.folds) - n * mean * mean) / (n - 1)
        return math.sqrt(max(var, 0.0) / n)

    @property
    def verdict(self) -> tuple[bool, str]:
        """Whether the model may gate, and why (or why not)."""
        n = self.model_taken
        if not self.folds:
            return False, "no block had enough earlier outcomes to train on"
        if n < MIN_TAKEN:
            return False, f"the model took {n} trades in validation, fewer than {MIN_TAKEN}"
        mean, low = self.model_mean_r, self.model_lower_r
        if not low > 0:
            return False, f"model mean {mean:+.3f} R, lower bound {low:+.3f} R: not above zero"
        if self.model_sum_r <= self.rules_sum_r:
            return False, (
                f"model total {self.model_sum_r:+.2f} R not above the rules' "
                f"{self.rules_sum_r:+.2f} R"
            )
        won = sum(1 for f in self.folds if f.model_sum_r > f.rules_sum_r)
        if won * 2 < len(self.folds):
            return False, f"the model beat the rules in {won} of {len(self.folds)} blocks"
        edge = mean - self.rules_mean_r
        if edge < MIN_EDGE_SE * self.model_mean_se:
            return False, (
                f"model mean {mean:+.3f} R beats the rules' {self.rules_mean_r:+.3f} R by "
                f"{edge:.3f}, less than {MIN_EDGE_SE:g} standard errors ({self.model_mean_se:.3f})"
            )
        return True, (
            f"model mean {mean:+.3f} R (bound {low:+.3f}) over {n} trades beats the rules' "
            f"{self.rules_mean_r:+.3f} R in {won} of {len(self.folds)} blocks"
        )

    @property
    def beats_rules(self) -> bool:
        return self.verdict[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rules_sum_r": round(self.rules_sum_r, 4),
            "rules_mean_r": round(self.rules_mean_r, 4),
            "rules_taken": sum(f.rules_taken for f in self.folds),
            "model_sum_r": round(self.model_sum_r, 4),
            "model_taken": self.model_taken,
            "model_hit_rate": round(self.model_hit_rate, 4),
            "model_mean_r": round(self.model_mean_r, 4),
            "model_mean_se": round(self.model_mean_se, 4),
            "model_lower_r": round(self.model_lower_r, 4),
            "beats_rules": self.beats_rules,
            "verdict": self.verdict[1],
            "folds": [asdict(f) for f in self.folds],
        }


@dataclass(frozen=True, slots=True)
class TrainResult:
    model: OutcomeModel
    validation: Validation
    trained_at_ms: int
    n_samples: int
    window_start_ms: int  # first decision among the samples
    window_end_ms: int  # last outcome among the samples


def train(
    samples: Samples,
    trained_at_ms: int,
    threshold: float,
    folds: int,
    max_cost_r: float = math.inf,
    embargo_ms: int = 0,
) -> TrainResult:
    """Fit and validate on the outcomes known at `trained_at_ms`. CPU-bound: run off the loop."""
    known = samples.take(np.flatnonzero(samples.close_ms <= trained_at_ms))
    if not len(known):
        raise ValueError("no outcome closed before the training time")
    # Stable, as Python's sort: outcomes decided at the same millisecond keep their order.
    known = known.take(np.argsort(known.decision_ms, kind="stable"))
    validation = validate(known, threshold, folds, max_cost_r, embargo_ms)
    model = fit(known.features, known.r_multiple)
    return TrainResult(
        model=model,
        validation=validation,
        trained_at_ms=trained_at_ms,
        n_samples=len(known),
        window_start_ms=int(known.decision_ms[0]),
        window_end_ms=int(known.close_ms.max()),
    )


def tradable(block: Samples, chosen: Sequence[bool], max_cost_r: float) -> list[int]:
    """The rows of `block` (in decision order) that are chosen and that the rules would trade:
    within the cost filter, and on a symbol with no trade still open."""
    busy_until: dict[int, int] = {}
    trades = []
    rows = zip(
        block.decision_ms.tolist(),
        block.close_ms.tolist(),
        block.features[:, COST_R].tolist(),
        block.symbol.tolist(),
        chosen,
        strict=True,
    )
    for i, (decision_ms, close_ms, cost_r, symbol, pick) in enumerate(rows):
        # NaN (unknown cost) compares False: such a candidate is not filtered out.
        if not pick or cost_r > max_cost_r:
            continue
        if busy_until.get(symbol, -1) > decision_ms:
            continue
        busy_until[symbol] = close_ms
        trades.append(i)
    return trades


def validate(
    known: Samples,
    threshold: float,
    folds: int,
    max_cost_r: float = math.inf,
    embargo_ms: int = 0,
) -> Validation:
    """Walk-forward validation of `known` (sorted by decision time); see the module doc."""
    decision = known.decision_ms
    first, last = int(decision[0]), int(decision[-1])
    length = (last - first) / (folds + 1)
    results = []
    pairs: list[tuple[int, float]] = []  # (close_ms, R) of the model's trades
    for k in range(1, folds + 1):
        start = first + k * length
        end = first + (k + 1) * length if k < folds else last + 1
        block = known.take((start <= decision) & (decision < end))
        past = known.take(known.close_ms <= start - embargo_ms)
        if not len(block) or len(past) < MIN_TRAIN:
            continue
        model = fit(past.features, past.r_multiple)
        expected = model.expected_r(block.features)
        actual = block.r_multiple.tolist()
        rules = [actual[i] for i in tradable(block, [True] * len(block), max_cost_r)]
        chosen = tradable(block, [e > threshold for e in expected], max_cost_r)
        taken = [actual[i] for i in chosen]
        closes = block.close_ms.tolist()
        pairs.extend((closes[i], actual[i]) for i in chosen)
        results.append(
            FoldMetrics(
                first_decision_ms=int(block.decision_ms[0]),
                last_decision_ms=int(block.decision_ms[-1]),
                n_train=len(past),
                n=len(block),
                rules_taken=len(rules),
                rules_sum_r=round(sum(rules), 6),
                model_taken=len(taken),
                model_wins=sum(1 for r in taken if r > 0),
                model_sum_r=round(sum(taken), 6),
                model_sum_r2=round(sum(r * r for r in taken), 6),
                rank_corr=round(_spearman(expected, actual), 6),
            )
        )
    low = lower_bound(pairs, CONFIDENCE, RESAMPLES, seed=0) if pairs else math.nan
    return Validation(tuple(results), threshold, low)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr  # imported with scikit-learn, when training first runs

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan  # undefined for a constant series
    return float(spearmanr(a, b).statistic)
