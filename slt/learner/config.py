"""Settings of the self-learning trader (the `[learner]` table of the settings file)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

POLICIES = ("model", "rules")


@dataclass(frozen=True, slots=True)
class LearnerConfig:
    # "model": the learned gate decides once a model has passed its validation (rules until
    # then); "rules": every rule candidate that the risk limits allow is taken.
    policy: str = "model"
    lower_interval: str = "5m"  # context intervals around the decision interval (`interval`)
    higher_interval: str = "1h"
    min_expected_r: float = 0.0  # a candidate is taken when the model expects more R than this
    explore_rate: float = 0.05  # chance of taking a candidate the model turned down
    retrain_every: int = 200  # new outcomes between retrains; 0: never by count
    retrain_period_h: float = 0.0  # also retrain this often; 0: never by time
    min_samples: int = 300  # outcomes needed before the first training
    validation_folds: int = 3
    max_samples: int = 20_000  # most recent outcomes kept for training

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"learner.policy must be one of {', '.join(POLICIES)}")
        if not 0 <= self.explore_rate <= 1:
            raise ValueError("learner.explore_rate must be in [0, 1]")
        for name in ("retrain_every", "retrain_period_h"):
            if getattr(self, name) < 0:
                raise ValueError(f"learner.{name} must not be negative")
        if self.validation_folds < 2:
            raise ValueError("learner.validation_folds must be >= 2")
        if not 50 <= self.min_samples <= self.max_samples:
            raise ValueError("learner.min_samples must be >= 50 and <= learner.max_samples")


def learner_config(settings: Any) -> LearnerConfig:
    """The learner settings of `settings` (a slt.config.Settings)."""
    return settings.learner


def with_learner(settings: Any, config: LearnerConfig) -> Any:
    """A copy of the frozen `settings` carrying `config` as its learner settings."""
    return replace(settings, learner=config)
