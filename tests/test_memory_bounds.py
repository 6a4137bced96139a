"""Memory bounded by configuration, not by uptime: what the learner holds stops growing at its
configured size while the store keeps every record."""

from __future__ import annotations

import asyncio
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from slt.adapters.sqlite_store import SqliteStore
from slt.application.learner.config import LearnerConfig, with_learner
from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.model import OutcomeModel
from slt.application.learner.registry import ModelRegistry
from slt.application.learner.samples import (
    VIRTUAL_OPEN,
    Decision,
    Outcome,
    decision_record,
    outcome_record,
)
from slt.application.learner.training import TrainResult, Validation
from slt.config import load_settings
from slt.container import build_container
from slt.data import bundled_filters, bundled_sources
from slt.domain.strategy import Candidate
from slt.domain.values import Direction
from slt.entrypoints.simulate import simulate

START = 1_764_547_200_000  # 2025-12-01
END = START + 6 * 86_400_000
MAX = 60


def test_the_learner_trains_on_at_most_max_samples_of_the_newest_outcomes(tmp_path: Path) -> None:
    learner = LearnerConfig(min_samples=50, max_samples=MAX, retrain_every=20, permission=False)
    settings = with_learner(load_settings(), learner)
    asyncio.run(simulate(settings, bundled_sources(), tmp_path, start_ms=START, end_ms=END))
    db = sqlite3.connect(tmp_path / "state.db")
    (stored,) = db.execute("select count(*) from samples where end_ms is not null").fetchone()
    db.close()
    cards = ModelRegistry(tmp_path / "models").cards
    assert stored > 2 * MAX  # the store keeps every outcome
    assert len(cards) >= 3
    assert all(c.n_samples <= MAX for c in cards)
    assert cards[-1].n_samples == MAX  # the bound was reached, and then held
    starts = [c.window_start_ms for c in cards if c.n_samples == MAX]
    assert starts == sorted(starts) and starts[0] < starts[-1]  # the oldest ones left


def test_max_samples_below_min_samples_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"learner\.max_samples"):
        LearnerConfig(min_samples=300, max_samples=100)


class Constant(OutcomeModel):
    def __init__(self) -> None:
        self.feature_names = FEATURE_NAMES

    def expected_r(self, rows: Any) -> list[float]:
        return [0.0 for _ in rows]


def result(at_ms: int) -> TrainResult:
    return TrainResult(Constant(), Validation((), 0.0), at_ms, 100, 0, at_ms)


def test_the_registry_keeps_the_last_cards_in_memory_and_every_version_on_disk(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path, keep_cards=3)
    for k in range(1, 6):
        assert registry.register(result(k)).version == k
    assert [c.version for c in registry.cards] == [3, 4, 5]
    assert registry.latest is not None and registry.latest[0] == 5
    assert [c.version for c in ModelRegistry(tmp_path, keep_cards=2).cards] == [4, 5]
    everything = ModelRegistry(tmp_path, keep_cards=None)
    assert [c.trained_at_ms for c in everything.cards] == [1, 2, 3, 4, 5]
    assert everything.register(result(6)).version == 6  # numbering goes on after a restart


def _history(path: Path, outcomes: int) -> None:
    """A sample log of `outcomes` closed virtual positions (each a virtual_open and an outcome
    with the full feature table), and one still open."""
    store = SqliteStore(path)
    features = tuple((name, float(i)) for i, name in enumerate(FEATURE_NAMES))
    plan = {
        "entry": 100.0,
        "stop": 98.0,
        "take_profit": 104.0,
        "trail_distance": 0.0,
        "trail_activation": 102.0,
        "max_hold_ms": 3_600_000,
        "opened_ms": START,
    }
    records = []
    for i in range(outcomes + 1):
        ts = START - (outcomes - i) * 60_000
        c = Candidate("BTCUSDT", Direction.LONG, ts, 100.0, 2.0, 2.0, 0.0, features, "trend")
        d = Decision(c, ts, None, None, "")
        vid = -1 - i
        records.append(
            {
                "type": VIRTUAL_OPEN,
                "virtual_id": vid,
                "decision": decision_record(d),
                "not_taken": "rules",
                "plan": plan,
            }
        )
        if i < outcomes:
            o = Outcome(vid, True, 0.5 if i % 3 else -1.0, "take_profit", ts + 30_000, 30_000, 0.02)
            records.append(outcome_record(d, o))
    store.add_samples(records)
    store.close()


def test_a_restart_reads_a_long_sample_log_without_holding_it(tmp_path: Path) -> None:
    """Months of outcomes must not come back into memory at once when the bot restarts: the
    restart keeps what is still open, the training window and a few fields an outcome."""

    def restart_peak(outcomes: int) -> tuple[int, Any]:
        out = tmp_path / str(outcomes)
        out.mkdir()
        _history(out / "state.db", outcomes)

        async def build() -> Any:
            container = build_container(load_settings(), bundled_filters(), START, out)
            tracemalloc.start()
            trader = container.trader()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            container.store().close()
            return peak, trader

        return asyncio.run(build())

    small, _ = restart_peak(1_000)
    large, trader = restart_peak(10_000)
    assert len(trader._virtual) == 1  # the one still open came back
    assert trader._samples.samples().decision_ms.tolist()[-1] == START - 60_000
    # Decoded whole, 9,000 more outcomes (and their opens) cost ~70 MiB; read one at a time,
    # what stays is a few fields an outcome for the permission book.
    print(f"restart peak {small / 2**20:.1f} -> {large / 2**20:.1f} MiB")
    assert large - small < 10 * 2**20, f"{(large - small) / 2**20:.1f} MiB more"
