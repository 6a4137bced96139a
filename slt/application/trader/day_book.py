"""The figures behind the daily loss limit and the drawdown stop: the day's equity at 00:00 UTC,
the net P&L closed since, and the highest equity seen. Kept in the store, so that a restart
resumes them instead of starting the day (and the peak) afresh.

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
        self.peak_equity = ZERO
        latest = store.day_tally()
        if latest is not None:
            self.peak_equity = latest.peak_equity
            if latest.day == now_ms // DAY_MS:
                self._adopt(latest)

    def due(self, now_ms: int) -> bool:
        """True when `now_ms` is in a day not rolled yet: call `roll` with the equity."""
        return now_ms // DAY_MS != self.day

    def roll(self, now_ms: int, equity: Decimal) -> None:
        day = now_ms // DAY_MS
        tally = self._store.day_tally(day)
        if tally is None:
            tally = DayTally(day, equity, ZERO, max(self.peak_equity, equity))
            self._store.save_day_tally(tally)
        self._adopt(tally)

    def book(self, ts_ms: int, pnl: Decimal) -> None:
        """Add a closed position's net P&L to the day it closed."""
        day = ts_ms // DAY_MS
        tally = self._store.day_tally(day) or DayTally(
            day, self.start_equity + self.realized, ZERO, self.peak_equity
        )
        tally = DayTally(day, tally.start_equity, tally.realized + pnl, tally.peak_equity)
        self._store.save_day_tally(tally)
        if day >= self.day:
            self._adopt(tally)

    def observe(self, equity: Decimal) -> None:
        """A new equity reading: the peak only ever rises (saved when it does)."""
        if equity > self.peak_equity and self.day >= 0:
            self.peak_equity = equity
            self._store.save_day_tally(
                DayTally(self.day, self.start_equity, self.realized, equity)
            )

    def _adopt(self, tally: DayTally) -> None:
        self.day = tally.day
        self.start_equity = tally.start_equity
        self.realized = tally.realized
        self.peak_equity = max(self.peak_equity, tally.peak_equity)
