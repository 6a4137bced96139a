"""Incremental indicators: O(1) work and memory per closed bar."""

from __future__ import annotations

from slt.domain.values import Bar


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


class Atr:
    """Average true range with Wilder's smoothing."""

    __slots__ = ("_count", "_prev_close", "_sum", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"ATR period must be >= 1, got {period}")
        self.period = period
        self._prev_close: float | None = None
        self._count = 0
        self._sum = 0.0
        self.value: float | None = None

    def update(self, bar: Bar) -> float | None:
        prev = self._prev_close
        tr = bar.high - bar.low
        if prev is not None:
            tr = max(tr, abs(bar.high - prev), abs(bar.low - prev))
        self._prev_close = bar.close
        if self.value is None:
            self._count += 1
            self._sum += tr
            if self._count == self.period:
                self.value = self._sum / self.period
        else:
            self.value += (tr - self.value) / self.period
        return self.value
