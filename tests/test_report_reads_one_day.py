"""A day's report reads only that day's rows: its cost does not grow with the bot's history."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from slt.adapters.reporting.daily import DailyReporter
from slt.adapters.reporting.store import ReportStore
from slt.adapters.sqlite_store import SqliteStore
from slt.ports.store import BreakerEvent, TradeRecord

H = 3_600_000
D = 24 * H
FIRST = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAYS = 60


def trade(pid: int, close_ms: int) -> TradeRecord:
    return TradeRecord(pid, "BTCUSDT", "LONG", Decimal("0.01"), Decimal(90000), Decimal(90100),
                       Decimal("0.9"), Decimal("0.1"), close_ms - H, close_ms, "take_profit")


def outcome(day: int) -> dict[str, Any]:
    start = FIRST + day * D
    return {"type": "outcome", "decision_ms": start + H, "close_ms": start + 3 * H,
            "r_multiple": 0.5, "virtual": day % 2 == 0}


class CountingStore(SqliteStore):
    """Counts the rows each read returns; whole-table reads fail the test."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.rows: Counter[str] = Counter()

    def trades(self) -> list[TradeRecord]:
        raise AssertionError("a day's report read every trade")

    def samples(self) -> list[dict[str, Any]]:
        raise AssertionError("a day's report read every sample")

    def trades_closed_between(self, start_ms: int, end_ms: int | None = None) -> list[TradeRecord]:
        found = super().trades_closed_between(start_ms, end_ms)
        self.rows["trades"] += len(found)
        return found

    def outcomes_ended_between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        found = super().outcomes_ended_between(start_ms, end_ms)
        self.rows["samples"] += len(found)
        return found

    def breaker_events(self, since_ms: int = 0, until_ms: int | None = None) -> list[BreakerEvent]:
        if until_ms is None:
            raise AssertionError("a day's report read every breaker change")
        found = super().breaker_events(since_ms, until_ms)
        self.rows["breaker"] += len(found)
        return found


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        for day in range(DAYS):
            start = FIRST + day * D
            for k in range(3):
                store.add_trade(trade(day * 3 + k + 1, start + (k + 2) * H))
            store.add_samples([{"type": "entry", "decision_ms": start + H}, outcome(day)])
            store.add_breaker_event(BreakerEvent(start + 5 * H, "NORMAL", "WARNING", "X"))
            store.add_breaker_event(BreakerEvent(start + 6 * H, "WARNING", "NORMAL", "X"))
    return path


@pytest.mark.parametrize("day", [0, 30, DAYS - 1])
def test_a_days_report_reads_only_that_days_rows(history: Path, tmp_path: Path, day: int) -> None:
    store = CountingStore(history)
    reporter = DailyReporter(store, None, tmp_path / "reports", report_store=ReportStore(history))
    start = FIRST + day * D
    asyncio.run(reporter.regenerate(start, FIRST + DAYS * D))
    assert store.rows == {"trades": 3, "samples": 1, "breaker": 2}
    report = reporter.last
    assert report is not None
    assert report.report.count == 3
    assert report.report.real.count + report.report.virtual.count == 1
    assert report.report.breaker.start_level == "NORMAL"
    assert dict(report.report.breaker.time_in_level_ms)["WARNING"] == H


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT * FROM trades WHERE close_ms >= 1 AND close_ms < 2 ORDER BY id",
         "trades_by_close"),
        ("SELECT data FROM samples WHERE end_ms >= 1 AND end_ms < 2 ORDER BY id", "samples_by_end"),
        ("SELECT * FROM breaker_events WHERE ts_ms >= 1 AND ts_ms < 2 ORDER BY id",
         "breaker_events_by_ts"),
    ],
)
def test_range_queries_search_an_index_instead_of_scanning(
    history: Path, sql: str, index: str
) -> None:
    with sqlite3.connect(history) as conn:
        conn.execute("ANALYZE")
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    conn.close()
    assert f"USING INDEX {index}" in plan, plan


def test_range_reads_match_a_filter_over_everything(history: Path) -> None:
    with SqliteStore(history) as store:
        lo, hi = FIRST + 10 * D + 3 * H, FIRST + 12 * D
        assert store.trades_closed_between(lo, hi) == [
            t for t in store.trades() if lo <= t.close_ms < hi
        ]
        assert store.trades_closed_between(FIRST + (DAYS - 1) * D) == store.trades()[-3:]
        assert store.outcomes_ended_between(lo, hi) == [outcome(10), outcome(11)]
        assert store.breaker_event_before(FIRST + 5 * H) is None
        assert store.breaker_event_before(FIRST + 6 * H + 1) == BreakerEvent(
            FIRST + 6 * H, "WARNING", "NORMAL", "X"
        )
        assert store.first_activity_ms() == FIRST + H
        assert store.last_activity_ms() == FIRST + (DAYS - 1) * D + 6 * H


def test_an_older_file_gets_the_sample_end_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE samples (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT)")
        conn.executemany(
            "INSERT INTO samples (data) VALUES (?)",
            [(orjson.dumps(outcome(d)).decode(),) for d in range(3)]
            + [(orjson.dumps({"type": "entry", "decision_ms": FIRST}).decode(),)],
        )
    conn.close()
    with SqliteStore(path) as store:
        assert store.outcomes_ended_between(FIRST + D, FIRST + 3 * D) == [outcome(1), outcome(2)]
        assert len(store.samples()) == 4
    with SqliteStore(path) as store:  # the migration runs once
        assert store.outcomes_ended_between(FIRST, FIRST + D) == [outcome(0)]


def test_empty_store_has_no_activity() -> None:
    with SqliteStore(":memory:") as store:
        assert store.first_activity_ms() is None
        assert store.last_activity_ms() is None
        assert store.trades_closed_between(0) == []
