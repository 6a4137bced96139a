"""No look-ahead: perturbing every bar after a decision time leaves every decision up to it,
its features, its score and every model trained up to it unchanged.

Two full simulations (the same code as `slt simulate`, learning on, models retrained every few
dozen outcomes so that several exist before the cut) run on ten days of the bundled klines:
once as recorded, once with every bar from the cut on replaced by random prices and volumes.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from slt.adapters.replay import DataSource
from slt.application.learner.config import LearnerConfig, with_learner
from slt.application.learner.registry import ModelRegistry
from slt.config import load_settings
from slt.entrypoints.simulate import simulate

DAY = 86_400_000
START = 1_764_547_200_000  # 2025-12-01
CUT = START + 7 * DAY
END = START + 10 * DAY


def write_slice(src: Path, dst: Path, perturb: bool) -> None:
    rng = random.Random(src.name)
    with gzip.open(src, "rt") as f:
        header, *lines = f.read().splitlines()
    out = [header]
    for line in lines:
        cells = line.split(",")
        open_ms = int(cells[0])
        if not START - DAY <= open_ms < END:
            continue
        if perturb and open_ms >= CUT:
            base = float(cells[4]) * rng.uniform(0.8, 1.2)
            o, c = base * rng.uniform(0.98, 1.02), base * rng.uniform(0.98, 1.02)
            h, lo = max(o, c) * rng.uniform(1, 1.02), min(o, c) * rng.uniform(0.98, 1)
            volume = rng.uniform(1, 1e5)
            cells[1:6] = [f"{v:.6g}" for v in (o, h, lo, c)] + [f"{volume:.3f}"]
        out.append(",".join(cells))
    dst.write_text("\n".join(out) + "\n")


def run(tmp: Path, perturb: bool) -> tuple[list[dict[str, Any]], list[Any]]:
    market = Path(str(resources.files("slt") / "data" / "market"))
    data = tmp / "data"
    data.mkdir(parents=True)
    sources = []
    for src in sorted(market.glob("*.csv.gz")):
        dst = data / src.name.removesuffix(".gz")
        write_slice(src, dst, perturb)
        sources.append(DataSource(dst, None))
    learner = LearnerConfig(min_samples=60, retrain_every=40, validation_folds=2)
    settings = with_learner(load_settings(), learner)
    out = tmp / "out"
    asyncio.run(simulate(settings, sources, out, start_ms=START, end_ms=END, seed=1))
    db = sqlite3.connect(out / "state.db")
    records = [orjson.loads(row[0]) for row in db.execute("select data from samples order by id")]
    db.close()
    decisions = [
        {**r["decision"], "type": r["type"], "not_taken": r.get("not_taken", "")}
        for r in records
        if r["type"] in ("entry", "virtual_open")
    ]
    return decisions, ModelRegistry(out / "models", keep_cards=None).cards


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    tmp = tmp_path_factory.mktemp("lookahead")
    return run(tmp / "real", perturb=False), run(tmp / "perturbed", perturb=True)


def test_decisions_and_features_up_to_the_cut_are_unchanged(runs: tuple[Any, Any]) -> None:
    (real, _), (perturbed, _) = runs
    before = [d for d in real if d["decision_ms"] <= CUT]
    assert len(before) > 50
    assert [d for d in perturbed if d["decision_ms"] <= CUT] == before
    # The learner was at work before the cut: its scores are part of what stayed the same.
    assert sum(1 for d in before if d["score"] is not None) > 10


def test_models_trained_up_to_the_cut_are_unchanged(runs: tuple[Any, Any]) -> None:
    (_, real_cards), (_, perturbed_cards) = runs
    before = [c for c in real_cards if c.trained_at_ms <= CUT]
    assert len(before) >= 2
    assert [c for c in perturbed_cards if c.trained_at_ms <= CUT] == before
    for card in before:
        assert card.window_end_ms <= card.trained_at_ms  # labels closed before training


def test_the_perturbation_does_change_what_comes_after_the_cut(runs: tuple[Any, Any]) -> None:
    (real, _), (perturbed, _) = runs
    after_real = [d for d in real if d["decision_ms"] > CUT]
    after_perturbed = [d for d in perturbed if d["decision_ms"] > CUT]
    assert after_real and after_perturbed and after_real != after_perturbed
