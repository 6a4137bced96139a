"""Orders, their states and fills, in exchange terms (Binance's names where it has one)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from slt.domain.values import Side


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    # Conditional types: Binance serves these through the algo-order API since 2025-12-09.
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"

    @property
    def is_conditional(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class Priority(StrEnum):
    """How much a request matters when the exchange connection is degraded (see breaker)."""

    LOW = "LOW"  # scans
    NORMAL = "NORMAL"  # market data
    HIGH = "HIGH"  # entries
    CRITICAL = "CRITICAL"  # exits, cancels, position reads


# Binance's liquidation engine closes a position with orders whose client id starts so.
LIQUIDATION_CLIENT_PREFIX = "autoclose-"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to send. `client_id` is chosen (and persisted) before sending, so that an order
    whose acknowledgement was lost can be found again instead of being sent twice."""

    client_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    # A market exit's price-rule level (ExitDecision.level). Never sent: the simulated exchange
    # fills the exit there when the quotes are a kline's path, which went through it.
    reacts_to: Decimal | None = None

    @property
    def priority(self) -> Priority:
        return Priority.CRITICAL if self.reduce_only else Priority.HIGH


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the exchange says about one order."""

    client_id: str
    symbol: str
    status: OrderStatus
    filled_qty: Decimal
    avg_price: Decimal
    exchange_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution, shaped after the user-data stream's ORDER_TRADE_UPDATE trade fields.

    `fee` is in `fee_asset`: USDT, unless the exchange charged another asset (BNB with the fee
    discount) and it could not be converted. `realized_pnl` is gross of fees, as Binance reports
    `rp`. `exec_type` tells an ordinary execution (TRADE) from the exchange closing the position
    itself: LIQUIDATION, ADL (auto-deleveraging) or SETTLEMENT (delivery/delisting).
    """

    symbol: str
    client_id: str
    trade_id: int
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    ts_ms: int
    order_status: OrderStatus
    reduce_only: bool = False
    is_maker: bool = False
    exec_type: str = "TRADE"
    fee_asset: str = "USDT"
