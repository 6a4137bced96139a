"""The feature vector of a candidate, recorded at decision time. THE feature table.

Every feature is computed from data available when the trading cycle decides: the snapshots of
the last CLOSED bar of each interval (never the forming one), the latest quote in the quote
cache, and the clock. Directional features are signed by the candidate's direction (`dir` =
+1 long, -1 short), so that + always means "in favour of the trade" and one model serves both
sides. Prices enter only as ratios (to the ATR, to the price, to the stop distance), so values
compare across symbols. A feature whose indicator is still warming up is NaN (the model handles
missing values natively).

Intervals: `ltf` is the lower context interval (`learner.lower_interval`, default 5m), `tf` the
decision interval (`interval`, default 15m), `htf` the higher one (`learner.higher_interval`,
default 1h). Indicator periods: EMA fast/slow `strategy.fast`/`strategy.slow` (20/50), ATR
`strategy.atr_period` (14), RSI 14, MACD 12/26/9, Bollinger 20 bars x 2 sigma, ADX 14, volume
and range windows 20 bars (range: `strategy.breakout`).

| feature                  | definition: meaning                                                 |
|--------------------------|---------------------------------------------------------------------|
| `{ltf,tf,htf}_trend`     | (EMA fast - EMA slow) / ATR * dir: trend strength in ATRs           |
| `{ltf,tf,htf}_rsi`       | (RSI - 50) * dir: momentum                                          |
| `{ltf,tf,htf}_macd`      | MACD histogram / ATR * dir: momentum acceleration                   |
| `{ltf,tf,htf}_bb_width`  | Bollinger (upper - lower) / middle: volatility relative to price    |
| `{ltf,tf,htf}_adx`       | ADX, 0..100: trend strength, unsigned                               |
| `{ltf,tf,htf}_di`        | (+DI - -DI) * dir: directional movement                             |
| `{ltf,tf,htf}_volume`    | bar volume / mean volume of the 20 bars before: activity surge      |
| `{ltf,tf,htf}_range_pos` | close within the previous 20 bars' low..high, from the low for a    |
|                          | long, from the high for a short: market structure (> 1: breakout)   |
| `vol_regime`             | ATR(tf) / EMA100 of ATR(tf): volatility regime (> 1: expanding)     |
| `htf_regime`             | (close(htf) - EMA slow(htf)) / ATR(htf) * dir: higher-interval      |
|                          | regime, with (+) or against (-) the trade                           |
| `btc_regime`             | the same for BTCUSDT's higher interval: the market's regime (NaN    |
|                          | when BTCUSDT is not traded)                                         |
| `cost_r`                 | (2 * taker fee * entry + spread) / stop distance: round trip in R;  |
|                          | also stands for volatility over price (ATR / close), which it is    |
|                          | a function of under kline data                                      |
| `hour_sin`, `hour_cos`   | sin, cos of 2 pi * (UTC hour of day) / 24: time of day              |
| `weekend`                | 1 on Saturday and Sunday (UTC), else 0: weekly cycle                |
| `is_long`                | 1 long, 0 short                                                     |
| `breakout`               | 1 if a range breakout fired the rule, 0 for an EMA cross            |
| `reversion`              | 1 for a mean-reversion candidate, 0 for a trend one                 |
| `target_r`               | the exit plan's target in R (reward:risk): which plan is labelled   |
| `funding`                | -(last settled funding rate) * dir, in basis points: what holding   |
|                          | the position earns per funding (+: the trade receives). Known from  |
|                          | its settlement time on; NaN without funding data (see below)        |

Left out on purpose: the spread in basis points (a constant in kline replays), the spread and
ATR over price apart from `cost_r` (under klines all of them are one function of ATR / price,
four copies of one signal), and the size at the touch over volume: in a kline replay the quote
at a bar's close carries a quarter of the NEXT bar's volume, a look-ahead that means something
else live.

Funding comes from the FundingHistory port (slt.ports.funding_rates): in a simulation the
`fundingRate` files among `--data` (a rate is used from its `calc_time` on); live the settled
rates of GET /fapi/v1/fundingRate, refreshed every 10 minutes (not the markPrice stream's `r`,
which estimates the coming settlement). A rate more than a day old, or none, is NaN: the bundled
data carry no funding files, so there it is NaN throughout. Open interest and basis are not in
the vector: none of the sources a simulation reads (klines, bookTicker, aggTrades, fundingRate
archives) carries them, and a live-only feature would be NaN in every training sample.

The outcome that labels a vector (see `slt.application.learner.samples`) is added only when its
position, real or virtual, has closed.
"""

from __future__ import annotations

import math

from slt.domain.indicators import Snapshot
from slt.domain.strategy import Candidate
from slt.domain.values import DAY_MS, HOUR_MS, Quote

NAN = float("nan")
INTERVAL_ROLES = ("ltf", "tf", "htf")
_PER_INTERVAL = ("trend", "rsi", "macd", "bb_width", "adx", "di", "volume", "range_pos")
_GLOBAL = (
    "vol_regime",
    "htf_regime",
    "btc_regime",
    "cost_r",
    "hour_sin",
    "hour_cos",
    "weekend",
    "is_long",
    "breakout",
    "reversion",
    "target_r",
    "funding",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{role}_{name}" for role in INTERVAL_ROLES for name in _PER_INTERVAL),
    *_GLOBAL,
)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else NAN  # NaN propagates; a zero denominator means "unknown"


def _interval(snap: Snapshot | None, s: int) -> list[float]:
    if snap is None:
        return [NAN] * len(_PER_INTERVAL)
    span = snap.range_high - snap.range_low
    from_low = _ratio(snap.close - snap.range_low, span)
    return [
        _ratio(snap.ema_fast - snap.ema_slow, snap.atr) * s,
        (snap.rsi - 50.0) * s,
        _ratio(snap.macd_hist, snap.atr) * s,
        snap.bb_width,
        snap.adx,
        (snap.plus_di - snap.minus_di) * s,
        snap.volume_ratio,
        from_low if s > 0 else 1.0 - from_low,
    ]


def _regime(snap: Snapshot | None, s: int) -> float:
    return _ratio(snap.close - snap.ema_slow, snap.atr) * s if snap else NAN


def feature_vector(
    candidate: Candidate,
    snaps: tuple[Snapshot | None, Snapshot | None, Snapshot | None],
    quote: Quote,
    fee_rate: float,
    now_ms: int,
    btc: Snapshot | None = None,
    funding_rate: float | None = None,
) -> tuple[float, ...]:
    """The features of `candidate` in FEATURE_NAMES order. `snaps`: ltf, tf, htf snapshots;
    `btc`: BTCUSDT's higher-interval snapshot, if BTCUSDT is traded; `funding_rate`: the last
    settled funding rate known at `now_ms`, if any."""
    s = candidate.direction.sign
    values: list[float] = []
    for snap in snaps:
        values.extend(_interval(snap, s))
    _, tf, htf = snaps
    spread = quote.ask - quote.bid
    entry = quote.ask if s > 0 else quote.bid
    hour = (now_ms % DAY_MS) / HOUR_MS
    weekday = (now_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
    values.extend(
        (
            _ratio(tf.atr, tf.atr_slow) if tf else NAN,
            _regime(htf, s),
            _regime(btc, s),
            candidate.cost_r(entry, spread, fee_rate),
            math.sin(2 * math.pi * hour / 24),
            math.cos(2 * math.pi * hour / 24),
            1.0 if weekday >= 5 else 0.0,
            1.0 if s > 0 else 0.0,
            1.0 if candidate.trigger == "breakout" else 0.0,
            1.0 if candidate.family.startswith("reversion") else 0.0,
            candidate.reward_risk,
            NAN if funding_rate is None else -funding_rate * s * 1e4,
        )
    )
    return tuple(values)


def named(values: tuple[float, ...]) -> tuple[tuple[str, float], ...]:
    """Pair each value with its name, as a Candidate carries its features."""
    return tuple(zip(FEATURE_NAMES, values, strict=True))
