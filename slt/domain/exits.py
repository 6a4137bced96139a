"""Exit rules, and the compiled guard that runs them on every quote.

Each rule is a pure function of (position, quote, indicators, now) returning an ExitDecision or
None. A long exits at the bid and a short at the ask: the price it would actually get.

`ExitGuard` folds the price rules of one position into two float thresholds so the per-quote
check is a couple of comparisons; when it trips, `evaluate_exits` names the reason. A property
test holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from slt.domain.position import Position
from slt.domain.values import Direction, Quote

Indicators = Mapping[str, float]


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    MAX_HOLDING = "max_holding"
    REVERSAL = "reversal"
    HARD_LOSS_LIMIT = "hard_loss_limit"
    END_OF_DATA = "end_of_data"
    CLOSED_WHILE_DOWN = "closed_while_down"
    UNPROTECTED = "unprotected"  # the protective stop could not be confirmed
    # The exchange flattened the position without an order of the bot's (or its fills were
    # lost): by hand, by the liquidation engine, by auto-deleveraging; or paper at shutdown.
    EXTERNAL = "external"
    LIQUIDATION = "liquidation"
    ADL = "adl"
    SHUTDOWN = "shutdown"
    FORCE_EXIT = "force_exit"  # the operator asked (/forceexit)


@dataclass(frozen=True, slots=True)
class ExitDecision:
    reason: ExitReason
    price: float  # the quote price the exit is expected to trade at
    detail: str = ""
    # The price level a level rule (stop, trail, target, loss limit) found crossed: price went
    # through it on the way to the quote (slt.domain.realism); None for the other rules.
    level: float | None = None


def exit_side_price(position: Position, quote: Quote) -> float:
    return quote.bid if position.direction is Direction.LONG else quote.ask


def _signed(position: Position) -> int:
    return position.direction.sign


def stop_loss(p: Position, q: Quote, ind: Indicators | None, now_ms: int) -> ExitDecision | None:
    px = exit_side_price(p, q)
    s = _signed(p)
    if p.stop and s * px <= s * float(p.stop):
        return ExitDecision(ExitReason.STOP_LOSS, px, f"stop {p.stop}", float(p.stop))
    return None


def take_profit(p: Position, q: Quote, ind: Indicators | None, now_ms: int) -> ExitDecision | None:
    px = exit_side_price(p, q)
    s = _signed(p)
    if p.take_profit and s * px >= s * float(p.take_profit):
        target = float(p.take_profit)
        return ExitDecision(ExitReason.TAKE_PROFIT, px, f"target {p.take_profit}", target)
    return None


def trailing_stop(
    p: Position, q: Quote, ind: Indicators | None, now_ms: int
) -> ExitDecision | None:
    """Once the best price has run `trail_activation` beyond entry, exit `trail_distance`
    behind the best price seen since entry."""
    if p.trail_distance <= 0:
        return None
    px = exit_side_price(p, q)
    s = _signed(p)
    best = max(s * float(p.best_price), s * px)
    # Same arithmetic as ExitGuard, so both agree to the last bit.
    if best < s * float(p.entry_price) + float(p.trail_activation):
        return None
    level = best - float(p.trail_distance)
    if s * px <= level:
        return ExitDecision(ExitReason.TRAILING_STOP, px, f"trail {s * level:.10g}", s * level)
    return None


def max_holding(p: Position, q: Quote, ind: Indicators | None, now_ms: int) -> ExitDecision | None:
    if p.max_hold_ms and now_ms - p.opened_ms >= p.max_hold_ms:
        return ExitDecision(ExitReason.MAX_HOLDING, exit_side_price(p, q), f"{p.max_hold_ms} ms")
    return None


def reversal(p: Position, q: Quote, ind: Indicators | None, now_ms: int) -> ExitDecision | None:
    """Price against the position and momentum (`ind["momentum"]`, signed) turned against it."""
    if not ind or "momentum" not in ind:
        return None
    px = exit_side_price(p, q)
    s = _signed(p)
    if s * (px - float(p.entry_price)) < 0 and s * ind["momentum"] < 0:
        return ExitDecision(ExitReason.REVERSAL, px, f"momentum {ind['momentum']:.6g}")
    return None


def hard_loss_limit(
    p: Position, q: Quote, ind: Indicators | None, now_ms: int
) -> ExitDecision | None:
    """Unrealised loss at or beyond `hard_loss_fraction` of the position's margin."""
    level = hard_loss_level(p)
    if level is None:
        return None
    px = exit_side_price(p, q)
    s = _signed(p)
    if s * px <= s * level:
        return ExitDecision(ExitReason.HARD_LOSS_LIMIT, px, f"loss limit at {level:.10g}", level)
    return None


def hard_loss_level(p: Position) -> float | None:
    """The exit-side price at which the loss reaches the hard limit, or None if disabled."""
    if not p.hard_loss_fraction or not p.qty:
        return None
    per_unit = p.hard_loss_fraction * p.margin / p.qty
    return float(p.entry_price - p.direction.sign * per_unit)


ExitRule = Callable[[Position, Quote, "Indicators | None", int], "ExitDecision | None"]

# Order matters when several fire on one quote: the most protective reason is reported.
EXIT_RULES: tuple[ExitRule, ...] = (
    hard_loss_limit,
    stop_loss,
    trailing_stop,
    take_profit,
    max_holding,
    reversal,
)


def evaluate_exits(
    p: Position, q: Quote, ind: Indicators | None, now_ms: int
) -> ExitDecision | None:
    for rule in EXIT_RULES:
        decision = rule(p, q, ind, now_ms)
        if decision is not None:
            return decision
    return None


class ExitGuard:
    """Per-quote pre-filter for one open position: True when some exit rule may fire.

    Works in signed price space (v = +bid for a long, -ask for a short) so one comparison
    serves both directions. Tracks the best price for the trailing stop itself and writes it
    back to the position only when asked (`sync`), keeping Decimal work off the hot path.
    """

    __slots__ = (
        "_act",
        "_dist",
        "_static_lo",
        "best",
        "deadline",
        "hi",
        "lo",
        "position",
        "sign",
        "symbol",
    )

    def __init__(self, position: Position) -> None:
        p = position
        s = p.direction.sign
        self.position = p
        self.symbol = p.symbol
        self.sign = s
        lows = [-float("inf")]
        if p.stop:
            lows.append(s * float(p.stop))
        hard = hard_loss_level(p)
        if hard is not None:
            lows.append(s * hard)
        self._static_lo = max(lows)
        self.hi = s * float(p.take_profit) if p.take_profit else float("inf")
        self._dist = float(p.trail_distance) if p.trail_distance > 0 else 0.0
        self._act = s * float(p.entry_price) + float(p.trail_activation)
        self.deadline = p.opened_ms + p.max_hold_ms if p.max_hold_ms else 2**62
        self.best = s * float(p.best_price) if p.best_price else -float("inf")
        self.lo = self._static_lo
        self._retrail()

    def _retrail(self) -> None:
        if self._dist and self.best >= self._act:
            self.lo = max(self._static_lo, self.best - self._dist)

    def check(self, q: Quote) -> bool:
        v = q.bid if self.sign > 0 else -q.ask
        if v > self.best:
            self.best = v
            if self._dist:
                self._retrail()
        return v <= self.lo or v >= self.hi or q.ts_ms >= self.deadline

    def sync(self) -> None:
        """Write the tracked best price back to the position (for rules and persistence)."""
        if self.best > -float("inf"):
            self.position.best_price = Decimal(repr(self.sign * self.best))
