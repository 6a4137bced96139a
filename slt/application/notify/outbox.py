"""Outbox: a bounded queue per notifier and a sender task, so that notifying never slows trading.

`publish` is synchronous and O(1): it appends the message's text and, if no sender is running,
starts one through the Clock port. When the queue is full the *oldest* message is dropped and
counted: the newest says most about the bot's state now. The sender delivers in order; a
retryable failure is retried after an exponential back-off slept on the Clock (so tests run it
on the simulated clock), at least as long as the service asked for; a message that still fails
after `max_attempts`, or is refused outright, is counted as failed and dropped.

The sender exits once the queue is empty rather than waiting on it: a task that waits on
anything but the clock would keep a simulated clock from ever advancing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from slt.application.notify.events import Notice
from slt.ports.clock import Clock
from slt.ports.notifier import Notifier, NotifyError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    first_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 60.0
    # A service asking for longer than this is not waited for: the news would be stale.
    max_asked_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if not 0 < self.first_delay_s <= self.max_delay_s or self.factor < 1:
            raise ValueError("RetryPolicy: need 0 < first_delay_s <= max_delay_s, factor >= 1")

    def delay_s(self, failures: int, asked_s: float | None) -> float | None:
        """Seconds to wait after the `failures`-th failure; None: give up."""
        if failures >= self.max_attempts:
            return None
        backoff = min(self.max_delay_s, self.first_delay_s * self.factor ** (failures - 1))
        if asked_s is None:
            return backoff
        return None if asked_s > self.max_asked_s else max(backoff, asked_s)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    name: str
    queued: int
    sent: int
    retries: int
    failed: int  # given up after retries, or refused
    dropped: int  # pushed out of a full queue unsent


class Outbox:
    def __init__(
        self,
        notifier: Notifier,
        clock: Clock,
        *,
        capacity: int = 100,
        policy: RetryPolicy | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("Outbox capacity must be at least 1")
        self._notifier = notifier
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._queue: deque[str] = deque()
        self._capacity = capacity
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.sent = self.retries = self.failed = self.dropped = 0

    @property
    def name(self) -> str:
        return self._notifier.name

    def start(self) -> None:
        """Begin sending (messages published before are queued, not lost). Needs a running
        event loop."""
        self._running = True
        self._wake()

    def publish(self, notice: Notice) -> None:
        """Queue a message; never blocks, never raises."""
        try:
            text = notice.text()
        except Exception:
            log.exception("cannot render %s", type(notice).__name__)
            return
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(text)
        self._wake()

    def stats(self) -> OutboxStats:
        return OutboxStats(
            self.name, len(self._queue), self.sent, self.retries, self.failed, self.dropped
        )

    @property
    def idle(self) -> bool:
        return not self._queue and (self._task is None or self._task.done())

    async def flush(self, within_s: float) -> None:
        """Wait until the queue is sent, or `within_s` seconds (on the Clock) have passed."""
        task = self._task
        if task is None or task.done() or within_s <= 0:
            return
        timer = self._clock.spawn(self._clock.sleep(within_s), name=f"flush-{self.name}")
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()

    async def close(self) -> None:
        """Stop sending (what is still queued is dropped and counted) and release the
        notifier's connections."""
        self._running = False
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.dropped += len(self._queue)
        self._queue.clear()
        await self._notifier.close()

    def _wake(self) -> None:
        if not self._running or not self._queue:
            return
        if self._task is not None and not self._task.done():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # published before the loop runs: `start` sends it
        self._task = self._clock.spawn(self._drain(), name=f"notify-{self.name}")

    async def _drain(self) -> None:
        while self._queue and self._running:
            try:
                await self._deliver(self._queue.popleft())
            except asyncio.CancelledError:
                self.dropped += 1  # closed while this one was on its way
                raise

    async def _deliver(self, text: str) -> None:
        failures = 0
        while True:
            try:
                await self._notifier.send(text)
            except NotifyError as exc:
                failures += 1
                wait = self._policy.delay_s(failures, exc.retry_after_s) if exc.retryable else None
                if wait is None:
                    self.failed += 1
                    log.warning(
                        "notification to %s dropped after %d attempt(s): %s",
                        self.name,
                        failures,
                        exc,
                    )
                    return
                self.retries += 1
                await self._clock.sleep(wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A bug in an adapter: its text may hold a URL with a token, so only the type.
                self.failed += 1
                log.error("notifier %s failed unexpectedly: %s", self.name, type(exc).__name__)
                return
            else:
                self.sent += 1
                return


class Notifications:
    """Every configured destination, each with its own Outbox, so that one slow or failing
    service never holds back another. With no destinations, publishing does nothing."""

    def __init__(self, outboxes: Iterable[Outbox] = ()) -> None:
        self.outboxes = tuple(outboxes)

    @classmethod
    def for_notifiers(
        cls,
        notifiers: Iterable[Notifier],
        clock: Clock,
        *,
        capacity: int = 100,
        policy: RetryPolicy | None = None,
    ) -> Notifications:
        return cls(Outbox(n, clock, capacity=capacity, policy=policy) for n in notifiers)

    def start(self) -> None:
        for outbox in self.outboxes:
            outbox.start()

    def publish(self, notice: Notice) -> None:
        for outbox in self.outboxes:
            outbox.publish(notice)

    def stats(self) -> tuple[OutboxStats, ...]:
        return tuple(outbox.stats() for outbox in self.outboxes)

    async def close(self, flush_s: float = 0.0) -> None:
        """Give the queued messages up to `flush_s` seconds to go out (all destinations at
        once), then stop; what is still queued is dropped and counted."""
        await asyncio.gather(*(outbox.flush(flush_s) for outbox in self.outboxes))
        for outbox in self.outboxes:
            await outbox.close()
