"""/metrics: the snapshot in Prometheus' text exposition format.

A custom collector on a registry of its own: each scrape takes one fresh snapshot and turns it
into metric families, so nothing has to be kept in step with the bot between scrapes and tests
can run several servers in one process. Counters the bot does not have (simulation) are left
out rather than reported as zero.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from slt.application.status.snapshot import StatusSnapshot, StatusSource

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_LEVELS = ("NORMAL", "WARNING", "THROTTLED", "BLOCKED")


class SnapshotCollector(Collector):
    def __init__(self, source: StatusSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from families(self._source())


def families(s: StatusSnapshot) -> Iterator[Metric]:
    age = GaugeMetricFamily("slt_quote_age_seconds", "Age of the latest quote", labels=["symbol"])
    stale = GaugeMetricFamily(
        "slt_feed_stale", "1 if the symbol's quotes are stale", labels=["symbol"]
    )
    for f in s.feeds:
        if f.age_ms is not None:
            age.add_metric([f.symbol], f.age_ms / 1000)
        stale.add_metric([f.symbol], float(f.stale or f.age_ms is None))
    yield age
    yield stale

    rank = BREAKER_LEVELS.index(s.breaker_level) if s.breaker_level in BREAKER_LEVELS else -1
    yield GaugeMetricFamily(
        "slt_breaker_level",
        "Circuit breaker level: 0 NORMAL, 1 WARNING, 2 THROTTLED, 3 BLOCKED",
        value=rank,
    )
    state = GaugeMetricFamily(
        "slt_breaker_state", "1 for the current breaker level", labels=["level"]
    )
    for level in BREAKER_LEVELS:
        state.add_metric([level], float(level == s.breaker_level))
    yield state

    orders = GaugeMetricFamily(
        "slt_orders", "Orders of the positions held, by status", labels=["status"]
    )
    for status, n in s.orders_by_status:
        orders.add_metric([status], n)
    yield orders
    yield GaugeMetricFamily("slt_open_orders", "Orders not final", value=len(s.open_orders))
    yield GaugeMetricFamily("slt_open_positions", "Positions not closed", value=len(s.positions))
    yield GaugeMetricFamily(
        "slt_entries_halted", "1 while new entries are refused", value=float(bool(s.entries_halted))
    )
    yield GaugeMetricFamily(
        "slt_today_realized_pnl_usdt", "Net P&L realised since 00:00 UTC", value=float(s.today_pnl)
    )
    yield GaugeMetricFamily(
        "slt_today_trades", "Trades closed since 00:00 UTC", value=s.today_trades
    )
    if s.equity is not None:
        yield GaugeMetricFamily("slt_equity_usdt", "Account equity", value=float(s.equity))

    if s.runtime is not None:
        r = s.runtime
        for name, doc, value in (
            ("slt_ws_reconnects", "WebSocket reconnects", r.ws_reconnects),
            ("slt_messages_dropped", "Market-data messages dropped", r.messages_dropped),
            ("slt_rest_weight_used", "Binance REST request weight spent", r.rest_weight_used),
            ("slt_feed_stale_periods", "Times a symbol's quotes went stale", r.stale_periods),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        if r.stale_ms is not None:
            yield CounterMetricFamily(
                "slt_feed_stale_seconds", "Time symbols spent stale", value=r.stale_ms / 1000
            )

    runs = CounterMetricFamily("slt_loop_runs", "Scheduler loop runs", labels=["loop"])
    fails = CounterMetricFamily("slt_loop_failures", "Scheduler loop failures", labels=["loop"])
    skips = CounterMetricFamily("slt_loop_skipped", "Slots skipped by overruns", labels=["loop"])
    took = GaugeMetricFamily(
        "slt_loop_duration_seconds", "Duration of the last run", labels=["loop"]
    )
    for loop in s.loops:
        runs.add_metric([loop.name], loop.runs)
        fails.add_metric([loop.name], loop.failures)
        skips.add_metric([loop.name], loop.skipped)
        if loop.last_duration_ms is not None:
            took.add_metric([loop.name], loop.last_duration_ms / 1000)
    yield from (runs, fails, skips, took)

    sent = CounterMetricFamily(
        "slt_notifications_sent", "Notifications delivered", labels=["notifier"]
    )
    lost = CounterMetricFamily(
        "slt_notifications_dropped", "Notifications dropped or failed", labels=["notifier", "why"]
    )
    for n in s.notifiers:
        sent.add_metric([n.name], n.sent)
        lost.add_metric([n.name, "queue_full"], n.dropped)
        lost.add_metric([n.name, "failed"], n.failed)
    yield from (sent, lost)

    if s.model is not None:
        info = InfoMetricFamily("slt_model", "Model version in service")
        info.add_metric(
            [], {"version": s.model.version, "in_service": str(s.model.in_service).lower()}
        )
        yield info


def registry_for(source: StatusSource) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one) holding only the snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(source))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
