"""Connection counters that live components keep (WebSocket feed, REST client).

A provider is a plain callable returning the current `RuntimeStats`: counters since `since_ms`
(usually the process start). The daily report shows the difference between two readings, so a
provider never has to know about days; in simulation there is no provider and the report says
"n/a".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class RuntimeStats:
    """Cumulative counters, each counted from `since_ms` and never decreasing."""

    since_ms: int
    ws_reconnects: int = 0
    stale_periods: int = 0  # times a symbol's quotes went stale
    stale_ms: int | None = None  # total time symbols spent stale, summed; None: not measured
    messages_dropped: int = 0  # market-data messages dropped (queue overflow, decode errors)
    rest_weight_used: int = 0  # sum of the request weights spent on Binance's REST API

    def minus(self, earlier: RuntimeStats) -> RuntimeStats:
        """The counts since `earlier`; `earlier` from another run (counters restarted) is
        ignored, since its counts are not part of these."""
        if earlier.since_ms != self.since_ms:
            return self
        counts = {
            f.name: _minus(getattr(self, f.name), getattr(earlier, f.name))
            for f in fields(self)
            if f.name != "since_ms"
        }
        return RuntimeStats(since_ms=self.since_ms, **counts)


def _minus(now: int | None, then: int | None) -> int | None:
    return None if now is None or then is None else now - then


RuntimeStatsProvider = Callable[[], RuntimeStats]


@dataclass(frozen=True, slots=True)
class RuntimeWindow:
    """What a report shows: counts over a window that started at `counted_from_ms`."""

    counted_from_ms: int
    stats: RuntimeStats
