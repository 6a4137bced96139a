"""Daily reports: Markdown, self-contained HTML and an equity-curve PNG per UTC day, plus a row
in the `reports` table; `DailyReporter.catch_up` writes the days missed while the bot was down."""

from slt.reporter.analysis import DayReport, build_day_report
from slt.reporter.daily import DailyReporter, WrittenReport
from slt.reporter.runtime import RuntimeStats, RuntimeStatsProvider, RuntimeWindow
from slt.reporter.store import ModelRecord, ReportRow, ReportStore

__all__ = [
    "DailyReporter",
    "DayReport",
    "ModelRecord",
    "ReportRow",
    "ReportStore",
    "RuntimeStats",
    "RuntimeStatsProvider",
    "RuntimeWindow",
    "WrittenReport",
    "build_day_report",
]
