"""Value objects shared by every layer.

Times are integer milliseconds since the Unix epoch (UTC) throughout: they compare, hash and
serialise exactly, and the simulated clock advances in the same unit as Binance timestamps.
Prices and quantities that reach an exchange are `Decimal`; prices on the quote hot path are
floats, because they are only compared there, never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


class Side(StrEnum):
    """Order side, as Binance spells it."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class Direction(StrEnum):
    """Which way a position is exposed."""

    LONG = "LONG"
    SHORT = "SHORT"

    @property
    def sign(self) -> int:
        return 1 if self is Direction.LONG else -1

    @property
    def entry_side(self) -> Side:
        return Side.BUY if self is Direction.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        return self.entry_side.opposite


class Quote(NamedTuple):
    """Best bid/offer of one symbol at one instant (a bookTicker update).

    A NamedTuple rather than a frozen dataclass: it is built once per market update, hundreds of
    thousands of times a second in replay, and a tuple is several times cheaper to create while
    staying immutable.
    """

    symbol: str
    ts_ms: int
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5


def is_sane_quote(bid: float, ask: float, bid_qty: float, ask_qty: float) -> bool:
    """True for a quote a cache may hold: finite, positive prices and an uncrossed book.

    The chained comparisons are False for NaN, so NaN needs no separate test.
    """
    return 0.0 < bid <= ask < float("inf") and 0.0 <= bid_qty < float("inf") and (
        0.0 <= ask_qty < float("inf")
    )


class Bar(NamedTuple):
    """A closed candle. `volume` is whatever the source measured (base volume for klines)."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Balance:
    wallet: Decimal
    available: Decimal
    unrealized_pnl: Decimal

    @property
    def equity(self) -> Decimal:
        return self.wallet + self.unrealized_pnl


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    """A position as the exchange reports it. `qty` is signed: negative is short."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
