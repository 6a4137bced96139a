"""Wallet and one-way-mode positions of the simulated account, in exact Decimal arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)

Mark = Callable[[str], Decimal]
"""Mark price of a symbol; the exchange supplies the mid of its last quote."""


@dataclass(slots=True)
class Position:
    """Signed quantity (negative is short) and average entry price of one symbol."""

    qty: Decimal = ZERO
    entry: Decimal = ZERO

    def apply(self, qty: Decimal, price: Decimal) -> Decimal:
        """Trade signed `qty` at `price`; return the realised pnl (gross of fees) it closes."""
        old = self.qty
        new = old + qty
        if old == 0 or (old > 0) == (qty > 0):
            self.entry = (old * self.entry + qty * price) / new
            self.qty = new
            return ZERO
        closed = min(abs(qty), abs(old))
        realised = closed * (price - self.entry) * (1 if old > 0 else -1)
        self.qty = new
        if new == 0:
            self.entry = ZERO
        elif (new > 0) != (old > 0):
            # A flip closes the old position and opens the remainder at the trade price.
            self.entry = price
        return realised

    def unrealised(self, mark: Decimal) -> Decimal:
        return self.qty * (mark - self.entry)


def opens_exposure(old: Decimal, trade: Decimal) -> bool:
    """True when signed `trade` leaves a larger position than `old` or one on the other side."""
    new = old + trade
    return new != 0 and (old == 0 or (new > 0) != (old > 0) or abs(new) > abs(old))


class Account:
    """Cross-margin USDT wallet with one position per symbol.

    Initial margin of a position is its notional at the mark price over the symbol's leverage,
    as Binance computes it; unrealised pnl is also at the mark. Both are computed only when
    asked for, so quotes never touch this class.
    """

    def __init__(self, wallet: Decimal, default_leverage: int) -> None:
        self.wallet = wallet
        self.default_leverage = default_leverage
        self.positions: dict[str, Position] = {}
        self.leverage: dict[str, int] = {}

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position()
        return pos

    def qty(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else ZERO

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)

    def trade(self, symbol: str, qty: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Book an execution: move the position, credit realised pnl, debit the fee."""
        realised = self.position(symbol).apply(qty, price)
        self.wallet += realised - fee
        return realised

    def unrealised(self, mark: Mark) -> Decimal:
        return sum((p.unrealised(mark(s)) for s, p in self.positions.items() if p.qty), start=ZERO)

    def available(self, mark: Mark) -> Decimal:
        """Wallet + unrealised pnl - initial margin of every position (may be negative)."""
        return self.wallet + sum(
            (self._free(s, p, mark(s)) for s, p in self.positions.items() if p.qty), start=ZERO
        )

    def available_after(
        self, symbol: str, qty: Decimal, price: Decimal, fee: Decimal, mark: Mark, own_mark: Decimal
    ) -> Decimal:
        """Available balance once signed `qty` of `symbol` traded at `price` paying `fee`.

        `own_mark` marks `symbol` itself, which may have no quote yet (a resting limit order).
        """
        current = self.position(symbol)
        trial = Position(current.qty, current.entry)
        realised = trial.apply(qty, price)
        others = sum(
            (self._free(s, p, mark(s)) for s, p in self.positions.items() if p.qty and s != symbol),
            start=ZERO,
        )
        own = self._free(symbol, trial, own_mark) if trial.qty else ZERO
        return self.wallet + realised - fee + others + own

    def _free(self, symbol: str, pos: Position, mark: Decimal) -> Decimal:
        """What a position adds to the available balance: its pnl less its initial margin."""
        return pos.unrealised(mark) - abs(pos.qty) * mark / self.leverage_of(symbol)
