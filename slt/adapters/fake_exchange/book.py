"""Orders as the fake exchange holds them, and the working ones indexed for the quote hot path.

Every working order reduces to "fire when bid/ask crosses a level one way". A symbol's working
orders fold into four float thresholds, so deciding that a quote fires nothing costs four float
comparisons and no Decimal work. Comparing the quote's float with `float(level)` agrees exactly
with comparing `Decimal(repr(quote))` with the Decimal level for prices of at most 15 significant
digits (every tick-grid price): both round-trip through the same float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from slt.domain.orders import OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.values import Side

ZERO = Decimal(0)
INF = float("inf")

Thresholds = tuple[float, float, float, float]
"""(fire if bid <= a, fire if bid >= b, fire if ask >= c, fire if ask <= d)."""

NEVER: Thresholds = (-INF, INF, INF, -INF)


@dataclass(slots=True, eq=False)
class SimOrder:
    """One order's mutable life at the exchange. `qty` shrinks when a reduce-only order is cut
    to the position it closes, so FILLED always means filled_qty == qty."""

    request: OrderRequest
    exchange_id: str
    qty: Decimal
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO
    reason: str = ""
    fires_at: Thresholds = NEVER
    placed_ms: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    def fires(self, bid: float, ask: float) -> bool:
        return crosses(self.fires_at, bid, ask)

    def record_fill(self, qty: Decimal, price: Decimal) -> None:
        self.filled_qty += qty
        self.filled_notional += qty * price
        filled = self.filled_qty == self.qty
        self.status = OrderStatus.FILLED if filled else OrderStatus.PARTIALLY_FILLED

    def state(self) -> OrderState:
        req = self.request
        avg = self.filled_notional / self.filled_qty if self.filled_qty else ZERO
        return OrderState(
            client_id=req.client_id,
            symbol=req.symbol,
            status=self.status,
            filled_qty=self.filled_qty,
            avg_price=avg,
            exchange_id=self.exchange_id,
            reason=self.reason,
        )


def crosses(at: Thresholds, bid: float, ask: float) -> bool:
    """True if the quote reaches a threshold (FakeExchange.on_quote inlines the same test)."""
    return bid <= at[0] or bid >= at[1] or ask >= at[2] or ask <= at[3]


def fires_at(req: OrderRequest) -> Thresholds:
    """The thresholds at which a working order fires (NEVER for MARKET orders)."""
    level = req.stop_price if req.type.is_conditional else req.price
    slot = _SLOT.get((req.type, req.side))
    if slot is None or level is None:
        return NEVER
    out = list(NEVER)
    out[slot] = float(level)
    return (out[0], out[1], out[2], out[3])


class WorkingBook:
    """Working orders per symbol in arrival order, plus their folded thresholds.

    `thresholds` holds an entry only for symbols with working orders: the hot path reads it
    with one dict lookup and stops there for every other symbol.
    """

    def __init__(self) -> None:
        self.orders: dict[str, list[SimOrder]] = {}
        self.thresholds: dict[str, Thresholds] = {}

    def add(self, order: SimOrder) -> None:
        symbol = order.request.symbol
        self.orders.setdefault(symbol, []).append(order)
        self._refold(symbol)

    def remove(self, order: SimOrder) -> None:
        symbol = order.request.symbol
        working = self.orders.get(symbol, [])
        if order in working:
            working.remove(order)
            self._refold(symbol)

    def of(self, symbol: str) -> list[SimOrder]:
        return self.orders.get(symbol, [])

    def _refold(self, symbol: str) -> None:
        working = self.orders.get(symbol)
        if not working:
            self.orders.pop(symbol, None)
            self.thresholds.pop(symbol, None)
            return
        levels = [o.fires_at for o in working]
        self.thresholds[symbol] = (
            max(t[0] for t in levels),
            min(t[1] for t in levels),
            min(t[2] for t in levels),
            max(t[3] for t in levels),
        )


# Which threshold slot a working order uses: STOP fires when price moves against the position
# it protects, TAKE_PROFIT when it moves in favour, LIMIT when the opposite best price reaches it.
_SLOT: dict[tuple[OrderType, Side], int] = {
    (OrderType.STOP_MARKET, Side.SELL): 0,
    (OrderType.TAKE_PROFIT_MARKET, Side.SELL): 1,
    (OrderType.LIMIT, Side.SELL): 1,
    (OrderType.STOP_MARKET, Side.BUY): 2,
    (OrderType.TAKE_PROFIT_MARKET, Side.BUY): 3,
    (OrderType.LIMIT, Side.BUY): 3,
}
