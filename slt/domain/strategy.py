"""The candidate generators ("families") and the values they produce.

A generator (the CandidateGenerator protocol) is fed every closed bar of the decision interval of
every symbol, in time order, and proposes candidates. The trader labels every candidate under
each exit plan (`exit_plans`) as its own family, `<generator>/<plan>` (e.g. `trend/2R`), follows
each one (real or virtual), and the permission layer decides which families may risk money.
Users add their own generator as a class (see the README: entry point group `slt.strategies`,
or `--strategy module:Class`). Built in:

`trend` (TrendBreakout): multi-timeframe trend and market structure. On each closed bar of
the decision interval, a symbol yields a candidate when

* its trend (fast EMA above the slow EMA for a long, below for a short) agrees with the bias
  of the higher interval (its last close above its fast EMA for a long, below for a short),
* and market structure confirms it on this bar: either the fast EMA just crossed the slow one
  with the close beyond the fast EMA (`cross`), or the close broke out of the range of the
  previous `breakout` bars (`breakout`),
* and the symbol's last candidate is at least `cooldown_bars` bars old, so one move does not
  yield a candidate per bar.

Stops sit `stop_atr` ATRs (of the decision interval) from the entry, targets `reward_risk`
times that distance away, and the trailing distance is `trail_atr` ATRs.

`reversion` (MeanReversion): in a market without a trend (ADX of the decision interval below
`reversion_adx`), a close beyond the previous `breakout` bars' range with RSI stretched past
`reversion_rsi` points from 50 proposes a trade back into the range: a long below the range
with RSI under 50 - reversion_rsi, a short above it with RSI over 50 + reversion_rsi; stop
`reversion_stop_atr` ATRs away. Its positions do not take the reversal exit (momentum is
against a mean-reversion trade by construction).

Whether a candidate is taken is not decided here: the trader decides, by rule or by its
learned model, under the permission layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

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
    # Generators in use: built-in names, entry points of group `slt.strategies`, or
    # `module:Class` (slt.application.trader.families); `--strategy` on the command line overrides.
    families: tuple[str, ...] = ("trend", "reversion")
    # Each candidate is labelled under each of these targets (reward:risk), as its own family.
    exit_plans: tuple[float, ...] = (1.0, 2.0)
    reversion_adx: float = 20.0
    reversion_rsi: float = 20.0
    reversion_stop_atr: float = 1.5

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
        if not self.families:
            raise ValueError("strategy.families must name at least one candidate generator")
        if not self.exit_plans or any(not 0 < r <= 20 for r in self.exit_plans):
            raise ValueError("strategy.exit_plans must be reward:risk ratios in (0, 20]")
        if not 0 < self.reversion_adx <= 100 or not 0 < self.reversion_rsi < 50:
            raise ValueError("strategy.reversion_adx must be in (0, 100], reversion_rsi in (0, 50)")
        if self.reversion_stop_atr <= 0:
            raise ValueError("strategy.reversion_stop_atr must be positive")

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
    trigger: str = ""  # "cross" or "breakout" (trend), "range" (reversion), or a plug-in's
    # The generator that proposed it (and its exit plan): the unit the permission layer judges.
    family: str = "trend"
    reversal_exit: bool = True  # whether the reversal rule may close its position


class CandidateGenerator(Protocol):
    """A family of trade candidates. Constructed once per run as `cls(params)` (the
    `[strategy]` settings); `on_bar` is called for every closed bar of the decision interval of
    every symbol, in time order, and must be pure computation on what it is given (no I/O, no
    clock: it runs on the trading cycle, and replays must stay deterministic)."""

    name: str  # the family's name, e.g. "trend"

    def on_bar(
        self, symbol: str, snap: Snapshot, higher: Snapshot | None, close_ms: int
    ) -> Sequence[Candidate]:
        """`snap`: the decision interval after its newest closed bar; `higher`: the higher
        interval at the same moment (None before its first closed bar)."""
        ...


def exit_plans(candidate: Candidate, plans: Sequence[float]) -> list[Candidate]:
    """`candidate` under each exit plan (target at `r` times the stop distance), each its own
    family `<family>/<r>R`."""
    return [
        replace(candidate, reward_risk=r, family=f"{candidate.family}/{r:g}R") for r in plans
    ]


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


class TrendBreakout:
    """The `trend` family: TrendSignals per symbol."""

    name = "trend"

    def __init__(self, params: EmaTrendParams) -> None:
        self.params = params
        self._signals: dict[str, TrendSignals] = {}

    def on_bar(
        self, symbol: str, snap: Snapshot, higher: Snapshot | None, close_ms: int
    ) -> Sequence[Candidate]:
        signals = self._signals.get(symbol)
        if signals is None:
            signals = self._signals[symbol] = TrendSignals(symbol, self.params)
        candidate = signals.on_bar(snap, higher, close_ms)
        return () if candidate is None else (candidate,)


class MeanReversion:
    """The `reversion` family (see the module doc)."""

    name = "reversion"

    def __init__(self, params: EmaTrendParams) -> None:
        self.params = params
        self._bars: dict[str, int] = {}
        self._last: dict[str, int] = {}

    def on_bar(
        self, symbol: str, snap: Snapshot, higher: Snapshot | None, close_ms: int
    ) -> Sequence[Candidate]:
        p = self.params
        bars = self._bars[symbol] = self._bars.get(symbol, 0) + 1
        if not _ready(snap.adx, snap.rsi, snap.atr) or snap.atr <= 0:
            return ()
        if snap.adx >= p.reversion_adx:
            return ()
        if snap.close < snap.range_low and snap.rsi < 50 - p.reversion_rsi:
            direction = Direction.LONG
        elif snap.close > snap.range_high and snap.rsi > 50 + p.reversion_rsi:
            direction = Direction.SHORT
        else:
            return ()
        if bars - self._last.get(symbol, -(10**9)) < p.cooldown_bars:
            return ()
        self._last[symbol] = bars
        return (
            Candidate(
                symbol=symbol,
                direction=direction,
                ts_ms=close_ms,
                reference_price=snap.close,
                stop_distance=p.reversion_stop_atr * snap.atr,
                reward_risk=p.reward_risk,
                trail_distance=p.trail_atr * snap.atr,
                trigger="range",
                family=self.name,
                reversal_exit=False,
            ),
        )
