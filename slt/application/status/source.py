"""A StatusSource over the running bot's components (live, paper, or a paused simulation).

Everything is passed in as a small callable or a port, so the status package knows no
concrete component: `slt live` hands it the PositionController's positions, the breaker's
level, the feed's `latest`, the scheduler's counters and the store.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from slt.application.reporting.runtime import RuntimeStatsProvider
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
)
from slt.domain.position import Position
from slt.domain.quote_cache import QuoteAge
from slt.domain.values import DAY_MS
from slt.ports.clock import Clock
from slt.ports.report_sink import ReportSink
from slt.ports.store import Store

_CENTS_OF_CENTS = Decimal("0.0001")


class SchedulerCounters(Protocol):
    """What UnifiedScheduler exposes."""

    runs: Mapping[str, int]
    failures: Mapping[str, int]
    skipped: Mapping[str, int]
    idle: Mapping[str, int]  # slots passed over with nothing to do


class NotifierStats(Protocol):
    name: str
    queued: int
    sent: int
    failed: int
    dropped: int


class LoopTimer:
    """Measures how long each scheduler job's last run took (wall time, awaits included: a
    trading cycle stuck on the exchange is what this is for). Wrap a Job's `run` with it."""

    def __init__(self, perf_counter: Callable[[], float] = time.perf_counter) -> None:
        self._perf = perf_counter
        self.durations_ms: dict[str, float] = {}

    def wrap(
        self, name: str, run: Callable[[int], Awaitable[None]]
    ) -> Callable[[int], Awaitable[None]]:
        async def timed(slot_ms: int) -> None:
            began = self._perf()
            try:
                await run(slot_ms)
            finally:
                self.durations_ms[name] = (self._perf() - began) * 1000

        return timed


@dataclass(frozen=True, slots=True)
class ComponentsSource:
    clock: Clock
    mode: str
    store: Store
    positions: Callable[[], Iterable[Position]]
    breaker_level: Callable[[], str]
    symbols: Callable[[], Iterable[str]]
    latest: Callable[[str], QuoteAge | None]
    scheduler: SchedulerCounters | None = None
    loop_timer: LoopTimer | None = None
    report_store: ReportSink | None = None
    runtime_stats: RuntimeStatsProvider | None = None
    notifier_stats: Callable[[], Iterable[NotifierStats]] | None = None
    equity: Callable[[], Decimal | None] | None = None
    started_ms: int | None = None
    halted: Callable[[], str] | None = None  # the PositionController's `halted`
    shown_commands: int = 10
    permissions: Callable[[], Iterable[str]] | None = None  # each family's verdict, one line

    def __call__(self) -> StatusSnapshot:
        now = self.clock.now_ms()
        positions = sorted(self.positions(), key=lambda p: p.id)
        today = now - now % DAY_MS
        trades = [t for t in self.store.trades() if t.close_ms >= today]
        orders = {p.id: self.store.orders(p.id) for p in positions}
        by_status = Counter(_status(o) for rows in orders.values() for o in rows)
        return StatusSnapshot(
            generated_ms=now,
            mode=self.mode,
            breaker_level=str(self.breaker_level()),
            positions=tuple(self._position(p) for p in positions),
            open_orders=tuple(_order(o) for rows in orders.values() for o in rows if _is_open(o)),
            feeds=tuple(self._feed(symbol) for symbol in sorted(self.symbols())),
            today_pnl=sum((t.pnl for t in trades), Decimal(0)),
            today_trades=len(trades),
            equity=None if self.equity is None else self.equity(),
            orders_by_status=tuple(sorted(by_status.items())),
            loops=self._loops(),
            model=self._model(now),
            last_report=self._last_report(),
            runtime=None if self.runtime_stats is None else self.runtime_stats(),
            notifiers=tuple(
                NotifierView(n.name, n.queued, n.sent, n.failed, n.dropped)
                for n in (self.notifier_stats() if self.notifier_stats else ())
            ),
            started_ms=self.started_ms,
            entries_halted="" if self.halted is None else self.halted(),
            commands=tuple(
                CommandView(c.ts_ms, c.source, c.user, c.command, c.args, c.ok, c.result)
                for c in self.store.commands(self.shown_commands)
            ),
            permissions=tuple(self.permissions()) if self.permissions else (),
        )

    def _position(self, p: Position) -> PositionView:
        age = self.latest(p.symbol)
        mark = None if age is None else age.quote.mid
        unrealized = (
            None
            if mark is None or not p.qty
            else (Decimal(repr(mark)) - p.entry_price) * p.qty * p.direction.sign
        )
        return PositionView(
            id=p.id,
            symbol=p.symbol,
            side=p.direction.value,
            status=p.status,
            qty=p.qty,
            entry_price=p.entry_price,
            stop=p.stop,
            take_profit=p.take_profit,
            opened_ms=p.opened_ms,
            mark=mark,
            unrealized_pnl=None if unrealized is None else unrealized.quantize(_CENTS_OF_CENTS),
        )

    def _feed(self, symbol: str) -> FeedHealth:
        age = self.latest(symbol)
        if age is None:
            return FeedHealth(symbol, None, True, None, None)
        return FeedHealth(symbol, age.age_ms, age.stale, age.quote.bid, age.quote.ask)

    def _loops(self) -> tuple[LoopStats, ...]:
        s = self.scheduler
        if s is None:
            return ()
        durations = {} if self.loop_timer is None else self.loop_timer.durations_ms
        names = sorted(set(s.runs) | set(s.failures) | set(s.skipped) | set(s.idle))
        return tuple(
            LoopStats(
                n, s.runs.get(n, 0), s.failures.get(n, 0), s.skipped.get(n, 0), durations.get(n)
            )
            for n in names
        )

    def _model(self, now: int) -> ModelView | None:
        m = None if self.report_store is None else self.report_store.model_at(now)
        if m is None:
            return None
        return ModelView(m.version, m.activated_ms, m.live, m.validation_hit_rate)

    def _last_report(self) -> ReportView | None:
        r = None if self.report_store is None else self.report_store.last_report()
        if r is None:
            return None
        return ReportView(r.day, r.trades, r.net_pnl, r.written_ms, r.html_path)


def _status(o: Mapping[str, Any]) -> str:
    return "PENDING" if o["status"] is None else str(o["status"])


def _is_open(o: Mapping[str, Any]) -> bool:
    return o["status"] is None or not o["status"].is_final


def _order(o: Mapping[str, Any]) -> OrderView:
    return OrderView(
        client_id=o["client_id"],
        position_id=o["position_id"],
        purpose=o["purpose"],
        symbol=o["symbol"],
        side=str(o["side"]),
        type=str(o["type"]),
        qty=o["qty"],
        price=o["price"],
        stop_price=o["stop_price"],
        status=_status(o),
    )
