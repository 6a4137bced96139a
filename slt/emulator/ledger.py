"""What reached the emulator and what it executed, for "no order was sent twice" assertions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from slt.domain.values import Side

# Requests that create an order; a client id seen on more than one of them was sent twice.
PLACEMENTS = frozenset({("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/algoOrder")})


@dataclass(frozen=True, slots=True)
class OrderCall:
    """One request to an order endpoint, with what the emulator answered.

    `client_id` is the newClientOrderId / origClientOrderId / clientAlgoId sent ("" if none);
    `code` is the Binance error code of a refusal, None when the request succeeded.
    """

    ts_ms: int
    method: str
    path: str
    symbol: str
    client_id: str
    status: int
    code: int | None


@dataclass(frozen=True, slots=True)
class FillSent:
    ts_ms: int
    symbol: str
    client_id: str
    order_id: int
    trade_id: int
    side: Side
    qty: Decimal
    price: Decimal


class Ledger:
    def __init__(self) -> None:
        self.calls: list[OrderCall] = []
        self.fills: list[FillSent] = []

    def placements(self, client_id: str) -> list[OrderCall]:
        return [
            c for c in self.calls if (c.method, c.path) in PLACEMENTS and c.client_id == client_id
        ]

    def sent_twice(self) -> list[str]:
        """Client ids that arrived on more than one placement request, whatever the answers."""
        seen = Counter(c.client_id for c in self.calls if (c.method, c.path) in PLACEMENTS)
        return sorted(cid for cid, n in seen.items() if cid and n > 1)

    def fills_of(self, client_id: str) -> list[FillSent]:
        return [f for f in self.fills if f.client_id == client_id]
