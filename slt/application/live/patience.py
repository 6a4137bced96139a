"""Start-up waits out an exchange that is busy, rate-limiting or banning us, and says so.

A 429, a 418 ban, a 5xx or a refused connection at start-up is not a reason to exit (a
supervisor restarting the bot would only hammer the exchange harder): the step is retried after
what the exchange asked for (Retry-After, the ban's end), else after a jittered exponential
backoff capped at `cap_ms`. Each wait is printed with the instant it ends, and the resumption
too. Only what retrying cannot fix ends start-up: refused credentials (AuthError), a path the
venue does not serve (a wrong URL), a business refusal, or the caller's own StartupRefused.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from slt.ports.clock import Clock
from slt.ports.order_gateway import ExchangeDown, GatewayUnavailable

T = TypeVar("T")

FIRST_BACKOFF_MS = 1_000


@dataclass(frozen=True, slots=True)
class Patience:
    clock: Clock
    rng: random.Random
    say: Callable[[str], None]
    cap_ms: int
    holds_until: Callable[[], int]  # the latest ban / Retry-After end the bot knows of
    stop: asyncio.Event

    async def run(self, what: str, step: Callable[[], Awaitable[T]]) -> T | None:
        """`step()`'s result, retried through transient refusals; None if `stop` was set
        while waiting."""
        attempt = 0
        while True:
            try:
                result = await step()
            except (ExchangeDown, GatewayUnavailable) as exc:
                attempt += 1
                until = self._resume_at(exc, attempt)
                self.say(
                    f"start-up: {what}: {exc}; waiting until {_utc(until)} "
                    f"({(until - self.clock.now_ms()) / 1000:.1f} s), attempt {attempt}"
                )
                if not await self._sleep_until(until):
                    return None
                continue
            if attempt:
                self.say(f"start-up: {what}: resumed after {attempt} refused attempts")
            return result

    def _resume_at(self, exc: Exception, attempt: int) -> int:
        now = self.clock.now_ms()
        backoff = min(self.cap_ms, FIRST_BACKOFF_MS << min(attempt - 1, 20))
        # Full jitter over the upper half: many bots restarted together do not come back as one.
        wait = round(backoff * (0.5 + self.rng.random() / 2))
        if isinstance(exc, ExchangeDown) and exc.retry_after_ms is not None:
            wait = max(wait, exc.retry_after_ms)
        held = self.holds_until()
        if isinstance(exc, ExchangeDown) and exc.ban_until_ms is not None:
            held = max(held, exc.ban_until_ms)
        return max(now + wait, held + self.rng.randrange(0, FIRST_BACKOFF_MS))

    async def _sleep_until(self, until_ms: int) -> bool:
        """False if `stop` was set first."""
        stopped = asyncio.ensure_future(self.stop.wait())
        sleeping = asyncio.ensure_future(self.clock.sleep_until(until_ms))
        await asyncio.wait((stopped, sleeping), return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, sleeping):
            task.cancel()
        return not self.stop.is_set()


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S UTC")
