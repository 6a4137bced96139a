"""OrderGateway port: orders, positions and account state at an exchange."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from slt.domain.account_events import AccountListener
from slt.domain.breaker import FailureKind
from slt.domain.filters import SymbolFilters
from slt.domain.orders import Fill, OrderRequest, OrderState
from slt.domain.values import Balance, ExchangePosition

FillListener = Callable[[Fill], None]


class GatewayError(Exception):
    """Base of everything an OrderGateway raises."""

    # What the circuit breaker counts this as; None: not a sign of a degraded connection.
    failure: FailureKind | None = None


class OrderRejected(GatewayError):
    """The exchange refused the order for a business reason (margin, filters, unknown order).

    Such a refusal is final for that request and says nothing about the connection's health.
    `code` is Binance's error code for the case.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OrderOutcomeUnknown(GatewayError):
    """The request may or may not have reached the exchange (timeout, disconnect, 503 unknown).

    The caller must query the order by its client id before doing anything else with it.
    """

    failure = FailureKind.TIMEOUT


class ExchangeDown(GatewayError):
    """The exchange could not be reached or refused to serve (network, 5xx, 429, 418, -1003).

    Nothing was executed. `retry_after_ms` (a duration) and `ban_until_ms` (an instant) carry
    what the exchange said about when to come back.
    """

    def __init__(
        self,
        failure: FailureKind,
        message: str,
        *,
        retry_after_ms: int | None = None,
        ban_until_ms: int | None = None,
    ) -> None:
        super().__init__(f"{failure}: {message}")
        self.failure = failure
        self.retry_after_ms = retry_after_ms
        self.ban_until_ms = ban_until_ms


class GatewayUnavailable(GatewayError):
    """The request was not sent: the circuit breaker or the rate limiter holds it back.

    `retry_at_ms` (a clock instant), when known, is when the hold ends (an IP ban's end, a
    Retry-After, the next cool-down step): asking earlier is refused again.
    """

    def __init__(self, message: str, *, retry_at_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_at_ms = retry_at_ms


class OrderGateway(ABC):
    @abstractmethod
    async def place(self, order: OrderRequest) -> OrderState:
        """Send `order`. Raises OrderRejected, OrderOutcomeUnknown or GatewayUnavailable."""

    @abstractmethod
    async def cancel(self, symbol: str, client_id: str) -> OrderState:
        """Cancel an open order. OrderRejected(-2011) if it is unknown or already final."""

    @abstractmethod
    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        """The order with this client id, or None if the exchange never received it."""

    @abstractmethod
    async def orders_since(self, symbol: str, since_ms: int) -> list[OrderState]:
        """`symbol`'s orders placed at or after `since_ms` (within the last week), oldest
        first: every client's, the exchange's own liquidation and ADL orders too (what explains
        a position gone flat while the stream was away)."""

    @abstractmethod
    async def positions(self) -> list[ExchangePosition]:
        """Every non-flat position."""

    @abstractmethod
    async def balance(self) -> Balance:
        """USDT wallet of the futures account."""

    @abstractmethod
    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set and return the symbol's leverage."""

    @abstractmethod
    async def symbol_filters(self) -> dict[str, SymbolFilters]:
        """Trading rules of every tradable symbol."""

    @abstractmethod
    def add_fill_listener(self, listener: FillListener) -> None:
        """Call `listener` with every execution of this account's orders, in order, once each."""

    @abstractmethod
    def add_account_listener(self, listener: AccountListener) -> None:
        """Call `listener` with every account event (position amounts, conditional orders'
        states, balance changes outside fills), in order."""
