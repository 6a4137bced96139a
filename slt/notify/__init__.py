"""Notifications to the operator: events, the Notifier port, Telegram/Discord adapters and the
Outbox that keeps delivery off the trading path."""

from slt.notify.env import SECRET_ENV, NotifyConfigError, notifiers_from_env
from slt.notify.events import (
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
from slt.notify.outbox import Notifications, Outbox, OutboxStats, RetryPolicy
from slt.notify.port import Notifier, NotifyError
from slt.notify.watch import FeedWatch
from slt.notify.webhooks import DiscordNotifier, TelegramNotifier

__all__ = [
    "SECRET_ENV",
    "BotStarted",
    "BotStopping",
    "BreakerChanged",
    "DailyReportReady",
    "DiscordNotifier",
    "FeedRestored",
    "FeedStale",
    "FeedWatch",
    "Notice",
    "Notifications",
    "Notifier",
    "NotifyConfigError",
    "NotifyError",
    "Outbox",
    "OutboxStats",
    "ProtectiveStopFailed",
    "ProtectiveStopPlaced",
    "RetryPolicy",
    "TelegramNotifier",
    "TradeClosed",
    "TradeOpened",
    "notifiers_from_env",
]
