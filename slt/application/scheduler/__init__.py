"""UnifiedScheduler: the bot's periodic loops, on the Clock port."""

from slt.application.scheduler.unified import Job, UnifiedScheduler

__all__ = ["Job", "UnifiedScheduler"]
