"""Every exchange call through the circuit breaker, with its priority.

`BreakerGuard` runs one call: exits, cancels, order queries and position reads are CRITICAL and
pass at every level except during an IP ban; entries (HIGH) are refused when the breaker holds
them back, since a late entry is a different trade; data requests (NORMAL/LOW) wait out a
throttle. Transport failures feed the breaker; business rejections and answers that say nothing
about the connection count as successes (the exchange answered). Every level change is logged
and persisted to the store, and so are the level and the exchange's holds (Retry-After, ban)
whenever they change, for `restore_breaker` to resume after a restart.

The Binance HTTP client runs every request through a guard (so history, listenKey, open-orders
and exchangeInfo requests are admitted too); `GuardedGateway` wraps any OrderGateway whose
calls are not guarded already (the fake exchange of paper trading and simulation).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slt.domain.account_events import AccountListener
from slt.domain.breaker import BreakerLevel, CircuitBreaker
from slt.domain.filters import SymbolFilters
from slt.domain.orders import OrderRequest, OrderState, Priority
from slt.domain.values import Balance, ExchangePosition
from slt.ports.clock import Clock
from slt.ports.order_gateway import (
    ExchangeDown,
    FillListener,
    GatewayError,
    GatewayUnavailable,
    OrderGateway,
)
from slt.ports.store import BreakerEvent, BreakerState, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WAIT_MS = 60_000  # a data request held back longer than this fails instead of waiting


def restore_breaker(store: Store, now_ms: int) -> CircuitBreaker:
    """The breaker as it was persisted: a restart during a ban stays BLOCKED until the ban ends,
    and one during a Retry-After stays THROTTLED, instead of hammering the exchange."""
    state = store.breaker_state()
    if state is None:
        return CircuitBreaker()
    level = BreakerLevel(state.level)
    ban = state.ban_until_ms if state.ban_until_ms > now_ms else 0
    retry = state.retry_until_ms if state.retry_until_ms > now_ms else 0
    # A hold outlasting the saved level (saved by an older version) lifts it to what it needs.
    if ban:
        level = BreakerLevel.BLOCKED
    elif retry and level.rank < BreakerLevel.THROTTLED.rank:
        level = BreakerLevel.THROTTLED
    if level is not BreakerLevel.NORMAL or ban or retry:
        log.warning(
            "circuit breaker resumes at %s (IP ban until %d, Retry-After until %d)",
            level, ban, retry,
        )
    return CircuitBreaker.restore(level, now_ms, ban_until_ms=ban, retry_until_ms=retry)


class BreakerGuard:
    """Admission by priority before one exchange call, and its outcome recorded after."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        clock: Clock,
        store: Store,
        on_level_change: Callable[[BreakerEvent], None] | None = None,
    ) -> None:
        self.breaker = breaker
        self._clock = clock
        self._store = store
        self._on_level_change = on_level_change
        self._saved = (breaker.level, breaker.ban_until_ms, breaker.retry_until_ms)

    async def run(self, priority: Priority, call: Callable[[], Awaitable[T]]) -> T:
        while True:
            now = self._clock.now_ms()
            admission = self.breaker.admit(priority, now)
            if admission.allowed:
                break
            waits = priority in (Priority.LOW, Priority.NORMAL)
            if not waits or admission.delay_ms > MAX_WAIT_MS:
                self._persist()
                raise GatewayUnavailable(
                    f"{priority} request held back: {admission.reason}",
                    retry_at_ms=now + admission.delay_ms,
                )
            await self._clock.sleep(admission.delay_ms / 1000)
        try:
            result = await call()
        except GatewayError as exc:
            now = self._clock.now_ms()
            if exc.failure is None:
                self.breaker.record_success(now)
            elif isinstance(exc, ExchangeDown):
                self.breaker.record_failure(
                    exc.failure,
                    now,
                    retry_after_ms=exc.retry_after_ms,
                    ban_until_ms=exc.ban_until_ms,
                )
            else:
                self.breaker.record_failure(exc.failure, now)
            self._persist()
            raise
        self.breaker.record_success(self._clock.now_ms())
        self._persist()
        return result

    def _persist(self) -> None:
        breaker = self.breaker
        for event in breaker.drain_events():
            log.warning("circuit breaker %s -> %s: %s", event.source, event.target, event.cause)
            record = BreakerEvent(event.ts_ms, str(event.source), str(event.target), event.cause)
            self._store.add_breaker_event(record)
            if self._on_level_change is not None:
                self._on_level_change(record)
        current = (breaker.level, breaker.ban_until_ms, breaker.retry_until_ms)
        if current != self._saved:  # rare: the healthy path writes nothing
            self._saved = current
            level, ban, retry = current
            self._store.save_breaker_state(
                BreakerState(str(level), ban, retry, self._clock.now_ms())
            )


class GuardedGateway(OrderGateway):
    def __init__(
        self,
        inner: OrderGateway,
        breaker: CircuitBreaker,
        clock: Clock,
        store: Store,
        on_level_change: Callable[[BreakerEvent], None] | None = None,
    ) -> None:
        self._inner = inner
        self.breaker = breaker
        self._guard = BreakerGuard(breaker, clock, store, on_level_change)

    def _call(self, priority: Priority, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return self._guard.run(priority, call)

    async def place(self, order: OrderRequest) -> OrderState:
        return await self._call(order.priority, lambda: self._inner.place(order))

    async def cancel(self, symbol: str, client_id: str) -> OrderState:
        return await self._call(Priority.CRITICAL, lambda: self._inner.cancel(symbol, client_id))

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        return await self._call(Priority.CRITICAL, lambda: self._inner.query(symbol, client_id))

    async def orders_since(self, symbol: str, since_ms: int) -> list[OrderState]:
        return await self._call(
            Priority.CRITICAL, lambda: self._inner.orders_since(symbol, since_ms)
        )

    async def positions(self) -> list[ExchangePosition]:
        return await self._call(Priority.CRITICAL, self._inner.positions)

    async def balance(self) -> Balance:
        return await self._call(Priority.NORMAL, self._inner.balance)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        return await self._call(Priority.HIGH, lambda: self._inner.set_leverage(symbol, leverage))

    async def symbol_filters(self) -> dict[str, SymbolFilters]:
        return await self._call(Priority.NORMAL, self._inner.symbol_filters)

    def add_fill_listener(self, listener: FillListener) -> None:
        self._inner.add_fill_listener(listener)

    def add_account_listener(self, listener: AccountListener) -> None:
        self._inner.add_account_listener(listener)
