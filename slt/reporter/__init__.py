"""DailyReporter: a Markdown report of each UTC day."""

from slt.reporter.daily import DailyReporter, DaySummary, summarize

__all__ = ["DailyReporter", "DaySummary", "summarize"]
