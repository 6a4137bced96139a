"""What the status page shows: one `StatusSnapshot` per request, read from the running components.
Served over HTTP by slt.adapters.status."""

from slt.application.status.snapshot import (
    CommandView,
    FeedHealth,
    LoopStats,
    ModelView,
    NotifierView,
    OrderView,
    PositionView,
    ReportView,
    StatusSnapshot,
    StatusSource,
    to_json,
)
from slt.application.status.source import ComponentsSource, LoopTimer

__all__ = [
    "CommandView",
    "ComponentsSource",
    "FeedHealth",
    "LoopStats",
    "LoopTimer",
    "ModelView",
    "NotifierView",
    "OrderView",
    "PositionView",
    "ReportView",
    "StatusSnapshot",
    "StatusSource",
    "to_json",
]
