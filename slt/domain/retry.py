"""When to try an exit or a protective stop again after it failed.

Exponential from `first_ms`, capped at `cap_ms`, and never earlier than the exchange asked:
Retry-After (a duration) and an IP ban's end (an instant) both win over the schedule. Pure:
the caller passes the time and what the exchange said.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_ms: int = 1_000
    cap_ms: int = 60_000

    def next_try_ms(
        self,
        failures: int,
        now_ms: int,
        retry_after_ms: int | None = None,
        ban_until_ms: int | None = None,
    ) -> int:
        """The earliest instant for attempt `failures + 1`, after `failures` failures in a row."""
        step = min(self.cap_ms, self.first_ms << min(max(failures - 1, 0), 20))
        at = now_ms + step
        if retry_after_ms is not None:
            at = max(at, now_ms + retry_after_ms)
        if ban_until_ms is not None:
            at = max(at, ban_until_ms)
        return at
