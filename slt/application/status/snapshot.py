"""What the status page, the JSON API and /metrics show: one frozen snapshot of the bot.

A `StatusSource` is any callable returning a `StatusSnapshot`; the server calls it once per
request, on the event loop's thread, so it may read the bot's objects directly but must be
quick and must not await. `slt.application.status.source.ComponentsSource` builds one from the
running components; tests build snapshots by hand or from a simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from slt.application.reporting.runtime import RuntimeStats


@dataclass(frozen=True, slots=True)
class PositionView:
    id: int
    symbol: str
    side: str  # LONG or SHORT
    status: str  # lifecycle state: open, closing, ...
    qty: Decimal
    entry_price: Decimal
    stop: Decimal
    take_profit: Decimal
    opened_ms: int
    mark: float | None  # mid of the latest quote
    unrealized_pnl: Decimal | None  # at `mark`, before exit fees


@dataclass(frozen=True, slots=True)
class OrderView:
    client_id: str
    position_id: int
    purpose: str  # entry, exit, stop
    symbol: str
    side: str
    type: str
    qty: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: str  # PENDING: sent, no answer yet


@dataclass(frozen=True, slots=True)
class FeedHealth:
    symbol: str
    age_ms: int | None  # None: no quote yet
    stale: bool
    bid: float | None
    ask: float | None


@dataclass(frozen=True, slots=True)
class LoopStats:
    name: str
    runs: int
    failures: int
    skipped: int
    last_duration_ms: float | None  # None: not measured


@dataclass(frozen=True, slots=True)
class ModelView:
    version: str
    activated_ms: int
    in_service: bool  # False: the rules decide
    validation_hit_rate: float | None


@dataclass(frozen=True, slots=True)
class ReportView:
    day: str
    trades: int
    net_pnl: Decimal
    written_ms: int
    html_path: str | None


@dataclass(frozen=True, slots=True)
class NotifierView:
    name: str
    queued: int
    sent: int
    failed: int
    dropped: int


@dataclass(frozen=True, slots=True)
class CommandView:
    """An operator's command from the audit trail."""

    ts_ms: int
    source: str
    user: str
    command: str
    args: str
    ok: bool
    result: str


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    generated_ms: int
    mode: str  # simulate, paper or live
    breaker_level: str
    positions: tuple[PositionView, ...] = ()
    open_orders: tuple[OrderView, ...] = ()
    feeds: tuple[FeedHealth, ...] = ()
    today_pnl: Decimal = Decimal(0)  # realised since 00:00 UTC, net of fees
    today_trades: int = 0
    equity: Decimal | None = None
    # orders of the positions held (open or closing), by status; PENDING: sent, no answer yet
    orders_by_status: tuple[tuple[str, int], ...] = ()
    loops: tuple[LoopStats, ...] = ()
    model: ModelView | None = None
    last_report: ReportView | None = None
    runtime: RuntimeStats | None = None
    notifiers: tuple[NotifierView, ...] = ()
    started_ms: int | None = None
    entries_halted: str = ""  # why new entries are refused; empty while they are on
    commands: tuple[CommandView, ...] = ()  # the latest first
    # Which candidate families may risk money, and why (slt.domain.permission)
    permissions: tuple[str, ...] = ()


StatusSource = Callable[[], StatusSnapshot]


def to_json(value: Any) -> Any:
    """A snapshot (or any part of it) as JSON-ready values: Decimals become strings so that
    no digit is lost, tuples lists, and `orders_by_status` an object."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        out = {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, StatusSnapshot):
            out["orders_by_status"] = dict(value.orders_by_status)
        return out
    return value
