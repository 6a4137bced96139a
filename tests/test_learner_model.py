"""Training, walk-forward validation, the go-live test and the model registry."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.registry import ModelRegistry
from slt.application.learner.samples import LabelledSample
from slt.application.learner.training import COST_R, tradable, train
from slt.application.learner.window import Samples, TrainingWindow

HOUR = 3_600_000
WIDTH = len(FEATURE_NAMES)


def samples(n: int, edge: bool, seed: int = 7, start: int = 0) -> list[LabelledSample]:
    """A trade every hour, closing 3 hours later; with `edge`, feature 0 tells winners apart."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x = [rng.uniform(-1, 1) for _ in range(WIDTH)]
        p_win = (0.7 if x[0] > 0 else 0.15) if edge else 0.3
        r = 2.0 if rng.random() < p_win else -1.0
        t = start + i * HOUR
        rows.append(LabelledSample(t, t + 3 * HOUR, tuple(x), r))
    return rows


def columns(rows: list[LabelledSample]) -> Samples:
    window = TrainingWindow(len(rows))
    window.extend(rows)
    return window.samples()


def test_a_model_with_an_edge_beats_the_rule_in_walk_forward_validation() -> None:
    result = train(columns(samples(600, edge=True)), trained_at_ms=10**12, threshold=0.0, folds=3)
    v = result.validation
    assert len(v.folds) == 3 and v.beats_rules
    assert v.model_mean_r > v.rules_mean_r + 2 * v.model_mean_se
    assert all(f.rank_corr > 0.2 for f in v.folds)
    low, high = result.model.expected_r([[-0.8] + [0.0] * (WIDTH - 1), [0.8] + [0.0] * (WIDTH - 1)])
    assert high > 0 > low


def test_a_model_fitted_on_noise_does_not_go_live() -> None:
    result = train(columns(samples(600, edge=False)), trained_at_ms=10**12, threshold=0.0, folds=3)
    assert not result.validation.beats_rules


def test_only_outcomes_closed_before_the_training_time_are_used() -> None:
    data = samples(400, edge=True)
    cutoff = data[300].close_ms
    # Outcomes after the cutoff are reversed: a leak would show in the model.
    leaked = data[:301] + [
        LabelledSample(s.decision_ms, s.close_ms, s.features, -s.r_multiple) for s in data[301:]
    ]
    result = train(columns(leaked), trained_at_ms=cutoff, threshold=0.0, folds=3)
    honest = train(columns(data[:301]), trained_at_ms=cutoff, threshold=0.0, folds=3)
    assert result.n_samples == 301 and result.window_end_ms == cutoff
    probe = [s.features for s in data[:50]]
    assert result.model.expected_r(probe) == honest.model.expected_r(probe)
    for fold in result.validation.folds:
        # Each validation fit saw only outcomes closed before its block's first decision.
        start = fold.first_decision_ms
        assert fold.n_train == sum(1 for s in data[:301] if s.close_ms <= start)


def test_training_is_deterministic() -> None:
    data = samples(500, edge=True)
    a = train(columns(data), 10**12, 0.0, 3)
    b = train(columns(data), 10**12, 0.0, 3)
    probe = [s.features for s in data[:100]]
    assert a.model.expected_r(probe) == b.model.expected_r(probe)
    assert a.validation == b.validation


def test_training_without_a_closed_outcome_is_refused() -> None:
    with pytest.raises(ValueError):
        train(columns(samples(10, edge=True, start=10**9)), trained_at_ms=0, threshold=0.0, folds=3)


def test_registry_versions_models_promotes_demotes_and_survives_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "models"
    registry = ModelRegistry(directory)
    assert registry.latest is None and registry.live is None
    good = registry.register(train(columns(samples(600, edge=True)), 10**12, 0.0, 3))
    assert good.version == 1 and good.live and registry.live is not None
    assert good.validation["beats_rules"] and good.n_samples == 600
    assert (directory / "model-0001.pkl").is_file() and (directory / "model-0001.json").is_file()

    reloaded = ModelRegistry(directory)
    assert reloaded.live_version == 1 and reloaded.cards == registry.cards
    probe = [s.features for s in samples(20, edge=True, seed=3)]
    assert reloaded.live.expected_r(probe) == registry.live.expected_r(probe)

    noise = registry.register(train(columns(samples(600, edge=False)), 10**12, 0.0, 3))
    assert noise.version == 2 and not noise.live
    assert registry.live is None and registry.latest is not None  # the rules decide again
    again = ModelRegistry(directory)
    assert again.live is None and again.latest[0] == 2 and len(again.cards) == 2


def test_a_feature_missing_in_every_row_does_not_stop_training() -> None:
    import math

    import numpy as np

    from slt.application.learner.model import fit

    rows = np.array([[float(i % 7), math.nan, float(i % 3)] for i in range(200)])
    model = fit(rows, [(-1.0 if i % 2 else 1.5) for i in range(200)])
    assert len(model.expected_r(rows[:5])) == 5
    assert np.isnan(rows[:, 1]).all()  # the caller's columns are left as they were


def test_a_model_that_only_loses_less_than_the_rules_does_not_go_live() -> None:
    # Winners are told apart, but even they lose after costs: better than the rules, below 0.
    data = [
        LabelledSample(s.decision_ms, s.close_ms, s.features, s.r_multiple - 1.5)
        for s in samples(600, edge=True)
    ]
    v = train(columns(data), 10**12, threshold=-10.0, folds=3).validation
    ok, reason = v.verdict
    assert not ok and v.model_lower_r < 0
    assert "not above zero" in reason and v.to_dict()["verdict"] == reason
    assert all(f.rank_corr > 0.2 for f in v.folds)


def test_the_rules_baseline_is_what_the_rules_would_trade() -> None:
    def sample(t: int, symbol: str, cost: float) -> LabelledSample:
        x = [0.0] * WIDTH
        x[COST_R] = cost
        return LabelledSample(t * HOUR, (t + 3) * HOUR, tuple(x), 1.0, symbol)

    block = columns(
        [sample(0, "A", 0.1), sample(1, "A", 0.1), sample(1, "B", 0.5), sample(3, "A", 0.1)]
    )
    # A's second candidate comes while A's first is open; B's costs too much; A's third is free.
    assert tradable(block, [True] * 4, max_cost_r=0.15) == [0, 3]
    assert tradable(block, [False, True, True, True], 0.15) == [1]


def test_validation_blocks_are_time_blocks_with_an_embargo() -> None:
    data = samples(600, edge=True)
    v = train(columns(data), 10**12, 0.0, 3, embargo_ms=10 * HOUR).validation
    span = (data[-1].decision_ms - data[0].decision_ms) / 4
    for k, fold in enumerate(v.folds, start=1):
        start = k * span
        assert start <= fold.first_decision_ms < start + HOUR
        # Purged and embargoed: every training outcome closed 10 h before the block.
        assert fold.n_train == sum(1 for s in data if s.close_ms <= start - 10 * HOUR)
