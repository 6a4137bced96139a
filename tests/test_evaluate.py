"""`slt evaluate` on a slice of the bundled data."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from slt.application.evaluation.walk_forward import make_folds
from slt.application.learner.config import LearnerConfig, with_learner
from slt.config import load_settings
from slt.data import bundled_sources
from slt.entrypoints.evaluate import evaluate, run_evaluate

DAY = 86_400_000
START = 1_764_547_200_000  # 2025-12-01


def test_evaluate_prints_and_writes_the_table_per_fold_and_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    argv = ["--start", "2025-12-01", "--end", "2025-12-07", "--folds", "3", "--out", str(out)]
    assert run_evaluate([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["rows"]
    assert [(r["fold"], r["policy"]) for r in rows] == [
        (f, p) for f in ("1", "2", "3", "total") for p in ("rules", "gated")
    ]
    assert [r["start"] for r in rows[::2]] == [
        "2025-12-01 00:00", "2025-12-03 00:00", "2025-12-05 00:00", "2025-12-03 00:00"
    ]
    # Six days are too few for any family to earn the right to trade: the gated policy stays
    # flat while the rules trade, and the text says why, fold by fold.
    assert rows[0]["trades"] > 0
    assert all(r["trades"] == 0 for r in rows if r["policy"] == "gated")
    assert [p["fold"] for p in result["permissions"]] == [2, 3]
    assert all(not v["allowed"] for p in result["permissions"] for v in p["families"])
    assert "fold 2: trend/1R virtual (21/50 outcomes); trend/2R virtual" in result["text"]
    assert "trend/2R virtual (outcomes on 3/10 days)" in result["text"]
    for policy in ("rules", "gated"):
        mine = [r for r in rows if r["policy"] == policy]
        assert mine[-1]["trades"] == sum(r["trades"] for r in mine if r["role"] == "test")
        assert (out / f"equity-{policy}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / policy / "report.html").read_text().startswith("<!DOCTYPE html>")
        assert f"# slt evaluate: policy {policy}" in (out / policy / "report.md").read_text()
    with (out / "evaluation.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and {"expectancy_r", "profit_factor", "max_drawdown"} <= set(table[0])
    assert "exp. R" in result["text"] and "out of sample" in result["text"]


def test_models_are_trained_at_each_fold_boundary_only(tmp_path: Path) -> None:
    settings = with_learner(load_settings(), LearnerConfig(min_samples=50, validation_folds=2))
    folds = make_folds(START, START + 9 * DAY, 3)
    result = asyncio.run(evaluate(settings, bundled_sources(), folds, tmp_path, seed=0))
    models = result["runs"]["gated"]["models"]
    assert models and result["runs"]["rules"]["models"] == []
    boundaries = {"2025-12-04T00:00:00+00:00", "2025-12-07T00:00:00+00:00"}
    assert {m["trained_at"] for m in models} <= boundaries
    live = {m["trained_at"]: m["version"] for m in models if m["live"]}
    for row in result["rows"]:
        if row["policy"] == "gated" and row["role"] == "test":
            started = row["start"].replace(" ", "T") + ":00+00:00"
            assert row["model"] == (str(live[started]) if started in live else "-")
    assert result["diagnostics"] and all(d["scored"] > 0 for d in result["diagnostics"])


def test_too_few_folds_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_evaluate(["--folds", "1", "--out", str(tmp_path)]) == 2
    assert "--folds" in capsys.readouterr().err
