"""Walk-forward evaluation: folds, per-fold metrics of each policy, and the table.

The data span is cut into N consecutive folds of equal length. Each policy is simulated once
over the whole span (so indicators and open positions carry across fold boundaries as they
would live):

* `rules`: every rule candidate that the risk limits allow is taken;
* `model`: the self-learning trader, retrained exactly at each fold boundary on every outcome
  closed before it (folds 1..k) and gated by that model on fold k+1 if the model passed its
  own walk-forward validation; otherwise the rules decide that fold.

Fold 1 only trains: no model exists yet, so both policies trade it identically. The totals are
over folds 2..N, the out-of-sample part. A trade belongs to the fold in which it was opened.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from slt.ports.store import TradeRecord

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Fold:
    index: int  # 1-based
    start_ms: int
    end_ms: int  # exclusive

    @property
    def role(self) -> str:
        return "train" if self.index == 1 else "test"


def make_folds(start_ms: int, end_ms: int, n: int) -> list[Fold]:
    """N folds of equal length in whole days (whole hours for less than a day each); what is
    left after the last fold is not used, so that every retraining falls on a boundary."""
    if n < 2:
        raise ValueError("--folds must be at least 2: one to train on, one to test")
    length = (end_ms - start_ms) // n
    unit = DAY_MS if length >= DAY_MS else HOUR_MS
    length -= length % unit
    if length <= 0:
        raise ValueError(f"{n} folds need at least {n} hours of data")
    return [Fold(k + 1, start_ms + k * length, start_ms + (k + 1) * length) for k in range(n)]


@dataclass(frozen=True, slots=True)
class Metrics:
    trades: int
    win_rate: float
    expectancy_r: float  # mean R multiple per trade
    profit_factor: float  # gross profit / gross loss; inf without a loss
    max_drawdown: float  # USDT, peak to trough of the fold's realised P&L
    net_pnl: float  # USDT, after fees


def metrics(trades: Sequence[TradeRecord], r_by_position: Mapping[int, float]) -> Metrics:
    pnls = [t.pnl for t in trades]
    gains = sum((p for p in pnls if p > 0), Decimal(0))
    losses = -sum((p for p in pnls if p < 0), Decimal(0))
    rs = [r_by_position[t.position_id] for t in trades if t.position_id in r_by_position]
    equity = peak = worst = Decimal(0)
    for p in pnls:
        equity += p
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return Metrics(
        trades=len(trades),
        win_rate=sum(1 for p in pnls if p > 0) / len(pnls) if pnls else 0.0,
        expectancy_r=sum(rs) / len(rs) if rs else 0.0,
        profit_factor=float(gains / losses) if losses else (math.inf if gains else 0.0),
        max_drawdown=float(worst),
        net_pnl=float(sum(pnls, Decimal(0))),
    )


@dataclass(frozen=True, slots=True)
class Row:
    fold: str  # "1".."N" or "total"
    role: str  # train, test, or "out of sample" for the totals
    start: str
    end: str
    policy: str
    model: str  # version live in the fold ("-": rules decide)
    metrics: Metrics

    def flat(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("metrics"))
        return d


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """How well the scores of the model policy's run ranked every candidate of a fold (real
    and virtual outcomes alike), as recorded at decision time."""

    fold: int
    scored: int  # candidates with a score (a model existed)
    mean_r_all: float
    taken_by_gate: int  # score above the threshold
    mean_r_gate: float
    mean_r_rest: float
    rank_corr: float


def fold_of(folds: Sequence[Fold], ts_ms: int) -> Fold | None:
    for fold in folds:
        if fold.start_ms <= ts_ms < fold.end_ms:
            return fold
    return None


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def policy_rows(
    policy: str,
    folds: Sequence[Fold],
    trades: Sequence[TradeRecord],
    outcomes: Sequence[Mapping[str, Any]],
    live_by_fold: Mapping[int, int],
) -> list[Row]:
    """One row per fold and the out-of-sample total for one policy's run."""
    r_by_position = {o["ref"]: o["r_multiple"] for o in outcomes if not o["virtual"]}
    rows = []
    for fold in folds:
        mine = [t for t in trades if fold.start_ms <= t.open_ms < fold.end_ms]
        version = live_by_fold.get(fold.index, 0)
        rows.append(
            Row(
                str(fold.index),
                fold.role,
                iso(fold.start_ms),
                iso(fold.end_ms),
                policy,
                str(version) if version else "-",
                metrics(mine, r_by_position),
            )
        )
    tests = [f for f in folds if f.role == "test"]
    oos = [t for t in trades if tests[0].start_ms <= t.open_ms < tests[-1].end_ms]
    rows.append(
        Row(
            "total",
            "out of sample",
            iso(tests[0].start_ms),
            iso(tests[-1].end_ms),
            policy,
            "",
            metrics(oos, r_by_position),
        )
    )
    return rows


def diagnostics(
    folds: Sequence[Fold], outcomes: Sequence[Mapping[str, Any]], threshold: float
) -> list[Diagnostics]:
    from scipy.stats import spearmanr

    result = []
    for fold in folds:
        scored = [
            (o["score"], o["r_multiple"])
            for o in outcomes
            if o["score"] is not None and fold.start_ms <= o["decision_ms"] < fold.end_ms
        ]
        if not scored:
            continue
        rs = [r for _, r in scored]
        gate = [r for s, r in scored if s > threshold]
        rest = [r for s, r in scored if s <= threshold]
        varied = len({s for s, _ in scored}) > 1 and len(set(rs)) > 1
        result.append(
            Diagnostics(
                fold=fold.index,
                scored=len(scored),
                mean_r_all=_mean(rs),
                taken_by_gate=len(gate),
                mean_r_gate=_mean(gate),
                mean_r_rest=_mean(rest),
                rank_corr=float(spearmanr([s for s, _ in scored], rs).statistic)
                if varied
                else math.nan,
            )
        )
    return result


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


COLUMNS = (
    ("fold", "fold", "{}"),
    ("role", "role", "{}"),
    ("start", "start", "{}"),
    ("policy", "policy", "{}"),
    ("model", "model", "{}"),
    ("trades", "trades", "{}"),
    ("win_rate", "win rate", "{:.1%}"),
    ("expectancy_r", "exp. R", "{:+.3f}"),
    ("profit_factor", "PF", "{:.2f}"),
    ("max_drawdown", "max DD", "{:.2f}"),
    ("net_pnl", "net P&L", "{:+.2f}"),
)


def render_table(rows: Sequence[Row]) -> str:
    cells = [[label for _, label, _ in COLUMNS]]
    for row in rows:
        flat = row.flat()
        cells.append([fmt.format(flat[key]) for key, _, fmt in COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_diagnostics(diags: Sequence[Diagnostics]) -> str:
    head = "fold  scored  mean R  gate n  gate R  rest R  rank corr"
    lines = [head]
    for d in diags:
        lines.append(
            f"{d.fold:>4}  {d.scored:>6}  {d.mean_r_all:+.3f}  {d.taken_by_gate:>6}  "
            f"{d.mean_r_gate:+.3f}  {d.mean_r_rest:+.3f}  {d.rank_corr:+.3f}"
        )
    return "\n".join(lines)


def table_csv(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    flats = [row.flat() for row in rows]
    writer = csv.DictWriter(buf, fieldnames=list(flats[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flats)
    return buf.getvalue()
