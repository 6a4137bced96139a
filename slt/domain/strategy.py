"""The rule that proposes trade candidates: multi-timeframe trend and market structure.

On each closed bar of the decision interval, a symbol yields a candidate when

* its trend (fast EMA above the slow EMA for a long, below for a short) agrees with the bias
  of the higher interval (its last close above its fast EMA for a long, below for a short),
* and market structure confirms it on this bar: either the fast EMA just crossed the slow one
  with the close beyond the fast EMA (`cross`), or the close broke out of the range of the
  previous `breakout` bars (`breakout`),
* and the symbol's last candidate is at least `cooldown_bars` bars old, so one move does not
  yield a candidate per bar.

Stops sit `stop_atr` ATRs (of the decision interval) from the entry, targets `reward_risk`
times that distance away, and the trailing distance is `trail_atr` ATRs. Whether a candidate
is taken is not decided here: the trader decides, by rule or by its learned model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slt.domain.indicators import IndicatorParams, Snapshot
from slt.domain.values import Direction


@dataclass(frozen=True, slots=True)
class EmaTrendParams:
    fast: int = 20
    slow: int = 50
    atr_period: int = 14
    stop_atr: float = 2.5
    reward_risk: float = 2.0
    trail_atr: float = 2.0  # trailing distance, activated once the trade is 1R in profit
    # Skip trades whose round trip (taker fees both ways plus the spread) costs more than this
    # fraction of the risk: with tight stops, fees alone decide the outcome.
    max_cost_r: float = 0.15
    breakout: int = 20  # bars whose high/low range a close must break
    cooldown_bars: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError("strategy.fast must be >= 1 and below strategy.slow")
        for name in ("stop_atr", "reward_risk", "trail_atr", "max_cost_r"):
            if getattr(self, name) <= 0:
                raise ValueError(f"strategy.{name} must be positive")
        for name in ("atr_period", "breakout"):
            if getattr(self, name) < 1:
                raise ValueError(f"strategy.{name} must be >= 1")
        if self.cooldown_bars < 0:
            raise ValueError("strategy.cooldown_bars must not be negative")

    def indicator_params(self) -> IndicatorParams:
        """The indicators the rule reads, at every interval."""
        return IndicatorParams(
            ema_fast=self.fast, ema_slow=self.slow, atr=self.atr_period, range_period=self.breakout
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A trade the rule proposes, priced off the last closed bar."""

    def cost_r(self, entry: float, spread: float, fee_rate: float) -> float:
        """Round-trip cost of this trade in units of its risk."""
        return (2 * fee_rate * entry + spread) / self.stop_distance

    symbol: str
    direction: Direction
    ts_ms: int  # close of the bar the signal came from
    reference_price: float
    stop_distance: float
    reward_risk: float
    trail_distance: float
    features: tuple[tuple[str, float], ...] = ()
    trigger: str = ""  # "cross" or "breakout"
    # The generator that proposed it (and its exit plan): the unit the permission layer judges.
    family: str = "trend"


def _ready(*values: float) -> bool:
    return not any(math.isnan(v) for v in values)


class TrendSignals:
    """Per-symbol rule state; feed it the snapshots of each closed decision bar in order."""

    __slots__ = ("_bars", "_last_candidate", "_prev_diff", "params", "symbol")

    def __init__(self, symbol: str, params: EmaTrendParams) -> None:
        self.symbol = symbol
        self.params = params
        self._prev_diff: float | None = None
        self._bars = 0
        self._last_candidate = -(10**9)

    @property
    def momentum(self) -> float | None:
        """Fast minus slow EMA: its sign is the trend the exit rules' reversal check reads."""
        return self._prev_diff

    def on_bar(self, snap: Snapshot, higher: Snapshot | None, close_ms: int) -> Candidate | None:
        """`snap`: the decision interval after its newest closed bar; `higher`: the higher
        interval as of the same moment (None before its first closed bar)."""
        self._bars += 1
        if not _ready(snap.ema_fast, snap.ema_slow, snap.atr) or snap.atr <= 0:
            return None
        diff = snap.ema_fast - snap.ema_slow
        prev, self._prev_diff = self._prev_diff, diff
        if prev is None or diff == 0 or higher is None or not _ready(higher.ema_fast):
            return None
        direction = Direction.LONG if diff > 0 else Direction.SHORT
        s = direction.sign
        if s * (higher.close - higher.ema_fast) <= 0:
            return None
        if s * prev <= 0 and s * (snap.close - snap.ema_fast) > 0:
            trigger = "cross"
        elif (s > 0 and snap.close > snap.range_high) or (s < 0 and snap.close < snap.range_low):
            trigger = "breakout"  # a NaN range (warming up) compares False: no breakout
        else:
            return None
        if self._bars - self._last_candidate < self.params.cooldown_bars:
            return None
        self._last_candidate = self._bars
        p = self.params
        return Candidate(
            symbol=self.symbol,
            direction=direction,
            ts_ms=close_ms,
            reference_price=snap.close,
            stop_distance=p.stop_atr * snap.atr,
            reward_risk=p.reward_risk,
            trail_distance=p.trail_atr * snap.atr,
            trigger=trigger,
        )
