"""A weight-aware limiter for Binance's fixed-window pools, corrected by the server's headers.

Before a request, `acquire` reserves its cost in every pool it draws on (weights.Endpoint.costs).
If a pool's window has no room left:

* data requests, cancels and queries wait (through the Clock) for the window in which they fit,
  unless that is more than `max_wait_ms` away;
* order writes raise GatewayUnavailable at once: an entry sent late is a different trade, and
  the caller (not the transport) decides whether to try again.

After a response, `adopt` raises each pool's count to the server's (X-MBX-USED-WEIGHT-1M,
X-MBX-ORDER-COUNT-10S/-1M): weight is per IP, so other processes on the host spend it too, and
the server's count is the truth. A header only ever raises the local count: requests reserved
locally but not yet counted by the server would otherwise be forgotten.

When the exchange says to stop anyway (a 429 or -1003 with its Retry-After, a 418 ban), `back_off`
and `hold` keep every request that draws on the pools concerned back until then: the same waits
and refusals as a full window, so nothing is sent into a known refusal.

Windows follow the server's clock (local time + the time-sync offset), aligned to multiples of
the interval like Binance's, and start `margin_ms` late locally so that a request sent just
after a boundary cannot be counted by the server in the old window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from slt.adapters.binance.common.schemas import RateLimit
from slt.adapters.binance.common.weights import (
    DEFAULT_POOLS,
    RATE_LIMIT_POOLS,
    REQUEST_WEIGHT,
    Pool,
)
from slt.ports.clock import Clock
from slt.ports.order_gateway import GatewayUnavailable

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Window:
    start_ms: int = -1
    used: int = 0


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one request took: the window (start instant) of each pool it was counted in."""

    windows: Mapping[str, int]


class Limiter:
    def __init__(
        self,
        clock: Clock,
        pools: Iterable[Pool] = DEFAULT_POOLS,
        *,
        server_offset_ms: Callable[[], int] = lambda: 0,
        margin_ms: int = 250,
    ) -> None:
        self._clock = clock
        self._pools = {pool.name: pool for pool in pools}
        self._windows = {name: _Window() for name in self._pools}
        self._offset = server_offset_ms
        self._margin = margin_ms
        self._holds: dict[str, int] = dict.fromkeys(self._pools, 0)  # pool -> local instant
        # What this process has spent in each pool since it started (for reports/metrics).
        self.spent: dict[str, int] = dict.fromkeys(self._pools, 0)

    # -- reserving -------------------------------------------------------------------------

    async def acquire(self, costs: Mapping[str, int], *, max_wait_ms: int) -> Reservation:
        """Reserve `costs`, waiting at most `max_wait_ms` for room (0: never wait)."""
        while True:
            outcome = self.try_reserve(costs)
            if isinstance(outcome, Reservation):
                return outcome
            wait_ms = outcome - self._clock.now_ms()
            if wait_ms > max_wait_ms:
                held = self._held_until(costs)
                raise GatewayUnavailable(
                    f"Binance asked to wait (Retry-After or ban): requests resume in {wait_ms} ms"
                    if held
                    else f"Binance rate-limit budget exhausted ({self._describe(costs)}); "
                    f"room again in {wait_ms} ms",
                    retry_at_ms=outcome,
                )
            log.debug("rate limit: waiting %d ms for %s", wait_ms, self._describe(costs))
            await self._clock.sleep_until(outcome)

    def try_reserve(self, costs: Mapping[str, int]) -> Reservation | int:
        """Reserve `costs` now, or return the local instant at which to try again."""
        held = self._held_until(costs)
        if held:
            return held
        now = self._now()
        retry_at = 0
        for name, cost in costs.items():
            if cost <= 0:
                continue
            pool, window = self._pools[name], self._window(name, now)
            if cost > pool.limit:
                raise GatewayUnavailable(f"{name}: a cost of {cost} exceeds the limit {pool.limit}")
            if window.used + cost > pool.limit:
                retry_at = max(retry_at, window.start_ms + pool.interval_ms)
        if retry_at:
            return retry_at - self._offset() + self._margin
        for name, cost in costs.items():
            if cost > 0:
                self._windows[name].used += cost
                self.spent[name] += cost
        # Every pool, not only those charged: any response may report any pool's count.
        return Reservation({name: self._window(name, now).start_ms for name in self._pools})

    # -- correcting ------------------------------------------------------------------------

    def adopt(
        self, reservation: Reservation, headers: Mapping[str, str], *, trust_weight: bool = True
    ) -> None:
        """Raise local counts to the server's, for pools still in the reservation's window."""
        now = self._now()
        for name, pool in self._pools.items():
            if not trust_weight and name == REQUEST_WEIGHT:
                continue
            raw = headers.get(pool.header)
            if raw is None or not raw.isdigit():
                continue
            window = self._window(name, now)
            sent_in = reservation.windows.get(name, window.start_ms)
            if sent_in != window.start_ms:
                continue  # counted in a window that has since closed
            if int(raw) > window.used:
                window.used = int(raw)

    def back_off(self, costs: Mapping[str, int], retry_after_ms: int | None) -> None:
        """The exchange refused a request of `costs` for its rate (429, -1003, -1015): hold the
        pools it drew on for `retry_after_ms`, or, without one, count their windows as full."""
        pools = [name for name, cost in costs.items() if cost > 0]
        if retry_after_ms is not None:
            self._hold(pools, self._clock.now_ms() + retry_after_ms)
            return
        now = self._now()
        for name in pools:
            self._window(name, now).used = self._pools[name].limit

    def hold(self, until_ms: int) -> None:
        """Send nothing before local instant `until_ms` (an IP ban, or one restored at start)."""
        self._hold(list(self._pools), until_ms)

    def _hold(self, pools: Iterable[str], until_ms: int) -> None:
        for name in pools:
            if until_ms > self._holds[name]:
                self._holds[name] = until_ms
                log.warning("rate limit: %s held until %d", name, until_ms)

    def _held_until(self, costs: Mapping[str, int]) -> int:
        """The local instant the latest hold on `costs`' pools ends, or 0 if none holds now."""
        now = self._clock.now_ms()
        holds = self._holds
        until = max((holds[n] for n, cost in costs.items() if cost > 0), default=0)
        return until if until > now else 0

    def set_limits(self, rate_limits: Iterable[RateLimit]) -> None:
        """Adopt the account's limits from exchangeInfo.rateLimits (VIP tiers raise them)."""
        for r in rate_limits:
            name = RATE_LIMIT_POOLS.get((r.rateLimitType, r.interval, r.intervalNum))
            if name is not None and r.limit > 0 and r.limit != self._pools[name].limit:
                log.info("rate limit %s: %d -> %d", name, self._pools[name].limit, r.limit)
                self._pools[name] = replace(self._pools[name], limit=r.limit)

    # -- inspection ------------------------------------------------------------------------

    def used(self, name: str) -> int:
        return self._window(name, self._now()).used

    def limit(self, name: str) -> int:
        return self._pools[name].limit

    def _now(self) -> int:
        """Server time, shifted so local windows open `margin_ms` after the server's."""
        return self._clock.now_ms() + self._offset() - self._margin

    def _window(self, name: str, now: int) -> _Window:
        window, interval = self._windows[name], self._pools[name].interval_ms
        start = now - now % interval
        if start != window.start_ms:
            window.start_ms, window.used = start, 0
        return window

    def _describe(self, costs: Mapping[str, int]) -> str:
        return ", ".join(
            f"{name} {self.used(name)}+{cost}/{self._pools[name].limit}"
            for name, cost in costs.items()
            if cost > 0
        )
