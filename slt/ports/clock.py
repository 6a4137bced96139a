"""Clock port: the only source of time and the only way to wait."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any


class Clock(ABC):
    """Wall time in live trading, discrete-event time in simulation.

    Every coroutine of the bot is started with `spawn` and waits only with `sleep`/`sleep_until`:
    a simulated clock may then advance time exactly when every task is idle, so the same
    coroutines run live and simulated.
    """

    @abstractmethod
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch (UTC)."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)

    @abstractmethod
    async def sleep_until(self, ts_ms: int) -> None:
        """Return at `ts_ms` (at once if it has passed)."""

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.now_ms() + round(seconds * 1000))

    async def sleep_until_due(
        self, ts_ms: int, period_ms: int, due: Callable[[int], bool]
    ) -> int:
        """Return at the first of `ts_ms`, `ts_ms + period_ms`, ... for which `due(slot)` is
        true, and return that slot.

        For periodic work that mostly has nothing to do: `due` must be cheap and without side
        effects. A simulated clock asks it without waking the waiting task, which is where
        most of a simulation's time went.
        """
        slot = ts_ms
        while True:
            await self.sleep_until(slot)
            if due(slot):
                return slot
            slot += period_ms

    @abstractmethod
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as a task that this clock supervises."""


class SteppedClock(Clock, ABC):
    """A clock whose time moves only when told: the simulation drives it from the replayed
    quotes' timestamps (SimulatedClock)."""

    awake: int  # supervised tasks that are running; time may advance only at zero

    @property
    @abstractmethod
    def next_due_ms(self) -> int:
        """When the earliest timer is due."""

    @abstractmethod
    def advance(self, ts_ms: int) -> None:
        """Move time forward to `ts_ms` (never back) without waking anything."""

    @abstractmethod
    def fire_due(self) -> int:
        """Jump to the earliest timer and wake every task due then; return the new time."""

    @abstractmethod
    async def settle(self) -> None:
        """Return once every supervised task is idle again."""
