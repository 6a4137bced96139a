"""Pre-training: outcomes of an earlier run over historical data train a model at start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from slt.application.learner.registry import ModelRegistry
from slt.config import load_settings
from slt.data import bundled_sources
from slt.entrypoints.simulate import simulate

DAY = 86_400_000
START = 1_764_547_200_000  # 2025-12-01


def run(out: Path, start: int, days: int, **learner: object) -> None:
    overrides = {f"learner.{k}": v for k, v in learner.items()}
    settings = load_settings(None, {"learner.min_samples": 50, **overrides})
    asyncio.run(
        simulate(settings, bundled_sources(), out, start_ms=start, end_ms=start + days * DAY)
    )


def test_a_run_starts_with_a_model_trained_on_an_earlier_runs_outcomes(tmp_path: Path) -> None:
    run(tmp_path / "history", START, 4, retrain_every=0)
    assert ModelRegistry(tmp_path / "history" / "models").cards == []  # never retrained
    history = str(tmp_path / "history" / "state.db")
    later = START + 5 * DAY
    run(tmp_path / "now", later, 1, pretrain_from=[history])
    [first, *_] = ModelRegistry(tmp_path / "now" / "models").cards
    # trained at the first trading cycle, on the earlier outcomes (all closed before it)
    assert first.trained_at_ms - later < 10 * 60_000
    assert first.n_samples >= 50 and first.window_end_ms < later


def test_a_missing_pretraining_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"learner\.pretrain_from: .*no such file"):
        run(tmp_path, START, 1, pretrain_from=[str(tmp_path / "nope.db")])
