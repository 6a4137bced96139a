"""The feature vector: every feature documented in the one table, and computed as it says."""

from __future__ import annotations

import math
import re

import pytest

import slt.application.learner.features as features_module
from slt.application.learner.features import FEATURE_NAMES, feature_vector
from slt.domain.indicators import Snapshot
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Quote

NAN = float("nan")
NOON_SATURDAY = 1_764_979_200_000 + 12 * 3_600_000  # 2025-12-06 is a Saturday


def documented() -> set[str]:
    names: set[str] = set()
    for cell in re.findall(r"^\| (`[^|]*`)", features_module.__doc__ or "", re.MULTILINE):
        for name in re.findall(r"`([^`]+)`", cell):
            braces = re.fullmatch(r"\{([^}]*)\}_(\w+)", name)
            if braces:
                names.update(f"{role}_{braces.group(2)}" for role in braces.group(1).split(","))
            else:
                names.add(name)
    return names


def test_every_feature_is_documented_in_the_table_and_nothing_else() -> None:
    assert documented() == set(FEATURE_NAMES)
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))


def snap(close: float = 100.0, **kw: float) -> Snapshot:
    values = dict(
        open_ms=0, close=close, ema_fast=101.0, ema_slow=99.0, atr=2.0, atr_slow=1.0, rsi=60.0,
        macd_hist=0.5, bb_width=0.04, adx=30.0, plus_di=25.0, minus_di=15.0, volume_ratio=1.5,
        volume_mean=40.0, range_high=104.0, range_low=96.0, bars=500,
    )
    values.update(kw)
    return Snapshot(**values)  # type: ignore[arg-type]


def candidate(direction: Direction, trigger: str = "breakout") -> Candidate:
    return Candidate("BTCUSDT", direction, 0, 100.0, 5.0, 2.0, 4.0, trigger=trigger)


def vector(direction: Direction, snaps: tuple, trigger: str = "breakout") -> dict[str, float]:
    quote = Quote("BTCUSDT", NOON_SATURDAY, 99.95, 3.0, 100.05, 5.0)
    btc = snap(close=98.0)
    values = feature_vector(
        candidate(direction, trigger), snaps, quote, 0.0005, NOON_SATURDAY, btc
    )
    return dict(zip(FEATURE_NAMES, values, strict=True))


def test_features_are_computed_as_documented() -> None:
    f = vector(Direction.LONG, (snap(), snap(), snap(close=102.0)))
    assert f["tf_trend"] == pytest.approx(1.0)  # (101 - 99) / 2
    assert f["tf_rsi"] == pytest.approx(10.0)
    assert f["tf_macd"] == pytest.approx(0.25)
    assert f["tf_di"] == pytest.approx(10.0)
    assert f["tf_range_pos"] == pytest.approx(0.5)
    assert f["htf_range_pos"] == pytest.approx(0.75)
    assert f["vol_regime"] == pytest.approx(2.0)
    assert f["htf_regime"] == pytest.approx(1.5)  # (102 - 99) / 2
    assert f["btc_regime"] == pytest.approx(-0.5)  # (98 - 99) / 2: BTC against the long
    assert f["cost_r"] == pytest.approx((2 * 0.0005 * 100.05 + 0.1) / 5.0)
    assert f["hour_sin"] == pytest.approx(0.0, abs=1e-12) and f["hour_cos"] == pytest.approx(-1)
    assert f["weekend"] == 1.0 and f["is_long"] == 1.0 and f["breakout"] == 1.0
    assert f["reversion"] == 0.0 and f["target_r"] == 2.0


def test_directional_features_flip_with_the_side_and_the_rest_do_not() -> None:
    snaps = (snap(), snap(), snap(close=102.0))
    long, short = vector(Direction.LONG, snaps), vector(Direction.SHORT, snaps, "cross")
    for role in ("ltf", "tf", "htf"):
        for name in ("trend", "rsi", "macd", "di"):
            assert short[f"{role}_{name}"] == pytest.approx(-long[f"{role}_{name}"])
        assert short[f"{role}_range_pos"] == pytest.approx(1 - long[f"{role}_range_pos"])
        for name in ("bb_width", "adx", "volume"):
            assert short[f"{role}_{name}"] == long[f"{role}_{name}"]
    assert short["is_long"] == 0.0 and short["breakout"] == 0.0
    assert short["btc_regime"] == pytest.approx(-long["btc_regime"])


def test_missing_intervals_and_warming_indicators_are_nan() -> None:
    f = vector(Direction.LONG, (None, snap(ema_slow=NAN), None))
    assert all(math.isnan(f[f"ltf_{n}"]) for n in ("trend", "rsi", "adx"))
    assert math.isnan(f["tf_trend"]) and math.isnan(f["htf_regime"])
    assert f["tf_rsi"] == pytest.approx(10.0)


def test_no_feature_reads_the_size_at_the_touch_or_a_spread_constant_under_klines() -> None:
    # A kline replay's closing quote carries the next bar's volume: no feature may change
    # with the quote's sizes; and with the spread fixed in bps, nothing but cost_r sees it.
    snaps = (snap(), snap(), snap(close=102.0))
    c = candidate(Direction.LONG)
    a = feature_vector(c, snaps, Quote("BTCUSDT", 0, 99.95, 3.0, 100.05, 5.0), 0.0005, 0)
    b = feature_vector(c, snaps, Quote("BTCUSDT", 0, 99.95, 900.0, 100.05, 1.0), 0.0005, 0)
    assert [x for x in a if not math.isnan(x)] == [x for x in b if not math.isnan(x)]
    assert not {"spread_bps", "spread_r", "atr_pct", "depth_ratio"} & set(FEATURE_NAMES)


def test_funding_is_signed_so_plus_favours_the_trade_and_nan_when_unknown() -> None:
    quote = Quote("BTCUSDT", NOON_SATURDAY, 99.95, 3.0, 100.05, 5.0)
    snaps = (snap(), snap(), snap())

    def funding(direction: Direction, rate: float | None) -> float:
        values = feature_vector(
            candidate(direction), snaps, quote, 0.0005, NOON_SATURDAY, None, rate
        )
        return dict(zip(FEATURE_NAMES, values, strict=True))["funding"]

    # A positive rate: longs pay (against a long), shorts receive; in basis points.
    assert funding(Direction.LONG, 0.0001) == pytest.approx(-1.0)
    assert funding(Direction.SHORT, 0.0001) == pytest.approx(1.0)
    assert funding(Direction.LONG, -0.0003) == pytest.approx(3.0)
    assert math.isnan(funding(Direction.LONG, None))
