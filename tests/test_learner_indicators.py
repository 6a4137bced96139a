"""Incremental indicators against straightforward recomputations from the whole history."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from slt.domain.indicators import (
    Adx,
    Atr,
    BollingerWidth,
    Ema,
    IndicatorParams,
    IndicatorSet,
    Macd,
    RollingExtremes,
    Rsi,
    VolumeRatio,
)
from slt.domain.values import Bar


def walk(n: int, seed: int = 1) -> list[Bar]:
    rng = random.Random(seed)
    price = 100.0
    bars = []
    for i in range(n):
        o = price
        price *= 1 + rng.gauss(0, 0.01)
        hi = max(o, price) * (1 + abs(rng.gauss(0, 0.003)))
        lo = min(o, price) * (1 - abs(rng.gauss(0, 0.003)))
        bars.append(Bar(i * 60_000, o, hi, lo, price, rng.uniform(1, 100)))
    return bars


BARS = walk(300)
CLOSES = [b.close for b in BARS]


def ref_ema(xs: list[float], n: int) -> list[float | None]:
    out: list[float | None] = []
    value = None
    for i in range(len(xs)):
        if i + 1 < n:
            out.append(None)
            continue
        value = sum(xs[:n]) / n if i + 1 == n else value + 2 / (n + 1) * (xs[i] - value)
        out.append(value)
    return out


def ref_wilder(xs: list[float], n: int) -> list[float | None]:
    out: list[float | None] = []
    value = None
    for i in range(len(xs)):
        if i + 1 < n:
            out.append(None)
            continue
        value = sum(xs[:n]) / n if i + 1 == n else value + (xs[i] - value) / n
        out.append(value)
    return out


def true_ranges(bars: list[Bar]) -> list[float]:
    trs = [bars[0].high - bars[0].low]
    for prev, b in itertools.pairwise(bars):
        trs.append(max(b.high - b.low, abs(b.high - prev.close), abs(b.low - prev.close)))
    return trs


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_ema_matches_its_definition() -> None:
    ema = Ema(10)
    assert all(close(ema.update(x), r) for x, r in zip(CLOSES, ref_ema(CLOSES, 10), strict=True))


def test_atr_is_wilder_smoothed_true_range() -> None:
    atr = Atr(14)
    expected = ref_wilder(true_ranges(BARS), 14)
    assert all(close(atr.update(b), r) for b, r in zip(BARS, expected, strict=True))


def test_rsi_matches_wilder_averages_of_gains_and_losses() -> None:
    rsi = Rsi(14)
    got = [rsi.update(x) for x in CLOSES]
    changes = [b - a for a, b in itertools.pairwise(CLOSES)]
    gains = ref_wilder([max(c, 0) for c in changes], 14)
    losses = ref_wilder([max(-c, 0) for c in changes], 14)
    expected = [None] + [
        None if g is None else 100 - 100 / (1 + g / lo) for g, lo in zip(gains, losses, strict=True)
    ]
    assert all(close(a, b) for a, b in zip(got, expected, strict=True))
    assert got[13] is None and got[14] is not None


def test_macd_histogram_is_line_minus_signal() -> None:
    macd = Macd(12, 26, 9)
    got = [macd.update(x) for x in CLOSES]
    fast, slow = ref_ema(CLOSES, 12), ref_ema(CLOSES, 26)
    line = [f - s for f, s in zip(fast, slow, strict=True) if s is not None and f is not None]
    signal = ref_ema(line, 9)
    expected = [None] * 25 + [
        None if s is None else m - s for m, s in zip(line, signal, strict=True)
    ]
    assert all(close(a, b) for a, b in zip(got, expected, strict=True))


def test_bollinger_width_over_a_long_run_stays_exact() -> None:
    bb = BollingerWidth(20, 2.0)
    drifting = [1e5 + 1e3 * math.sin(i / 7) + i for i in range(3000)]
    for i, x in enumerate(drifting):
        got = bb.update(x)
        if i >= 19:
            window = drifting[i - 19 : i + 1]
            expected = 4 * statistics.pstdev(window) / statistics.fmean(window)
            assert got == pytest.approx(expected, rel=1e-9)


def test_adx_matches_wilders_recipe() -> None:
    n = 14
    adx = Adx(n)
    got = [adx.update(b) for b in BARS]
    trs, plus_dm, minus_dm = [], [], []
    for prev, b in itertools.pairwise(BARS):
        up, down = b.high - prev.high, prev.low - b.low
        plus_dm.append(up if up > down and up > 0 else 0.0)
        minus_dm.append(down if down > up and down > 0 else 0.0)
        trs.append(max(b.high - b.low, abs(b.high - prev.close), abs(b.low - prev.close)))
    s_tr, s_p, s_m = (ref_wilder(x, n) for x in (trs, plus_dm, minus_dm))
    dx = []
    for t, p, m in zip(s_tr, s_p, s_m, strict=True):
        if t is None:
            continue
        pdi, mdi = 100 * p / t, 100 * m / t
        dx.append(100 * abs(pdi - mdi) / (pdi + mdi))
    expected = [None] * n + ref_wilder(dx, n)
    assert all(close(a, b) for a, b in zip(got, expected, strict=True))
    assert 0 <= got[-1] <= 100


def test_volume_ratio_compares_with_the_bars_before() -> None:
    ratio = VolumeRatio(5)
    volumes = [b.volume for b in BARS]
    for i, v in enumerate(volumes):
        got = ratio.update(v)
        if i < 5:
            assert got is None
        else:
            assert got == pytest.approx(v / statistics.fmean(volumes[i - 5 : i]), rel=1e-12)


def test_rolling_extremes_are_those_of_the_previous_bars() -> None:
    extremes = RollingExtremes(20)
    for i, b in enumerate(BARS):
        got = extremes.update(b)
        if i < 20:
            assert got is None
        else:
            window = BARS[i - 20 : i]
            assert got == (max(w.high for w in window), min(w.low for w in window))


def test_indicator_set_keeps_bounded_state_and_reports_nan_while_warming_up() -> None:
    params = IndicatorParams()
    indicators = IndicatorSet(params)
    first = indicators.update(BARS[0])
    assert math.isnan(first.ema_slow) and math.isnan(first.adx)
    for b in walk(5000, seed=2):
        snap = indicators.update(b)
    assert not any(math.isnan(v) for v in snap[1:])
    # Windows never outgrow their period: memory is O(1) per symbol and interval.
    assert len(indicators._range._highs) <= params.range_period
    assert len(indicators._volume._window) == params.volume
    assert len(indicators._bb._moments._window) == params.bollinger
