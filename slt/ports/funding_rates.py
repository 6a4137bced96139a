"""FundingHistory port: the funding rates a decision may know."""

from __future__ import annotations

from typing import Protocol


class FundingHistory(Protocol):
    def last_rate(self, symbol: str, now_ms: int) -> float | None:
        """The rate of `symbol`'s latest funding settled at or before `now_ms` (a rate is known
        from its settlement time on, never before), or None when there is none recent enough
        to stand for the current one (no data, or a gap longer than a day)."""
        ...
