"""Store port: durable state, so a restart resumes where the bot stopped."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slt.domain.orders import Fill, OrderRequest, OrderState


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A closed position. `pnl` is net of `fees`."""

    position_id: int
    symbol: str
    side: str  # LONG or SHORT
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    pnl: Decimal
    open_ms: int
    close_ms: int
    exit_reason: str


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    ts_ms: int
    source: str
    target: str
    cause: str


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The breaker's level and the exchange's holds (absolute instants, 0 for none) as last
    persisted: what a restart resumes, so that it does not hammer an exchange that banned it."""

    level: str
    ban_until_ms: int
    retry_until_ms: int
    ts_ms: int


class Store(ABC):
    @abstractmethod
    def next_position_id(self) -> int:
        """A position id never handed out before, also across restarts."""

    @abstractmethod
    def save_position(self, record: dict[str, Any]) -> None:
        """Insert or replace a position by its `id` (a flat dict of the Position's fields)."""

    @abstractmethod
    def open_positions(self) -> list[dict[str, Any]]:
        """Positions not in a final state, as saved."""

    @abstractmethod
    def save_order(self, position_id: int, purpose: str, order: OrderRequest) -> None:
        """Record an order before it is sent."""

    @abstractmethod
    def update_order(self, state: OrderState) -> None:
        """Record what the exchange said about an order."""

    @abstractmethod
    def orders(self, position_id: int) -> list[dict[str, Any]]:
        """A position's orders, oldest first."""

    @abstractmethod
    def add_fill(self, fill: Fill) -> bool:
        """Record a fill; False if this (symbol, trade id) was recorded before."""

    @abstractmethod
    def add_trade(self, trade: TradeRecord) -> None: ...

    @abstractmethod
    def trades(self) -> list[TradeRecord]:
        """Closed trades in closing order."""

    @abstractmethod
    def add_breaker_event(self, event: BreakerEvent) -> None: ...

    @abstractmethod
    def breaker_events(self, since_ms: int = 0) -> list[BreakerEvent]: ...

    @abstractmethod
    def save_breaker_state(self, state: BreakerState) -> None:
        """Replace the persisted breaker state."""

    @abstractmethod
    def breaker_state(self) -> BreakerState | None:
        """The last saved breaker state; None if none was ever saved."""

    @abstractmethod
    def add_samples(self, samples: Iterable[dict[str, Any]]) -> None:
        """Learning samples: a feature vector recorded at decision time and its outcome."""

    @abstractmethod
    def samples(self) -> list[dict[str, Any]]: ...
