"""FundingHistory port: the funding rates a decision may know."""

from __future__ import annotations

from typing import Protocol

# A rate older than this no longer stands for the current one (every symbol settles at least
# every 8 h): a gap in the data reads as unknown rather than as a stale value.
STALE_AFTER_MS = 24 * 3_600_000


class FundingHistory(Protocol):
    def last_rate(self, symbol: str, now_ms: int) -> float | None:
        """The rate of `symbol`'s latest funding settled at or before `now_ms` (a rate is known
        from its settlement time on, never before), or None when there is none recent enough
        to stand for the current one (no data, or none within STALE_AFTER_MS)."""
        ...
