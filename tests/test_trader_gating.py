"""The decision: rules at cold start, the live model's gate once there is one, and the
permission layer over both.

Runs `slt simulate`'s code on a slice of the bundled data, with a model registry prepared in
the output folder as a restarted bot would find it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from slt.application.learner.config import LearnerConfig, with_learner
from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.model import OutcomeModel
from slt.application.learner.registry import ModelRegistry
from slt.application.learner.samples import ENTRY, VIRTUAL_OPEN
from slt.application.learner.training import FoldMetrics, TrainResult, Validation
from slt.config import load_settings
from slt.data import bundled_sources
from slt.entrypoints.simulate import simulate

START = 1_764_547_200_000  # 2025-12-01
END = START + 4 * 86_400_000
LONG = FEATURE_NAMES.index("is_long")


class LongsOnly(OutcomeModel):
    """Expects +1R from every long and -1R from every short."""

    def __init__(self) -> None:
        self.feature_names = FEATURE_NAMES

    def expected_r(self, rows: Any) -> list[float]:
        return [1.0 if row[LONG] == 1.0 else -1.0 for row in rows]


def passing() -> Validation:
    fold = FoldMetrics(0, 1, 200, 100, 80, -10.0, 50, 30, 20.0, 50.0, 0.5)
    return Validation((fold,), 0.0, 0.2)


def run(out: Path, with_model: bool, permission: bool = False) -> list[tuple[str, dict[str, Any]]]:
    if with_model:
        registry = ModelRegistry(out / "models")
        registry.register(TrainResult(LongsOnly(), passing(), START, 100, 0, START))
    learner = LearnerConfig(permission=permission, retrain_every=0)
    settings = with_learner(load_settings(), learner)
    asyncio.run(
        simulate(settings, bundled_sources(), out, start_ms=START, end_ms=END, seed=5,
                 keep_models=with_model)  # a run starts clean unless told to keep the models
    )
    db = sqlite3.connect(out / "state.db")
    records = [orjson.loads(row[0]) for row in db.execute("select data from samples")]
    db.close()
    return [
        (r["type"], {**r["decision"], "not_taken": r.get("not_taken", "")})
        for r in records
        if r["type"] in (ENTRY, VIRTUAL_OPEN)
    ]


def test_cold_start_the_rules_decide(tmp_path: Path) -> None:
    decisions = run(tmp_path, with_model=False)
    assert decisions
    assert {d["taken_by"] for _, d in decisions} == {"rules"}
    assert all(d["score"] is None and d["model_version"] is None for _, d in decisions)
    assert any(kind == ENTRY for kind, _ in decisions)


def test_a_live_model_gates_the_candidates_it_expects_to_lose(tmp_path: Path) -> None:
    decisions = run(tmp_path, with_model=True)
    shorts = [(k, d) for k, d in decisions if d["direction"] == "SHORT"]
    longs = [(k, d) for k, d in decisions if d["direction"] == "LONG"]
    assert shorts and longs
    assert all(k == VIRTUAL_OPEN and d["not_taken"] == "below_threshold" for k, d in shorts)
    assert all(d["score"] == -1.0 and d["taken_by"] == "" for _, d in shorts)
    assert all(d["taken_by"] == "model" and d["model_version"] == 1 for _, d in longs)
    assert any(k == ENTRY for k, _ in longs)


def test_without_evidence_no_family_risks_money(tmp_path: Path) -> None:
    # Four days of outcomes are fewer than the permission layer's ten days: all virtual.
    decisions = run(tmp_path, with_model=False, permission=True)
    assert decisions
    assert all(k == VIRTUAL_OPEN and d["not_taken"] == "no_permission" for k, d in decisions)
    assert all(d["taken_by"] == "" and d["family"].startswith(("trend/", "reversion/"))
               for _, d in decisions)
    report = (tmp_path / "reports" / "2025-12-04.md").read_text()
    assert "## Permission to trade\n\n- reversion/1R: virtual only (1/50 outcomes)" in report
    assert "- trend/2R: virtual only (outcomes on 3/10 days)" in report


def test_the_models_choices_need_the_permission_of_the_model_family(tmp_path: Path) -> None:
    decisions = run(tmp_path, with_model=True, permission=True)
    longs = [d for k, d in decisions if d["direction"] == "LONG"]
    shorts = [d for k, d in decisions if d["direction"] == "SHORT"]
    assert longs and shorts
    assert all(d["not_taken"] == "no_permission" and d["score"] == 1.0 for d in longs)
    assert all(d["not_taken"] == "below_threshold" for d in shorts)
    assert all(k == VIRTUAL_OPEN for k, _ in decisions)
