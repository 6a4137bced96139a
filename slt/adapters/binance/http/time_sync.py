"""The offset between the server's clock and ours, for the `timestamp` of signed requests.

One sample is `serverTime - midpoint of (sent, received)`: the server read its clock somewhere
in the round trip, and the midpoint halves the error. Several samples are taken and the median
kept, so one slow round trip (a GC pause, a retransmit) cannot skew the offset. The offset is
refreshed lazily, before the first signed request after `refresh_ms`, and at once after a -1021.
Time is read only from the Clock port.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Awaitable, Callable

from slt.ports.clock import Clock

log = logging.getLogger(__name__)


class TimeSync:
    def __init__(
        self,
        clock: Clock,
        fetch_server_time: Callable[[], Awaitable[int]],
        *,
        samples: int = 5,
        refresh_ms: int = 30 * 60_000,
    ) -> None:
        if samples < 1:
            raise ValueError("time sync needs at least one sample")
        self._clock = clock
        self._fetch = fetch_server_time
        self._samples = samples
        self._refresh_ms = refresh_ms
        self._offset_ms = 0
        self._synced_at: int | None = None
        self._running: asyncio.Future[None] | None = None

    @property
    def offset_ms(self) -> int:
        """Server time minus local time, in ms (0 until the first sync)."""
        return self._offset_ms

    @property
    def synced(self) -> bool:
        return self._synced_at is not None

    def server_now_ms(self) -> int:
        return self._clock.now_ms() + self._offset_ms

    async def ensure_fresh(self) -> None:
        """Sync before the first signed request; afterwards refresh an old offset in the
        background. A request (an exit, say) never waits for a refresh: the offset drifts by
        milliseconds per hour, and the time requests may themselves be held back by the rate
        limiter for up to a minute."""
        if self._synced_at is None:
            await self.sync()
        elif self._clock.now_ms() - self._synced_at >= self._refresh_ms:
            self.refresh_in_background()

    def refresh_in_background(self) -> None:
        """Start a sync unless one is running; a failure is logged and retried next time."""
        if self._running is None:
            self._clock.spawn(self._quiet_sync(), name="time-sync")

    async def _quiet_sync(self) -> None:
        try:
            await self.sync()
        except Exception as exc:  # a failed refresh keeps the previous offset
            log.warning("server time refresh failed: %s", exc)

    async def sync(self) -> None:
        """Measure the offset now. Concurrent callers share one measurement."""
        if self._running is not None:
            await asyncio.shield(self._running)
            return
        self._running = asyncio.get_running_loop().create_future()
        try:
            offsets = [await self._sample() for _ in range(self._samples)]
        except BaseException as exc:
            self._finish(exc)
            raise
        previous, self._offset_ms = self._offset_ms, round(statistics.median(offsets))
        self._synced_at = self._clock.now_ms()
        log.debug("server time offset %+d ms (was %+d, samples %s)", self._offset_ms, previous,
                  offsets)
        self._finish(None)

    async def _sample(self) -> float:
        sent = self._clock.now_ms()
        server = await self._fetch()
        received = self._clock.now_ms()
        return server - (sent + received) / 2

    def _finish(self, exc: BaseException | None) -> None:
        running, self._running = self._running, None
        if running is None or running.done():
            return
        if exc is None:
            running.set_result(None)
        elif isinstance(exc, asyncio.CancelledError):
            running.cancel()
        else:
            running.set_exception(exc)
            running.exception()  # retrieved here: the waiters re-raise it, if there are any
