"""What the exchange says about the account besides fills: the truth a position converges to.

Binance sends these on the user stream (ACCOUNT_UPDATE, ALGO_UPDATE) and answers them on REST
(positionRisk, openAlgoOrders, income); the fake exchange emits the same values. Adapters decode
their wire formats into these; the PositionController consumes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """The exchange's position amount for a symbol (one-way mode), after `cause` changed it.

    `cause` is ACCOUNT_UPDATE's reason `m` (ORDER, FUNDING_FEE, ADJUSTMENT, ...), or SNAPSHOT for
    a REST read. Liquidations and ADL are told by the fills' client ids, not here.
    """

    symbol: str
    amount: Decimal  # signed: negative is short, 0 is flat
    entry_price: Decimal
    cause: str
    ts_ms: int


class AlgoStatus(StrEnum):
    NEW = "NEW"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def protects(self) -> bool:
        """The conditional order still stands (or has fired into a matching-engine order)."""
        return self in (AlgoStatus.NEW, AlgoStatus.TRIGGERING, AlgoStatus.TRIGGERED)


@dataclass(frozen=True, slots=True)
class AlgoOrderUpdate:
    """A conditional (algo) order changed state; `reason` is Binance's `rm` when it failed."""

    client_algo_id: str
    symbol: str
    status: AlgoStatus
    reason: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """Money that moved outside a fill: funding fees, adjustments, insurance clear.

    `amount` is the signed change in `asset` (Binance's `bc`, or an income row's `income`).
    """

    asset: str
    amount: Decimal
    kind: str  # FUNDING_FEE, ADJUSTMENT, ...
    symbol: str  # "" when the exchange does not name one
    ts_ms: int


AccountEvent = PositionUpdate | AlgoOrderUpdate | BalanceChange
AccountListener = Callable[[AccountEvent], None]
