"""Discrete-event clock: time jumps to the next market event or timer; nothing really sleeps."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Coroutine
from typing import Any

from slt.ports.clock import Clock

log = logging.getLogger(__name__)

NEVER = 2**62


class SimulatedClock(Clock):
    """Time is set by the simulation driver, which alternates between

    - `advance(ts)`: move time forward to a market event's timestamp;
    - `fire_due()`: wake every task whose timer is due at the earliest pending time;
    - `settle()`: let woken tasks run until each is idle again (sleeping on this clock or done).

    It counts supervised tasks that are awake; time may only advance when that count is zero,
    which is what makes a simulation deterministic. A supervised task must therefore wait only
    on this clock (or finish): waiting on anything else keeps `settle` spinning.
    """

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms
        self._timers: list[tuple[int, int, asyncio.Future[None], bool]] = []
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
        """Jump to the earliest timer and wake every task due then; return the new time."""
        due = self.next_due_ms
        if due == NEVER:
            return self._now
        self.advance(due)
        timers = self._timers
        while timers and timers[0][0] <= self._now:
            _, _, fut, supervised = heapq.heappop(timers)
            if not fut.done():
                fut.set_result(None)
                if supervised:
                    self.awake += 1
        return self._now

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
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        supervised = asyncio.current_task() in self._supervised
        heapq.heappush(self._timers, (ts_ms, self._seq, fut, supervised))
        self._seq += 1
        if supervised:
            self.awake -= 1
        try:
            await fut
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
