"""Notifications to the operator: the events, the Outbox that keeps delivery off the trading path,
and the feed watch. The Notifier port is in slt.ports.notifier; Telegram and Discord in
slt.adapters.notify."""

from slt.application.notify.events import (
    BotStarted,
    BotStopping,
    BreakerChanged,
    DailyReportReady,
    FeedRestored,
    FeedStale,
    Notice,
    ProtectiveStopFailed,
    ProtectiveStopPlaced,
    TradeClosed,
    TradeOpened,
)
from slt.application.notify.outbox import Notifications, Outbox, OutboxStats, RetryPolicy
from slt.application.notify.watch import FeedWatch

__all__ = [
    "BotStarted",
    "BotStopping",
    "BreakerChanged",
    "DailyReportReady",
    "FeedRestored",
    "FeedStale",
    "FeedWatch",
    "Notice",
    "Notifications",
    "Outbox",
    "OutboxStats",
    "ProtectiveStopFailed",
    "ProtectiveStopPlaced",
    "RetryPolicy",
    "TradeClosed",
    "TradeOpened",
]
