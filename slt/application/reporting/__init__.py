"""Report analysis: the figures of a UTC day (`DayReport`) and of a run, and the runtime figures.
Rendered to files by slt.adapters.reporting."""

from slt.application.reporting.analysis import DayReport, build_day_report
from slt.application.reporting.runtime import RuntimeStats, RuntimeStatsProvider, RuntimeWindow

__all__ = [
    "DayReport",
    "RuntimeStats",
    "RuntimeStatsProvider",
    "RuntimeWindow",
    "build_day_report",
]
