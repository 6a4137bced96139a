"""The rule-based placeholder strategy: an EMA trend filter with ATR stops.

It stands in for the learner (SelfLearningTrader) until that lands: on each closed bar it
reports a candidate when the fast EMA crosses the slow EMA in the direction of the close.
Stops sit `stop_atr` ATRs from the entry, targets `reward_risk` times that distance away.
"""

from __future__ import annotations

from dataclasses import dataclass

from slt.domain.indicators import Atr, Ema
from slt.domain.values import Bar, Direction


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

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError("strategy.fast must be >= 1 and below strategy.slow")
        for name in ("stop_atr", "reward_risk", "trail_atr", "max_cost_r"):
            if getattr(self, name) <= 0:
                raise ValueError(f"strategy.{name} must be positive")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A trade the strategy would take, priced off the last closed bar."""

    def cost_r(self, entry: float, spread: float, fee_rate: float) -> float:
        """Round-trip cost of this trade in units of its risk."""
        return (2 * fee_rate * entry + spread) / self.stop_distance

    symbol: str
    direction: Direction
    ts_ms: int  # decision time: close of the bar the signal came from
    reference_price: float
    stop_distance: float
    reward_risk: float
    trail_distance: float
    features: tuple[tuple[str, float], ...] = ()


class EmaTrend:
    """Per-symbol indicator state; feed it closed bars in order."""

    __slots__ = ("_atr", "_fast", "_prev_diff", "_slow", "last_close", "params", "symbol")

    def __init__(self, symbol: str, params: EmaTrendParams) -> None:
        self.symbol = symbol
        self.params = params
        self._fast = Ema(params.fast)
        self._slow = Ema(params.slow)
        self._atr = Atr(params.atr_period)
        self._prev_diff: float | None = None
        self.last_close = 0.0

    @property
    def momentum(self) -> float | None:
        """Fast minus slow EMA: its sign is the trend the exit rules' reversal check reads."""
        return self._prev_diff

    def on_bar(self, bar: Bar, interval_ms: int) -> Candidate | None:
        fast = self._fast.update(bar.close)
        slow = self._slow.update(bar.close)
        atr = self._atr.update(bar)
        self.last_close = bar.close
        if fast is None or slow is None or atr is None or atr <= 0:
            return None
        diff = fast - slow
        prev, self._prev_diff = self._prev_diff, diff
        if prev is None:
            return None
        if prev <= 0 < diff and bar.close > fast:
            direction = Direction.LONG
        elif prev >= 0 > diff and bar.close < fast:
            direction = Direction.SHORT
        else:
            return None
        p = self.params
        return Candidate(
            symbol=self.symbol,
            direction=direction,
            ts_ms=bar.open_ms + interval_ms,
            reference_price=bar.close,
            stop_distance=p.stop_atr * atr,
            reward_risk=p.reward_risk,
            trail_distance=p.trail_atr * atr,
            features=(("atr_pct", atr / bar.close), ("ema_gap_pct", diff / bar.close)),
        )
