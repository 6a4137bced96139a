"""Discrete-event clock: time jumps to the next market event or timer; nothing really sleeps."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from slt.ports.clock import SteppedClock

log = logging.getLogger(__name__)

NEVER = 2**62

Due = Callable[[int], bool]
# A timer: (time, sequence, future, supervised, period, due). `due` None: a plain sleep. Otherwise
# a periodic wait (`sleep_until_due`) that is checked, and moved on by `period` when not due,
# without waking its task. The sequence number alone orders equal times, so the rest is never
# compared.
_Timer = tuple[int, int, "asyncio.Future[int]", bool, int, Due | None]


class SimulatedClock(SteppedClock):
    """Time is set by the simulation driver, which alternates between

    - `advance(ts)`: move time forward to a market event's timestamp;
    - `fire_due()`: wake every task whose timer is due at the earliest pending time;
    - `settle()`: let woken tasks run until each is idle again (sleeping on this clock or done).

    It counts supervised tasks that are awake; time may only advance when that count is zero,
    which is what makes a simulation deterministic. A supervised task must therefore wait only
    on this clock (or finish): waiting on anything else keeps `settle` spinning.

    Timers due at the same time wake in the order they were set. A periodic wait's `due` is
    asked when its turn comes, after the tasks woken before it at that time have run, so it
    sees what its task would have seen.
    """

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms
        self._timers: list[_Timer] = []
        self._seq = 0
        self.awake = 0
        self._supervised: set[asyncio.Task[Any]] = set()

    def now_ms(self) -> int:
        return self._now

    @property
    def next_due_ms(self) -> int:
        timers = self._timers
        while timers and timers[0][2].done():  # dropped by cancellation
            heapq.heappop(timers)
        return timers[0][0] if timers else NEVER

    def advance(self, ts_ms: int) -> None:
        if ts_ms > self._now:
            self._now = ts_ms

    def fire_due(self) -> int:
        """Jump to the earliest timer and wake every task due then; return the new time.

        A periodic wait that is not due moves on to its next slot without waking its task. One
        whose turn comes after a task woken at this time is left for the next call, made once
        that task is idle (`run_until` does that), so it is checked in the state its task would
        have found.
        """
        due = self.next_due_ms
        if due == NEVER:
            return self._now
        self.advance(due)
        now = self._now
        timers = self._timers
        woke = False
        while timers and timers[0][0] <= now:
            check = timers[0][5]
            if check is not None and woke:
                break
            ts, _, fut, supervised, period, _ = heapq.heappop(timers)
            if fut.done():
                continue
            if check is not None and not check(ts):
                heapq.heappush(timers, (ts + period, self._seq, fut, supervised, period, check))
                self._seq += 1
                continue
            fut.set_result(ts)
            woke = True
            if supervised:
                self.awake += 1
        return now

    async def settle(self) -> None:
        spins = 0
        while self.awake > 0:
            spins += 1
            # A task that legitimately waits on a thread (model training) would make a pure
            # sleep(0) loop burn a core; back off to short real sleeps after a while.
            await asyncio.sleep(0 if spins < 1000 else 0.001)

    async def sleep_until(self, ts_ms: int) -> None:
        if ts_ms <= self._now:
            return
        await self._wait(ts_ms, 0, None)

    async def sleep_until_due(self, ts_ms: int, period_ms: int, due: Due) -> int:
        while ts_ms <= self._now:
            if due(ts_ms):
                return ts_ms
            ts_ms += period_ms
        return await self._wait(ts_ms, period_ms, due)

    async def _wait(self, ts_ms: int, period_ms: int, due: Due | None) -> int:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        supervised = asyncio.current_task() in self._supervised
        heapq.heappush(self._timers, (ts_ms, self._seq, fut, supervised, period_ms, due))
        self._seq += 1
        if supervised:
            self.awake -= 1
        try:
            return await fut
        except asyncio.CancelledError:
            if supervised and fut.cancelled():
                self.awake += 1  # woken by the cancellation, not by a timer
            raise

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._supervised.add(task)
        self.awake += 1
        task.add_done_callback(self._on_done)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._supervised.discard(task)
        self.awake -= 1
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())
