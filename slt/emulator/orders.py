"""Orders as the emulator shows them on the wire: Binance's ids, types and statuses.

The FakeExchange decides what happens to an order; these records add what Binance reports and
the engine does not keep (integer ids, time in force, request times, algo ids and states).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from slt.domain.orders import OrderStatus
from slt.domain.values import Side

ZERO = Decimal(0)


class AlgoStatus(StrEnum):
    NEW = "NEW"
    CANCELED = "CANCELED"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self is AlgoStatus.NEW


class ExpiryReason:
    """ORDER_TRADE_UPDATE `er` values the emulator produces (BINANCE.md §8)."""

    NONE = 0
    IOC_REMAINDER = 2
    REDUCE_ONLY_KNOCKED_OUT = 4


@dataclass(slots=True, eq=False)
class WireOrder:
    """A matching-engine order. `type` is what executes (MARKET for a triggered stop),
    `orig_type` what was asked for (Binance's `ot`)."""

    order_id: int
    client_id: str
    symbol: str
    side: Side
    type: str
    orig_type: str
    time_in_force: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    reduce_only: bool
    close_position: bool
    time_ms: int
    update_ms: int
    status: OrderStatus = OrderStatus.NEW
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    expiry_reason: int = ExpiryReason.NONE
    # The engine knows a modified order under a new id (its old one is spent); "" = client_id.
    engine_client_id: str = ""

    @property
    def engine_key(self) -> str:
        return self.engine_client_id or self.client_id

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO


@dataclass(slots=True, eq=False)
class AlgoOrder:
    """A conditional order held by the algo service until it triggers.

    `engine_id` is the FakeExchange's id for it; it becomes the triggered order's `orderId`
    (Binance's `actualOrderId`), so no id is ever reused.
    """

    algo_id: int
    client_algo_id: str
    engine_id: int
    symbol: str
    side: Side
    order_type: str
    qty: Decimal
    trigger_price: Decimal
    working_type: str
    time_in_force: str
    reduce_only: bool
    close_position: bool
    price_protect: bool
    create_ms: int
    update_ms: int
    status: AlgoStatus = AlgoStatus.NEW
    trigger_ms: int = 0
    actual_order: WireOrder | None = None
    reason: str = ""
