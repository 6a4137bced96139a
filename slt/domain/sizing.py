"""Position sizing and the entry gate.

Sizing is risk-first: the quantity is what loses `risk_per_trade` of equity if the stop is hit,
fees included, then cut down by the leverage, margin, notional and lot limits, then rounded
down to the step. It is never bumped up to an exchange minimum: an order that would have to be
larger than the risk budget allows is rejected instead.

Everything is exact. Decimal sums and products run in an unbounded-precision context (they are
exact there; the default 28 digits could round), and the one division, quantity = budget / loss
per unit, is done on Fractions and floored, so the risk can never exceed the budget by a rounding.

There is deliberately no gate for exits: closing a position must never be refused by a risk
rule, whatever the day's loss or the number of positions.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

from slt.domain.filters import SymbolFilters

MAX_EXCHANGE_LEVERAGE = 125  # Binance's highest bracket; anything above is a typo

# Sums and products of Decimals are exact in this context; nothing here divides in Decimal.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


class RejectCode(StrEnum):
    INVALID_PRICE = "invalid_price"  # entry or stop not positive
    NO_EQUITY = "no_equity"
    NO_MARGIN = "no_margin"
    ZERO_STOP_DISTANCE = "zero_stop_distance"
    BELOW_MIN_QTY = "below_min_qty"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    SYMBOL_ALREADY_OPEN = "symbol_already_open"
    MAX_OPEN_POSITIONS = "max_open_positions"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MAX_DRAWDOWN = "max_drawdown"


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectCode
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RiskLimits:
    risk_per_trade: Decimal = Decimal("0.01")  # fraction of equity lost if the stop is hit
    max_leverage: int = 5
    max_open_positions: int = 5
    daily_loss_limit: Decimal = Decimal("0.03")  # fraction of the day's starting equity
    max_position_notional: Decimal | None = None  # USDT; None: no cap beyond leverage
    # Fraction of the peak equity the account may lose: entries stop once a new one (its risk
    # plus the risk budgeted to every open position) could take equity below that floor.
    max_drawdown: Decimal = Decimal("0.2")
    # The settings refuse a risk_per_trade above 5% unless this is set (sizing ignores it).
    allow_high_risk: bool = False

    def __post_init__(self) -> None:
        _check_fraction("risk_per_trade", self.risk_per_trade)
        _check_fraction("max_drawdown", self.max_drawdown)
        _check_fraction("daily_loss_limit", self.daily_loss_limit)
        _check_int("max_leverage", self.max_leverage, 1, MAX_EXCHANGE_LEVERAGE)
        _check_int("max_open_positions", self.max_open_positions, 1, None)
        cap = self.max_position_notional
        if cap is not None and not (isinstance(cap, Decimal) and cap.is_finite() and cap > 0):
            raise ValueError(
                f"RiskLimits.max_position_notional must be None or a positive Decimal, got {cap!r}"
            )


def _check_fraction(name: str, value: object) -> None:
    # A float here would make every result inexact; reject it rather than convert it.
    if not (isinstance(value, Decimal) and value.is_finite() and 0 < value <= 1):
        raise ValueError(f"RiskLimits.{name} must be a Decimal in (0, 1], got {value!r}")


def _check_int(name: str, value: object, lo: int, hi: int | None) -> None:
    # bool is an int subclass; True as a leverage is a bug, not 1.
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lo
        or (hi is not None and value > hi)
    ):
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"RiskLimits.{name} must be an int {bounds}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Sizing:
    qty: Decimal
    notional: Decimal  # qty * entry
    leverage: int  # the smallest that covers the notional with the available margin
    risk_amount: Decimal  # loss if the stop is hit, round-trip taker fees included


def size_entry(
    *,
    equity: Decimal,
    available: Decimal,
    entry: Decimal,
    stop: Decimal,
    filters: SymbolFilters,
    limits: RiskLimits,
    taker_fee: Decimal = Decimal("0.0005"),
    market: bool = True,
) -> Sizing | Rejection:
    """Size an entry at `entry` with its stop at `stop`, or say why it cannot be taken.

    Whether the stop is on the right side of the entry is the strategy's concern; only its
    distance matters here. Fees are charged at the taker rate on the way in (at `entry`) and out
    (at `stop`). `market` picks MARKET_LOT_SIZE over LOT_SIZE where the symbol has one.
    """
    if taker_fee < 0:
        raise ValueError(f"taker_fee must not be negative, got {taker_fee}")
    if entry <= 0 or stop <= 0:
        return Rejection(RejectCode.INVALID_PRICE, f"entry {entry}, stop {stop}")
    if equity <= 0:
        return Rejection(RejectCode.NO_EQUITY, f"equity {equity}")
    if available <= 0:
        return Rejection(RejectCode.NO_MARGIN, f"available {available}")
    if entry == stop:
        return Rejection(RejectCode.ZERO_STOP_DISTANCE, f"stop {stop} equals entry")

    step, min_qty, max_qty = _lot(filters, market)
    with localcontext(_EXACT):
        loss_per_unit = abs(entry - stop) + taker_fee * (entry + stop)
        budget = equity * limits.risk_per_trade
        # The entry fee is paid from the same available balance as the margin, so the margin
        # at the leverage cap plus that fee must fit: notional * (1/L + fee) <= available.
        lev_cap = limits.max_leverage
        ceiling = Fraction(min(equity, available) * lev_cap) / (1 + Fraction(taker_fee) * lev_cap)
        if limits.max_position_notional is not None:
            ceiling = min(ceiling, Fraction(limits.max_position_notional))
        units = min(_floor_div(budget, loss_per_unit * step), _floor_div(ceiling, entry * step))
        if max_qty > 0:  # 0: no maximum, as Binance encodes it
            units = min(units, _floor_div(max_qty, step))
        qty = step * units
        notional = qty * entry
        risk_amount = qty * loss_per_unit

    if units <= 0 or qty < min_qty:
        return Rejection(RejectCode.BELOW_MIN_QTY, f"qty {qty} below minimum {min_qty}")
    if notional < filters.min_notional:
        return Rejection(
            RejectCode.BELOW_MIN_NOTIONAL,
            f"notional {notional} below minimum {filters.min_notional}",
        )
    margin_room = Fraction(available) - Fraction(notional) * Fraction(taker_fee)
    leverage = max(1, math.ceil(Fraction(notional) / margin_room))
    return Sizing(qty=qty, notional=notional, leverage=leverage, risk_amount=risk_amount)


def _lot(filters: SymbolFilters, market: bool) -> tuple[Decimal, Decimal, Decimal]:
    if not market:
        return filters.step_size, filters.min_qty, filters.max_qty
    step = filters.market_step_size or filters.step_size
    lo = filters.market_min_qty if filters.market_min_qty is not None else filters.min_qty
    hi = filters.market_max_qty if filters.market_max_qty is not None else filters.max_qty
    return step, lo, hi


def _floor_div(amount: Decimal | Fraction, per_unit: Decimal) -> int:
    return math.floor(Fraction(amount) / Fraction(per_unit))


def entry_gate(
    *,
    symbol: str,
    open_symbols: Collection[str],
    day_start_equity: Decimal,
    day_realized_pnl: Decimal,
    unrealized_pnl: Decimal = Decimal(0),
    equity: Decimal | None = None,
    peak_equity: Decimal | None = None,
    limits: RiskLimits,
) -> Rejection | None:
    """May a NEW position be opened on `symbol`? None when it may.

    `open_symbols` holds the symbols with an open (or opening) position; `unrealized_pnl` is
    theirs, summed, so that a day already lost on paper stops new entries too. `equity` and
    `peak_equity` (the highest equity seen) drive the drawdown stop when given. Checks run in
    this order and the first failing one is reported: drawdown, daily loss, one position per
    symbol, number of positions. Exits are never gated.
    """
    with localcontext(_EXACT):
        loss = -(day_realized_pnl + unrealized_pnl)
        limit = limits.daily_loss_limit * day_start_equity
        if equity is not None and peak_equity is not None:
            at_risk = (len(open_symbols) + 1) * limits.risk_per_trade * equity
            floor = peak_equity * (1 - limits.max_drawdown)
            if equity - at_risk < floor:
                return Rejection(
                    RejectCode.MAX_DRAWDOWN,
                    f"equity {equity} with {at_risk} at risk would reach the floor {floor} "
                    f"({limits.max_drawdown:%} below the peak {peak_equity})",
                )
    if loss >= limit:
        return Rejection(RejectCode.DAILY_LOSS_LIMIT, f"day loss {loss} reached limit {limit}")
    if symbol in open_symbols:
        return Rejection(RejectCode.SYMBOL_ALREADY_OPEN, f"{symbol} already has a position")
    if len(open_symbols) >= limits.max_open_positions:
        return Rejection(
            RejectCode.MAX_OPEN_POSITIONS,
            f"{len(open_symbols)} positions open, limit {limits.max_open_positions}",
        )
    return None
