"""Every exchange call through the circuit breaker, with its priority.

Wraps any OrderGateway. Exits, cancels, order queries and position reads are CRITICAL and pass
at every level except during an IP ban; entries (HIGH) are refused when the breaker holds them
back, since a late entry is a different trade; data requests (NORMAL/LOW) wait out a throttle.
Transport failures feed the breaker; business rejections count as successes (the exchange
answered). Every level change is persisted to the store and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slt.domain.account_events import AccountListener
from slt.domain.breaker import CircuitBreaker
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
from slt.ports.store import BreakerEvent, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WAIT_MS = 60_000  # a data request held back longer than this fails instead of waiting


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
        self._clock = clock
        self._store = store
        self._on_level_change = on_level_change

    async def _call(self, priority: Priority, call: Callable[[], Awaitable[T]]) -> T:
        while True:
            admission = self.breaker.admit(priority, self._clock.now_ms())
            if admission.allowed:
                break
            waits = priority in (Priority.LOW, Priority.NORMAL)
            if not waits or admission.delay_ms > MAX_WAIT_MS:
                self._persist()
                raise GatewayUnavailable(f"{priority} request held back: {admission.reason}")
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
        for event in self.breaker.drain_events():
            log.warning("circuit breaker %s -> %s: %s", event.source, event.target, event.cause)
            record = BreakerEvent(event.ts_ms, str(event.source), str(event.target), event.cause)
            self._store.add_breaker_event(record)
            if self._on_level_change is not None:
                self._on_level_change(record)

    async def place(self, order: OrderRequest) -> OrderState:
        return await self._call(order.priority, lambda: self._inner.place(order))

    async def cancel(self, symbol: str, client_id: str) -> OrderState:
        return await self._call(Priority.CRITICAL, lambda: self._inner.cancel(symbol, client_id))

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        return await self._call(Priority.CRITICAL, lambda: self._inner.query(symbol, client_id))

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
