"""Candidate families: the built-in generators, exit plans, and a user's own generator loaded
by `--strategy module:Class` or by entry point (group `slt.strategies`)."""

from __future__ import annotations

import json
import sqlite3
from importlib.metadata import EntryPoint
from pathlib import Path

import orjson
import pytest

from slt.application.trader import families
from slt.application.trader.families import FamilyError, build_generators
from slt.domain.indicators import Snapshot
from slt.domain.strategy import Candidate, EmaTrendParams, MeanReversion, exit_plans
from slt.domain.values import Direction
from slt.entrypoints.cli import main

TWO_DAYS = ["--start", "2025-12-01T00:00", "--end", "2025-12-03T00:00"]


def decisions(out: Path) -> list[dict]:
    db = sqlite3.connect(out / "state.db")
    rows = [orjson.loads(r[0]) for r in db.execute("select data from samples")]
    db.close()
    return [r["decision"] for r in rows if r["type"] in ("entry", "virtual_open")]


def simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), "--json", *TWO_DAYS, *args]) == 0
    json.loads(capsys.readouterr().out)
    return decisions(out)


def test_a_user_class_named_module_colon_class_proposes_the_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = simulate(tmp_path, capsys, "--strategy", "example_strategy:EveryTwelfthBar")
    # 5 symbols x 2 days x 96 bars / 12, less the warm-up, each under the two exit plans
    assert 60 <= len(made) <= 160
    assert {d["family"] for d in made} == {"every12/1R", "every12/2R"}
    assert {d["trigger"] for d in made} == {"every12"}
    assert {d["direction"] for d in made} == {"LONG"}


def test_a_generator_registered_as_an_entry_point_is_found_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = EntryPoint("mine", "example_strategy:EveryTwelfthBar", families.GROUP)

    def registered(group: str, name: str) -> list[EntryPoint]:
        return [ep] if (group, name) == (families.GROUP, "mine") else []

    monkeypatch.setattr(families, "entry_points", registered)
    [generator] = build_generators(EmaTrendParams(families=("mine",)))
    assert generator.name == "every12"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", "no candidate generator 'nosuch'"),
        ("example_strategy:Missing", "cannot load"),
        ("example_strategy:NotAGenerator", "not a class with an on_bar method"),
    ],
)
def test_a_generator_that_cannot_load_stops_start_up_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    with pytest.raises(FamilyError, match=message):
        build_generators(EmaTrendParams(families=(spec,)))
    assert main(["simulate", "--out", str(tmp_path), "--strategy", spec, *TWO_DAYS]) == 2
    err = capsys.readouterr().err
    assert "strategy.families" in err and message in err


def test_the_default_families_are_trend_and_mean_reversion_under_two_exit_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = simulate(tmp_path, capsys, "--start", "2025-12-01", "--end", "2025-12-11")
    assert {d["family"] for d in made} == {"trend/1R", "trend/2R", "reversion/1R", "reversion/2R"}
    assert all(d["reward_risk"] == float(d["family"].split("/")[1][:-1]) for d in made)
    assert all(not d["reversal_exit"] for d in made if d["family"].startswith("reversion"))


def snap(close: float, rsi: float, adx: float) -> Snapshot:
    return Snapshot(0, close, 100.0, 100.0, 2.0, 2.0, rsi, 0.0, 0.04, adx, 20.0, 20.0, 1.0, 10.0,
                    104.0, 96.0, 500)


def test_mean_reversion_trades_back_into_a_range_only_without_a_trend() -> None:
    gen = MeanReversion(EmaTrendParams(cooldown_bars=0))
    [long] = gen.on_bar("X", snap(95.0, 25.0, 15.0), None, 1)
    assert long.direction is Direction.LONG and long.stop_distance == pytest.approx(3.0)
    assert not long.reversal_exit and long.family == "reversion"
    [short] = gen.on_bar("X", snap(105.0, 75.0, 15.0), None, 2)
    assert short.direction is Direction.SHORT
    assert gen.on_bar("X", snap(95.0, 25.0, 35.0), None, 3) == ()  # trending: no reversion
    assert gen.on_bar("X", snap(95.0, 45.0, 15.0), None, 4) == ()  # RSI not stretched


def test_each_exit_plan_is_its_own_family() -> None:
    c = Candidate("X", Direction.LONG, 0, 100.0, 2.0, 2.0, 1.0, family="trend")
    plans = exit_plans(c, (1.0, 2.5))
    assert [(p.family, p.reward_risk) for p in plans] == [("trend/1R", 1.0), ("trend/2.5R", 2.5)]
