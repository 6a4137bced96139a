"""Runs each job at every multiple of its period (epoch-aligned, so a 1-day job runs at
00:00 UTC), live or simulated: it only ever waits on the Clock port.

A job that overruns its next slot skips the missed slots rather than bunching them: a trading
cycle decided late must not run twice on the same data.

A job may say when a run can change anything (`due`); its slots where nothing can are passed
over without running it (counted in `idle`). In simulation the clock asks `due` without waking
the job's task: most 10 s and 60 s slots have nothing to do, and waking a task is what cost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slt.ports.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """`due(slot)`: False only when running at `slot` would change nothing; cheap and without
    side effects. None: every slot runs."""

    name: str
    period_ms: int
    run: Callable[[int], Awaitable[None]]  # called with the slot's scheduled time
    due: Callable[[int], bool] | None = None

    def __post_init__(self) -> None:
        if self.period_ms <= 0:
            raise ValueError(f"job {self.name}: period must be positive")

    def next_slot(self, after_ms: int) -> int:
        return (after_ms // self.period_ms + 1) * self.period_ms


class UnifiedScheduler:
    # False runs every slot whatever the jobs' `due` say: the reference that skipping idle
    # slots must match byte for byte (see the simulation tests).
    skip_idle = True

    def __init__(self, clock: Clock, jobs: list[Job]) -> None:
        self._clock = clock
        self._jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []
        self.runs: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.idle: Counter[str] = Counter()

    def start(self) -> None:
        for job in self._jobs:
            self._tasks.append(self._clock.spawn(self._loop(job), name=f"job-{job.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _counted(self, job: Job) -> Callable[[int], bool]:
        """`job.due`, counting the slots it passes over as they pass (the task sleeps on)."""
        due, idle, name = job.due, self.idle, job.name
        assert due is not None

        def check(slot: int) -> bool:
            if due(slot):
                return True
            idle[name] += 1
            return False

        return check

    async def _loop(self, job: Job) -> None:
        slot = job.next_slot(self._clock.now_ms())
        due = None if job.due is None or not self.skip_idle else self._counted(job)
        while True:
            if due is None:
                await self._clock.sleep_until(slot)
            else:
                slot = await self._clock.sleep_until_due(slot, job.period_ms, due)
            try:
                await job.run(slot)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One failed cycle must not end the loop: the bot has to keep watching.
                self.failures[job.name] += 1
                log.exception("job %s failed at %d", job.name, slot)
            self.runs[job.name] += 1
            following = job.next_slot(slot)
            latest = job.next_slot(self._clock.now_ms() - 1)
            if latest > following:
                self.skipped[job.name] += (latest - following) // job.period_ms
                following = latest
            slot = following
