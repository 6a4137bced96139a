"""Incremental indicators: O(1) work and bounded memory per closed bar.

Each indicator takes one closed bar (or value) per `update` and returns its new value, or None
while it is still warming up. Nothing is ever recomputed over the history: moving sums are
kept as running sums (re-summed from their window every `period` updates, which bounds the
floating-point drift at O(1) amortised cost), and rolling extremes as monotonic deques.

`IndicatorSet` bundles the ones the strategy and the learner's features read into one
`Snapshot` per closed bar.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from slt.domain.values import Bar

NAN = float("nan")


class Ema:
    """Exponential moving average seeded with the simple mean of its first `period` values."""

    __slots__ = ("_alpha", "_count", "_sum", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be >= 1, got {period}")
        self.period = period
        self._alpha = 2.0 / (period + 1)
        self._count = 0
        self._sum = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self.value is None:
            self._count += 1
            self._sum += x
            if self._count == self.period:
                self.value = self._sum / self.period
        else:
            self.value += self._alpha * (x - self.value)
        return self.value


class Wilder:
    """Wilder's smoothing (an EMA with alpha 1/period) seeded with the mean of `period` values."""

    __slots__ = ("_count", "_sum", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self._count = 0
        self._sum = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self.value is None:
            self._count += 1
            self._sum += x
            if self._count == self.period:
                self.value = self._sum / self.period
        else:
            self.value += (x - self.value) / self.period
        return self.value


def true_range(bar: Bar, prev_close: float | None) -> float:
    tr = bar.high - bar.low
    if prev_close is not None:
        tr = max(tr, abs(bar.high - prev_close), abs(bar.low - prev_close))
    return tr


class Atr:
    """Average true range with Wilder's smoothing."""

    __slots__ = ("_prev_close", "_smooth", "period")

    def __init__(self, period: int) -> None:
        self.period = period
        self._smooth = Wilder(period)
        self._prev_close: float | None = None

    @property
    def value(self) -> float | None:
        return self._smooth.value

    def update(self, bar: Bar) -> float | None:
        tr = true_range(bar, self._prev_close)
        self._prev_close = bar.close
        return self._smooth.update(tr)


class Rsi:
    """Relative strength index with Wilder's smoothing of gains and losses (0..100)."""

    __slots__ = ("_gain", "_loss", "_prev", "value")

    def __init__(self, period: int = 14) -> None:
        self._gain = Wilder(period)
        self._loss = Wilder(period)
        self._prev: float | None = None
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        prev, self._prev = self._prev, close
        if prev is None:
            return None
        change = close - prev
        gain = self._gain.update(max(change, 0.0))
        loss = self._loss.update(max(-change, 0.0))
        if gain is None or loss is None:
            return None
        total = gain + loss
        self.value = 50.0 if total == 0 else 100.0 * gain / total
        return self.value


class Macd:
    """MACD line (fast EMA - slow EMA), its signal EMA, and the histogram (line - signal)."""

    __slots__ = ("_fast", "_signal", "_slow", "hist", "line")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)
        self.line: float | None = None
        self.hist: float | None = None

    def update(self, close: float) -> float | None:
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        if fast is None or slow is None:
            return None
        self.line = fast - slow
        signal = self._signal.update(self.line)
        if signal is not None:
            self.hist = self.line - signal
        return self.hist


class RollingMoments:
    """Mean and population standard deviation over the last `period` values.

    Sums run relative to a shift (the window mean at the last re-sum), which keeps the
    variance free of the cancellation that raw sums of squared prices suffer.
    """

    __slots__ = ("_n", "_shift", "_since", "_sum", "_sumsq", "_window", "period")

    def __init__(self, period: int) -> None:
        if period < 2:
            raise ValueError(f"period must be >= 2, got {period}")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._shift = 0.0
        self._sum = 0.0
        self._sumsq = 0.0
        self._since = 0
        self._n = 0

    def update(self, x: float) -> tuple[float, float] | None:
        window = self._window
        if len(window) == self.period:
            old = window[0] - self._shift
            self._sum -= old
            self._sumsq -= old * old
        else:
            self._n += 1
        window.append(x)
        d = x - self._shift
        self._sum += d
        self._sumsq += d * d
        self._since += 1
        if self._since >= self.period:
            self._resum()
        if self._n < self.period:
            return None
        mean = self._sum / self.period
        var = max(self._sumsq / self.period - mean * mean, 0.0)
        return self._shift + mean, math.sqrt(var)

    def _resum(self) -> None:
        window = self._window
        self._shift = sum(window) / len(window)
        self._sum = sum(v - self._shift for v in window)
        self._sumsq = sum((v - self._shift) ** 2 for v in window)
        self._since = 0


class BollingerWidth:
    """Band width (upper - lower) / middle of Bollinger bands: 2 * k * stdev / mean."""

    __slots__ = ("_k", "_moments", "value")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self._moments = RollingMoments(period)
        self._k = k
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        moments = self._moments.update(close)
        if moments is not None and moments[0] > 0:
            self.value = 2.0 * self._k * moments[1] / moments[0]
        return self.value


class Adx:
    """Average directional index with Wilder's +DI/-DI (all 0..100).

    +DM/-DM and the true range are Wilder-smoothed; DX = 100 |+DI - -DI| / (+DI + -DI); ADX is
    DX Wilder-smoothed over the same period. Seeds are means of the first `period` values
    (proportional to Wilder's seeding by sums, so the DIs are identical).
    """

    __slots__ = ("_adx", "_dm_minus", "_dm_plus", "_prev", "_tr", "minus_di", "plus_di", "value")

    def __init__(self, period: int = 14) -> None:
        self._tr = Wilder(period)
        self._dm_plus = Wilder(period)
        self._dm_minus = Wilder(period)
        self._adx = Wilder(period)
        self._prev: Bar | None = None
        self.plus_di: float | None = None
        self.minus_di: float | None = None
        self.value: float | None = None

    def update(self, bar: Bar) -> float | None:
        prev, self._prev = self._prev, bar
        if prev is None:
            return None
        up = bar.high - prev.high
        down = prev.low - bar.low
        tr = self._tr.update(true_range(bar, prev.close))
        plus = self._dm_plus.update(up if up > down and up > 0 else 0.0)
        minus = self._dm_minus.update(down if down > up and down > 0 else 0.0)
        if tr is None or plus is None or minus is None:
            return None
        if tr <= 0:
            return self.value  # a flat market: directions are undefined, keep the last
        self.plus_di = 100.0 * plus / tr
        self.minus_di = 100.0 * minus / tr
        total = self.plus_di + self.minus_di
        dx = 0.0 if total == 0 else 100.0 * abs(self.plus_di - self.minus_di) / total
        self.value = self._adx.update(dx)
        return self.value


class VolumeRatio:
    """This bar's volume over the mean volume of the `period` bars before it."""

    __slots__ = ("_since", "_sum", "_window", "mean", "period", "value")

    def __init__(self, period: int = 20) -> None:
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._sum = 0.0
        self._since = 0
        self.mean: float | None = None  # of the `period` bars before the last one
        self.value: float | None = None

    def update(self, volume: float) -> float | None:
        window = self._window
        if len(window) == self.period:
            mean = self.mean = self._sum / self.period
            self.value = volume / mean if mean > 0 else None
            self._sum -= window[0]
        window.append(volume)
        self._sum += volume
        self._since += 1
        if self._since >= self.period:
            self._sum = sum(window)
            self._since = 0
        return self.value


class RollingExtremes:
    """Highest high and lowest low of the `period` bars before the current one (Donchian).

    Monotonic deques give amortised O(1) updates: each bar enters and leaves each deque once.
    """

    __slots__ = ("_count", "_highs", "_lows", "high", "low", "period")

    def __init__(self, period: int = 20) -> None:
        self.period = period
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()
        self._count = 0
        self.high: float | None = None
        self.low: float | None = None

    def update(self, bar: Bar) -> tuple[float, float] | None:
        """Record `bar`; return (high, low) of the window BEFORE it, once that window is full."""
        n = self._count
        if n >= self.period:
            self.high = self._highs[0][1]
            self.low = self._lows[0][1]
        highs, lows = self._highs, self._lows
        while highs and highs[-1][1] <= bar.high:
            highs.pop()
        highs.append((n, bar.high))
        while lows and lows[-1][1] >= bar.low:
            lows.pop()
        lows.append((n, bar.low))
        oldest = n + 1 - self.period
        while highs[0][0] < oldest:
            highs.popleft()
        while lows[0][0] < oldest:
            lows.popleft()
        self._count = n + 1
        return None if self.high is None or self.low is None else (self.high, self.low)


class Snapshot(NamedTuple):
    """Every indicator of one symbol and interval after a closed bar; NaN while warming up.

    A NamedTuple: one is built per closed bar per interval, and the learner reads it by name.
    """

    open_ms: int
    close: float
    ema_fast: float
    ema_slow: float
    atr: float
    atr_slow: float  # EMA of the ATR over `atr_slow` bars: the volatility regime's baseline
    rsi: float
    macd_hist: float
    bb_width: float
    adx: float
    plus_di: float
    minus_di: float
    volume_ratio: float
    volume_mean: float  # mean volume of the `volume` bars before this one
    range_high: float  # of the `range_period` bars before this one
    range_low: float
    bars: int  # closed bars seen so far


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    ema_fast: int = 20
    ema_slow: int = 50
    atr: int = 14
    atr_slow: int = 100
    rsi: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bollinger: int = 20
    bollinger_k: float = 2.0
    adx: int = 14
    volume: int = 20
    range_period: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.ema_fast < self.ema_slow:
            raise ValueError("ema_fast must be >= 1 and below ema_slow")


def _nan(x: float | None) -> float:
    return NAN if x is None else x


class IndicatorSet:
    """All indicators of one symbol at one interval, advanced by each closed bar."""

    __slots__ = (
        "_adx",
        "_atr",
        "_atr_slow",
        "_bb",
        "_ema_fast",
        "_ema_slow",
        "_macd",
        "_range",
        "_rsi",
        "_volume",
        "bars",
        "last",
    )

    def __init__(self, params: IndicatorParams) -> None:
        p = params
        self._ema_fast = Ema(p.ema_fast)
        self._ema_slow = Ema(p.ema_slow)
        self._atr = Atr(p.atr)
        self._atr_slow = Ema(p.atr_slow)
        self._rsi = Rsi(p.rsi)
        self._macd = Macd(p.macd_fast, p.macd_slow, p.macd_signal)
        self._bb = BollingerWidth(p.bollinger, p.bollinger_k)
        self._adx = Adx(p.adx)
        self._volume = VolumeRatio(p.volume)
        self._range = RollingExtremes(p.range_period)
        self.bars = 0
        self.last: Snapshot | None = None

    def update(self, bar: Bar) -> Snapshot:
        close = bar.close
        atr = self._atr.update(bar)
        extremes = self._range.update(bar)
        self.bars += 1
        self.last = Snapshot(
            open_ms=bar.open_ms,
            close=close,
            ema_fast=_nan(self._ema_fast.update(close)),
            ema_slow=_nan(self._ema_slow.update(close)),
            atr=_nan(atr),
            atr_slow=_nan(self._atr_slow.update(atr) if atr is not None else None),
            rsi=_nan(self._rsi.update(close)),
            macd_hist=_nan(self._macd.update(close)),
            bb_width=_nan(self._bb.update(close)),
            adx=_nan(self._adx.update(bar)),
            plus_di=_nan(self._adx.plus_di),
            minus_di=_nan(self._adx.minus_di),
            volume_ratio=_nan(self._volume.update(bar.volume)),
            volume_mean=_nan(self._volume.mean),
            range_high=NAN if extremes is None else extremes[0],
            range_low=NAN if extremes is None else extremes[1],
            bars=self.bars,
        )
        return self.last
