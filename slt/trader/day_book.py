"""The day's figures behind the daily loss limit: equity at 00:00 UTC and the net P&L closed
since, kept in the store so that a restart resumes them instead of starting the day afresh.

The day rolls on the clock (the trading cycle asks `due` every period, candidates or not),
and every close is booked on the day it closed, even if that day has not been rolled yet: a
loss closed before the day's first cycle still counts. Such an early close opens the new day
at the previous day's start equity plus its closed P&L, since the wallet is not read there.
"""

from __future__ import annotations

from decimal import Decimal

from slt.domain.values import DAY_MS
from slt.ports.store import DayTally, Store

ZERO = Decimal(0)


class DayBook:
    def __init__(self, store: Store, now_ms: int) -> None:
        self._store = store
        self.day = -1
        self.start_equity = ZERO
        self.realized = ZERO
        resumed = store.day_tally(now_ms // DAY_MS)
        if resumed is not None:
            self._adopt(resumed)

    def due(self, now_ms: int) -> bool:
        """True when `now_ms` is in a day not rolled yet: call `roll` with the equity."""
        return now_ms // DAY_MS != self.day

    def roll(self, now_ms: int, equity: Decimal) -> None:
        day = now_ms // DAY_MS
        tally = self._store.day_tally(day)
        if tally is None:
            tally = DayTally(day, equity, ZERO)
            self._store.save_day_tally(tally)
        self._adopt(tally)

    def book(self, ts_ms: int, pnl: Decimal) -> None:
        """Add a closed position's net P&L to the day it closed."""
        day = ts_ms // DAY_MS
        tally = self._store.day_tally(day) or DayTally(
            day, self.start_equity + self.realized, ZERO
        )
        tally = DayTally(day, tally.start_equity, tally.realized + pnl)
        self._store.save_day_tally(tally)
        if day >= self.day:
            self._adopt(tally)

    def _adopt(self, tally: DayTally) -> None:
        self.day = tally.day
        self.start_equity = tally.start_equity
        self.realized = tally.realized
