"""Training with walk-forward validation against the rule, and the go-live test.

The samples are ordered by decision time and cut into `folds + 1` consecutive blocks of equal
size. For each block k >= 1, a model is fitted on the samples whose outcome was known before
the block's first decision (closed before it: never a label from the future) and scores the
block. On each block two policies are compared on the actual outcomes:

* rules: take every candidate (the sum of all R multiples);
* model: take the candidates it expects more than `threshold` R from.

The model goes live only if, over the blocks,

* it earns more R in total than the rule, and wins at least half of the blocks;
* its trades' mean R beats the rule's mean R by at least `MIN_EDGE_SE` standard errors of
  that mean: when the rule loses money, any gate that trades less earns "more", so the total
  alone would promote a coin flip; the mean must show selection beyond noise. Two standard
  errors, because the test is repeated at every retraining: at one, a useless model would go
  live about one time in six;
* it took at least `MIN_TAKEN` trades (a gate that lets nothing through cannot be judged by
  its own trades).

The model is fitted on every sample either way; the registry records whether it went live.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from slt.learner.model import OutcomeModel, fit
from slt.learner.samples import LabelledSample

MIN_TAKEN = 10
MIN_EDGE_SE = 2.0
MIN_TRAIN = 50  # samples a validation fit needs


@dataclass(frozen=True, slots=True)
class FoldMetrics:
    first_decision_ms: int
    last_decision_ms: int
    n_train: int
    n: int
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
        n = sum(f.n for f in self.folds)
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
    def beats_rules(self) -> bool:
        if not self.folds or self.model_taken < MIN_TAKEN:
            return False
        won = sum(1 for f in self.folds if f.model_sum_r > f.rules_sum_r)
        return (
            self.model_sum_r > self.rules_sum_r
            and won * 2 >= len(self.folds)
            and self.model_mean_r - self.rules_mean_r >= MIN_EDGE_SE * self.model_mean_se
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rules_sum_r": round(self.rules_sum_r, 4),
            "rules_mean_r": round(self.rules_mean_r, 4),
            "model_sum_r": round(self.model_sum_r, 4),
            "model_taken": self.model_taken,
            "model_hit_rate": round(self.model_hit_rate, 4),
            "model_mean_r": round(self.model_mean_r, 4),
            "model_mean_se": round(self.model_mean_se, 4),
            "beats_rules": self.beats_rules,
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
    samples: Sequence[LabelledSample], trained_at_ms: int, threshold: float, folds: int
) -> TrainResult:
    """Fit and validate on the outcomes known at `trained_at_ms`. CPU-bound: run off the loop."""
    known = sorted(
        (s for s in samples if s.close_ms <= trained_at_ms), key=lambda s: s.decision_ms
    )
    if not known:
        raise ValueError("no outcome closed before the training time")
    validation = validate(known, threshold, folds)
    model = fit([s.features for s in known], [s.r_multiple for s in known])
    return TrainResult(
        model=model,
        validation=validation,
        trained_at_ms=trained_at_ms,
        n_samples=len(known),
        window_start_ms=known[0].decision_ms,
        window_end_ms=max(s.close_ms for s in known),
    )


def validate(known: Sequence[LabelledSample], threshold: float, folds: int) -> Validation:
    """Walk-forward validation of `known` (sorted by decision time); see the module doc."""
    size = len(known) // (folds + 1)
    results = []
    for k in range(1, folds + 1):
        block = known[k * size : (k + 1) * size if k < folds else len(known)]
        if not block:
            continue
        start = block[0].decision_ms
        past = [s for s in known if s.close_ms <= start]
        if len(past) < MIN_TRAIN:
            continue
        model = fit([s.features for s in past], [s.r_multiple for s in past])
        expected = model.expected_r([s.features for s in block])
        actual = [s.r_multiple for s in block]
        taken = [r for e, r in zip(expected, actual, strict=True) if e > threshold]
        results.append(
            FoldMetrics(
                first_decision_ms=start,
                last_decision_ms=block[-1].decision_ms,
                n_train=len(past),
                n=len(block),
                rules_sum_r=round(sum(actual), 6),
                model_taken=len(taken),
                model_wins=sum(1 for r in taken if r > 0),
                model_sum_r=round(sum(taken), 6),
                model_sum_r2=round(sum(r * r for r in taken), 6),
                rank_corr=round(_spearman(expected, actual), 6),
            )
        )
    return Validation(tuple(results), threshold)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr  # imported with scikit-learn, when training first runs

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan  # undefined for a constant series
    return float(spearmanr(a, b).statistic)
