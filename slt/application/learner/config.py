"""Settings of the self-learning trader (the `[learner]` table of the settings file)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from slt.domain.permission import PermissionParams

POLICIES = ("model", "rules")


@dataclass(frozen=True, slots=True)
class LearnerConfig:
    # "model": the learned gate decides once a model has passed its validation (rules until
    # then); "rules": every rule candidate that the risk limits allow is taken.
    policy: str = "model"
    lower_interval: str = "5m"  # context intervals around the decision interval (`interval`)
    higher_interval: str = "1h"
    min_expected_r: float = 0.0  # a candidate is taken when the model expects more R than this
    # The permission layer (slt.domain.permission): a candidate family trades for real only
    # while the lower confidence bound of its recent after-fee R is above zero; candidates the
    # model picks are judged as their own family (`model:<family>`). false: never gate.
    permission: bool = True
    permission_window: int = 200
    permission_min_outcomes: int = 50
    permission_min_days: int = 10
    permission_confidence: float = 0.95  # family-wise, over the families judged together
    permission_correction: str = "holm"  # or "bonferroni", "none" (slt.domain.permission)
    permission_resamples: int = 2000
    retrain_every: int = 200  # new outcomes between retrains; 0: never by count
    retrain_period_h: float = 0.0  # also retrain this often; 0: never by time
    # Outcomes needed before the first training, so before any model may gate (it must then
    # also pass its validation, and its choices earn permission as family model:<family>).
    min_samples: int = 300
    # state.db files of earlier runs (e.g. `slt simulate` over historical data): their outcomes
    # join the training samples at start (not the permission evidence, which stays recent).
    pretrain_from: tuple[str, ...] = ()
    validation_folds: int = 3
    # Training samples must have closed this long before a validation block begins.
    validation_embargo_h: float = 4.0
    max_samples: int = 20_000  # most recent outcomes kept for training

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"learner.policy must be one of {', '.join(POLICIES)}")
        self.permission_params()  # validates the permission_* keys
        for name in ("retrain_every", "retrain_period_h", "validation_embargo_h"):
            if getattr(self, name) < 0:
                raise ValueError(f"learner.{name} must not be negative")
        if self.validation_folds < 2:
            raise ValueError("learner.validation_folds must be >= 2")
        if not 50 <= self.min_samples <= self.max_samples:
            raise ValueError("learner.min_samples must be >= 50 and <= learner.max_samples")

    def permission_params(self, seed: int = 0) -> PermissionParams:
        return PermissionParams(
            window=self.permission_window,
            min_outcomes=self.permission_min_outcomes,
            min_days=self.permission_min_days,
            confidence=self.permission_confidence,
            correction=self.permission_correction,
            resamples=self.permission_resamples,
            seed=seed,
        )


def learner_config(settings: Any) -> LearnerConfig:
    """The learner settings of `settings` (a slt.config.Settings)."""
    return settings.learner


def with_learner(settings: Any, config: LearnerConfig) -> Any:
    """A copy of the frozen `settings` carrying `config` as its learner settings."""
    return replace(settings, learner=config)
