"""The daily report's permission lines read each family's window, not the whole sample log."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from slt.adapters.reporting.daily import DailyReporter
from slt.adapters.sqlite_store import SqliteStore
from slt.application.learner.permissions import verdicts_at, verdicts_from_store
from slt.domain.permission import PermissionParams
from slt.domain.values import DAY_MS

H = 3_600_000
DAYS = 40
PARAMS = PermissionParams(window=60, min_outcomes=20, min_days=5, seed=4)
THRESHOLD = 0.0


def history() -> list[dict[str, Any]]:
    """Three families over 40 days: `busy` closes 40 outcomes a day (its 60 span two days, so
    the window reaches back to five), `trend` a few (some written before families existed,
    without one), `quiet` one every other day; scores around the threshold."""
    rng = random.Random(1)
    records: list[dict[str, Any]] = []
    for day in range(DAYS):
        per_family = {"busy": 40, "trend": 3, "quiet": day % 2}
        for family, n in per_family.items():
            for k in range(n):
                close = day * DAY_MS + (k + 1) * 30_000
                record = {
                    "type": "outcome",
                    "family": family,
                    "close_ms": close,
                    "r_multiple": rng.gauss(0.4 if family == "busy" else -0.1, 1.0),
                    "score": rng.gauss(0, 1),
                }
                if family == "trend" and day < 3:
                    del record["family"]  # written before families existed: trend
                records.append(record)
                records.append({"type": "virtual_open", "decision_ms": close - H})
    return records


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "state.db")
    s.add_samples(history())
    return s


@pytest.mark.parametrize("day", [3, 12, DAYS])
def test_the_windowed_reads_give_the_verdicts_of_the_whole_log(
    store: SqliteStore, day: int
) -> None:
    at = day * DAY_MS
    expected = verdicts_at(store.samples(), PARAMS, THRESHOLD, at)
    got = verdicts_from_store(store, PARAMS, THRESHOLD, at)
    assert got == expected
    assert {v.family for v in got} >= {"busy", "trend", "model:busy"}


def test_a_busy_family_reaches_back_to_the_minimum_days(store: SqliteStore) -> None:
    window = store.recent_outcomes("busy", DAYS * DAY_MS, 60, 5)
    days = {r["close_ms"] // DAY_MS for r in window}
    assert days == {35, 36, 37, 38, 39} and len(window) == 5 * 40
    assert [r["close_ms"] for r in window] == sorted(r["close_ms"] for r in window)
    scored = store.recent_outcomes("busy", DAYS * DAY_MS, 60, 5, scored_above=1.0)
    assert scored and all(r["score"] > 1.0 for r in scored)
    legacy = store.recent_outcomes("trend", 3 * DAY_MS, 100, 5)
    assert len(legacy) == 9 and all("family" not in r for r in legacy)
    assert store.outcome_families(DAY_MS) == ["busy", "trend"]


class CountingStore(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.read = 0

    def samples(self) -> list[dict[str, Any]]:
        raise AssertionError("the report read every sample")

    def recent_outcomes(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        found = super().recent_outcomes(*args, **kwargs)
        self.read += len(found)
        return found


def test_the_daily_report_reads_only_the_windows(store: SqliteStore, tmp_path: Path) -> None:
    store.close()
    counting = CountingStore(tmp_path / "state.db")

    def lines(s: Any, at_ms: int) -> list[str]:
        return [v.describe() for v in verdicts_from_store(s, PARAMS, THRESHOLD, at_ms)]

    reporter = DailyReporter(counting, None, tmp_path / "reports", permissions=lines)
    asyncio.run(reporter.regenerate((DAYS - 1) * DAY_MS, DAYS * DAY_MS))
    assert reporter.last is not None
    assert any(line.startswith("busy: ") for line in reporter.last.report.permissions)
    # busy's five days (200) and model:busy's, trend's and quiet's 60 at most each
    assert 0 < counting.read <= 200 * 2 + 60 * 4
    assert counting.read < len(history()) // 4


def test_the_family_read_searches_its_index(store: SqliteStore, tmp_path: Path) -> None:
    store.close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("ANALYZE")
        sql = (
            "SELECT data FROM samples WHERE end_ms IS NOT NULL AND"
            " coalesce(json_extract(data, '$.family'), 'trend') = 'busy' AND end_ms < 5"
            " ORDER BY end_ms DESC, id DESC LIMIT 60"
        )
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    conn.close()
    assert "USING INDEX samples_by_family" in plan, plan
