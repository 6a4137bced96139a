"""ReportSink port: the daily report rows and the model versions the reports and the status
page read back (SQLite in the bot, beside the Store's tables)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class ReportRow:
    day: str
    day_start_ms: int
    day_end_ms: int
    complete: bool
    written_ms: int
    trades: int
    wins: int
    net_pnl: Decimal
    fees: Decimal
    max_drawdown: Decimal
    expectancy_r: float | None
    model_version: str | None
    markdown_path: str | None
    html_path: str | None
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model version the learner registered at `activated_ms`; with `live` False the rules
    decide from then on (the version did not beat them in validation).

    `version` is compared with the `model_version` of outcome samples as text. The validation
    figures must mean what the report's live figures mean: hit rate is the share of the
    outcomes the model would take whose `r_multiple` is above zero, expectancy their mean R.
    """

    version: str
    activated_ms: int
    validation_hit_rate: float | None = None
    validation_expectancy_r: float | None = None
    validation_samples: int = 0
    training_samples: int = 0
    live: bool = True
    note: str = ""


class ReportSink(ABC):
    """Where report rows and model versions are kept; writes replace rows of the same key."""

    @abstractmethod
    def save_report(self, row: ReportRow) -> None:
        """Upsert the row of `row.day`."""

    @abstractmethod
    def report(self, day: str) -> ReportRow | None: ...

    @abstractmethod
    def last_report(self) -> ReportRow | None: ...

    @abstractmethod
    def complete_days(self) -> set[str]:
        """The days whose row covers the whole day."""

    @abstractmethod
    def first_complete_day(self) -> str | None: ...

    @abstractmethod
    def record_model(self, model: ModelRecord) -> None: ...

    @abstractmethod
    def model_at(self, ts_ms: int) -> ModelRecord | None:
        """The model version active at `ts_ms` (the last activated at or before it)."""

    @abstractmethod
    def models(self) -> list[ModelRecord]: ...
