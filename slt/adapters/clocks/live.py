"""Wall-clock time for live and paper trading."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from slt.ports.clock import Clock

log = logging.getLogger(__name__)


class LiveClock(Clock):
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, ts_ms: int) -> None:
        delay = ts_ms - self.now_ms()
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        # The loop keeps only weak references to tasks: hold them until they finish.
        self._tasks.add(task)
        task.add_done_callback(self._on_done)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())
