"""Report rows and model versions, in the bot's SQLite file beside the Store's tables.

A separate connection to the same file (WAL allows one writer at a time and any number of
readers; every write here is one short transaction). It holds what the daily reports and the
status page need and the Store port does not carry yet:

- `reports`: one row per UTC day, upserted, so regenerating a day replaces its row and
  `catch_up` can see which days still lack a report;
- `model_versions`: one row per model the learner activates, with its validation estimates,
  so a report can set the model's live hit rate against what validation promised.

Money is TEXT (Decimal digits kept exactly), as in the Store.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlite_utils import Database

from slt.adapters.closing import Closing
from slt.ports.report_sink import ModelRecord, ReportRow, ReportSink

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    day TEXT PRIMARY KEY,            -- YYYY-MM-DD (UTC)
    day_start_ms INTEGER NOT NULL,
    day_end_ms INTEGER NOT NULL,     -- exclusive; day_start_ms + 86400000 for a whole day
    complete INTEGER NOT NULL,       -- 1 when the row covers the whole day
    written_ms INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    wins INTEGER NOT NULL,
    net_pnl TEXT NOT NULL,
    fees TEXT NOT NULL,
    max_drawdown TEXT NOT NULL,
    expectancy_r REAL,               -- NULL without real outcomes that day
    model_version TEXT,
    markdown_path TEXT,
    html_path TEXT,
    summary TEXT NOT NULL            -- the report's figures as JSON (DayReport.to_dict)
);
CREATE TABLE IF NOT EXISTS model_versions (
    version TEXT PRIMARY KEY,
    activated_ms INTEGER NOT NULL,
    validation_hit_rate REAL,        -- share of validation outcomes with r_multiple > 0
    validation_expectancy_r REAL,
    validation_samples INTEGER NOT NULL DEFAULT 0,
    training_samples INTEGER NOT NULL DEFAULT 0,
    live INTEGER NOT NULL DEFAULT 1,  -- 0: trained, but the rules decide from activated_ms
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS model_versions_by_activation ON model_versions (activated_ms);
"""


_DECIMALS = ("net_pnl", "fees", "max_drawdown")


class ReportStore(Closing, ReportSink):
    """`path` is the bot's SQLite file (`state.db`, `live.db`); `":memory:"` for tests that
    need no Store beside it."""

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        if not self._db.memory:
            self._db.enable_wal()
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- reports ---

    def save_report(self, row: ReportRow) -> None:
        """Insert or replace the row of `row.day`."""
        record = asdict(row)
        for key in _DECIMALS:
            record[key] = str(record[key])
        record["complete"] = int(row.complete)
        record["summary"] = orjson.dumps(row.summary).decode()
        with self._db.atomic():
            self._db.table("reports").insert(record, replace=True)

    def report(self, day: str) -> ReportRow | None:
        rows = list(self._db.query("SELECT * FROM reports WHERE day = ?", [day]))
        return _decode_report(rows[0]) if rows else None

    def last_report(self) -> ReportRow | None:
        rows = list(self._db.query("SELECT * FROM reports ORDER BY day DESC LIMIT 1"))
        return _decode_report(rows[0]) if rows else None

    def complete_days(self) -> set[str]:
        """Days whose row covers the whole day."""
        return {row["day"] for row in self._db.query("SELECT day FROM reports WHERE complete")}

    def first_complete_day(self) -> str | None:
        rows = list(self._db.query("SELECT min(day) AS day FROM reports WHERE complete"))
        return rows[0]["day"] if rows else None

    # --- models ---

    def record_model(self, model: ModelRecord) -> None:
        """Record (or correct) a model version; the learner calls this when it activates one."""
        record = asdict(model)
        record["live"] = int(model.live)
        with self._db.atomic():
            self._db.table("model_versions").insert(record, replace=True)

    def model_at(self, ts_ms: int) -> ModelRecord | None:
        """The model in service at `ts_ms`: the last one activated at or before it."""
        rows = list(
            self._db.query(
                "SELECT * FROM model_versions WHERE activated_ms <= ?"
                " ORDER BY activated_ms DESC, version DESC LIMIT 1",
                [ts_ms],
            )
        )
        return _decode_model(rows[0]) if rows else None

    def models(self) -> list[ModelRecord]:
        rows = self._db.query("SELECT * FROM model_versions ORDER BY activated_ms, version")
        return [_decode_model(row) for row in rows]


def _decode_model(row: dict[str, Any]) -> ModelRecord:
    row["live"] = bool(row["live"])
    return ModelRecord(**row)


def _decode_report(row: dict[str, Any]) -> ReportRow:
    for key in _DECIMALS:
        row[key] = Decimal(row[key])
    row["complete"] = bool(row["complete"])
    row["summary"] = orjson.loads(row["summary"])
    return ReportRow(**row)
