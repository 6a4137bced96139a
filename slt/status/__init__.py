"""The status page, JSON API and Prometheus metrics of a running bot, served by aiohttp behind
a bearer token, all from one `StatusSnapshot` taken per request."""

from slt.status.server import ENV_STATUS_TOKEN, StatusServer, StatusToken, announce, resolve_token
from slt.status.snapshot import (
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
from slt.status.source import ComponentsSource, LoopTimer

__all__ = [
    "ENV_STATUS_TOKEN",
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
    "StatusServer",
    "StatusSnapshot",
    "StatusSource",
    "StatusToken",
    "announce",
    "resolve_token",
    "to_json",
]
