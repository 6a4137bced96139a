"""The figures of a whole run's report (`slt simulate`, `slt evaluate`). Pure: no I/O.

Conventions, so that every figure can be checked by hand:

- Equity is realised: the starting wallet plus the net P&L (fees included) of the trades closed
  so far. Open positions are not marked to market (a simulation closes them all at the end).
- Daily returns are the change of that equity from one UTC day's end to the next over every day
  of the run, trading or not. Sharpe is mean / standard deviation (sample, n-1) of the daily
  returns, Sortino mean / downside deviation (root mean square of the negative returns over all
  days), both with a risk-free rate of 0 and annualised by sqrt(365) (crypto trades every day).
  CAGR is (final / start) ^ (365 / days) - 1; Calmar is CAGR / max drawdown.
- Max drawdown is the largest fall of the equity from its running peak, taken after each
  trade, in USDT and as a fraction of that peak.
- A trade's profit % is its net P&L over its entry notional (qty x entry price).
- Exposure is the share of the run's time with at least one position open.
- Market change is buy and hold: a pair's last price over its first in the run, minus 1; for
  the run, the mean over the pairs (an equal-weight basket bought at the start).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from slt.domain.values import DAY_MS
from slt.ports.store import TradeRecord

ZERO = Decimal(0)
ANNUAL_DAYS = 365


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """A symbol's prices over the run (bar closes, or sampled quotes), time-ordered."""

    symbol: str
    times_ms: tuple[int, ...]
    prices: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class DataGap:
    """Bars missing from a klines file: none opened in [start_ms, end_ms)."""

    symbol: str
    start_ms: int
    end_ms: int
    missing_bars: int


@dataclass(frozen=True, slots=True)
class GroupRow:
    """Trades grouped by pair, month, exit reason or side."""

    key: str
    trades: int
    wins: int
    draws: int
    losses: int
    net_pnl: Decimal
    fees: Decimal
    avg_profit_pct: float
    avg_duration_ms: int

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else 0.0


@dataclass(frozen=True, slots=True)
class DurationRow:
    kind: str  # winners, draws, losers, all
    trades: int
    shortest_ms: int
    average_ms: int
    longest_ms: int


@dataclass(frozen=True, slots=True)
class Ratios:
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    cagr: float | None


@dataclass(frozen=True, slots=True)
class RunReport:
    title: str
    start_ms: int
    end_ms: int
    symbols: tuple[str, ...]
    start_wallet: Decimal
    final_wallet: Decimal
    trades: tuple[TradeRecord, ...]
    wins: int
    draws: int
    losses: int
    fees: Decimal
    profit_factor: float | None
    expectancy: Decimal  # net P&L per trade
    avg_profit_pct: float
    best_trade: TradeRecord | None
    worst_trade: TradeRecord | None
    max_wins_in_row: int
    max_losses_in_row: int
    max_drawdown: Decimal
    max_drawdown_pct: float
    drawdown_peak_ms: int | None
    drawdown_trough_ms: int | None
    exposure: float
    max_open: int
    ratios: Ratios
    days: int
    winning_days: int
    losing_days: int
    best_day: tuple[int, Decimal] | None  # (day end, change of equity that day)
    worst_day: tuple[int, Decimal] | None
    min_balance: Decimal
    max_balance: Decimal
    volume: Decimal  # entry plus exit notional of every trade
    market_change: float | None
    market_change_by_symbol: tuple[tuple[str, float], ...]
    per_symbol: tuple[GroupRow, ...]
    per_month: tuple[GroupRow, ...]
    per_exit: tuple[GroupRow, ...]
    per_side: tuple[GroupRow, ...]
    durations: tuple[DurationRow, ...]
    equity: tuple[tuple[int, Decimal], ...]  # (time, realised equity) from the start on
    daily_equity: tuple[tuple[int, Decimal], ...]  # (day end, equity) for each day
    buy_and_hold: tuple[tuple[int, float], ...]  # (day end, basket value / start value)
    gaps: tuple[DataGap, ...]
    funding: str = ""  # what the positions paid in funding, and at which rates

    @property
    def count(self) -> int:
        return len(self.trades)

    @property
    def net_pnl(self) -> Decimal:
        return self.final_wallet - self.start_wallet

    @property
    def total_return(self) -> float:
        return float(self.net_pnl / self.start_wallet)

    @property
    def win_rate(self) -> float:
        return self.wins / self.count if self.count else 0.0


def month_name(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m")


def profit_pct(t: TradeRecord) -> float:
    notional = t.qty * t.entry_price
    return float(t.pnl / notional) if notional else 0.0


def build_run_report(
    title: str,
    start_ms: int,
    end_ms: int,
    *,
    start_wallet: Decimal,
    trades: Iterable[TradeRecord],
    prices: Mapping[str, PriceSeries],
    gaps: Sequence[DataGap] = (),
    symbols: Sequence[str] = (),
    funding: str = "",
) -> RunReport:
    """`trades` in closing order; `prices` per symbol for market change and buy and hold."""
    run = tuple(trades)
    pnls = [t.pnl for t in run]
    equity = _equity(start_ms, start_wallet, run)
    worst, worst_pct, peak_ms, trough_ms = _drawdown(equity)
    daily = _daily_equity(start_ms, end_ms, start_wallet, run)
    returns = [float(b / a - 1) for (_, a), (_, b) in itertools.pairwise(daily) if a > 0]
    gross_win = sum((p for p in pnls if p > 0), ZERO)
    gross_loss = -sum((p for p in pnls if p < 0), ZERO)
    changes = _market_changes(prices, start_ms, end_ms)
    final = start_wallet + sum(pnls, ZERO)
    day_changes = [(b_ts, b - a) for (_, a), (b_ts, b) in itertools.pairwise(daily)]
    days = max(1, math.ceil((end_ms - start_ms) / DAY_MS))
    return RunReport(
        title=title,
        start_ms=start_ms,
        end_ms=end_ms,
        symbols=tuple(symbols) or tuple(sorted({t.symbol for t in run})),
        start_wallet=start_wallet,
        final_wallet=final,
        trades=run,
        wins=sum(1 for p in pnls if p > 0),
        draws=sum(1 for p in pnls if p == 0),
        losses=sum(1 for p in pnls if p < 0),
        fees=sum((t.fees for t in run), ZERO),
        profit_factor=float(gross_win / gross_loss) if gross_loss else None,
        expectancy=sum(pnls, ZERO) / len(run) if run else ZERO,
        avg_profit_pct=_mean([profit_pct(t) for t in run]),
        best_trade=max(run, key=lambda t: t.pnl, default=None),
        worst_trade=min(run, key=lambda t: t.pnl, default=None),
        max_wins_in_row=_longest_run(p > 0 for p in pnls),
        max_losses_in_row=_longest_run(p < 0 for p in pnls),
        max_drawdown=worst,
        max_drawdown_pct=worst_pct,
        drawdown_peak_ms=peak_ms,
        drawdown_trough_ms=trough_ms,
        exposure=_exposure(run, start_ms, end_ms),
        max_open=_max_open(run),
        ratios=_ratios(returns, float(final / start_wallet), days, worst_pct),
        days=days,
        winning_days=sum(1 for r in returns if r > 0),
        losing_days=sum(1 for r in returns if r < 0),
        best_day=max(day_changes, key=lambda d: d[1], default=None),
        worst_day=min(day_changes, key=lambda d: d[1], default=None),
        min_balance=min(v for _, v in equity),
        max_balance=max(v for _, v in equity),
        volume=sum((t.qty * (t.entry_price + t.exit_price) for t in run), ZERO),
        market_change=_mean(list(changes.values())) if changes else None,
        market_change_by_symbol=tuple(sorted(changes.items())),
        per_symbol=_grouped(run, lambda t: t.symbol),
        per_month=_grouped(run, lambda t: month_name(t.close_ms)),
        per_exit=_grouped(run, lambda t: t.exit_reason),
        per_side=_grouped(run, lambda t: t.side),
        durations=_durations(run),
        equity=equity,
        daily_equity=daily,
        buy_and_hold=_buy_and_hold(prices, daily),
        gaps=tuple(gaps),
        funding=funding,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _equity(
    start_ms: int, wallet: Decimal, trades: Sequence[TradeRecord]
) -> tuple[tuple[int, Decimal], ...]:
    points = [(start_ms, wallet)]
    for t in trades:
        wallet += t.pnl
        points.append((t.close_ms, wallet))
    return tuple(points)


def _drawdown(
    equity: Sequence[tuple[int, Decimal]],
) -> tuple[Decimal, float, int | None, int | None]:
    """Largest fall from the running peak: USDT, fraction of the peak, peak and trough times."""
    peak_ms, peak = equity[0]
    worst, worst_pct = ZERO, 0.0
    at: tuple[int | None, int | None] = (None, None)
    for ts, value in equity:
        if value > peak:
            peak_ms, peak = ts, value
        if peak - value > worst:
            worst = peak - value
            worst_pct = float(worst / peak) if peak > 0 else 0.0
            at = (peak_ms, ts)
    return worst, worst_pct, at[0], at[1]


def _daily_equity(
    start_ms: int, end_ms: int, wallet: Decimal, trades: Sequence[TradeRecord]
) -> tuple[tuple[int, Decimal], ...]:
    """Equity at the start, then at each UTC day's end (the run's end for the last day)."""
    points = [(start_ms, wallet)]
    pending = iter(trades)
    upcoming = next(pending, None)
    day_end = start_ms - start_ms % DAY_MS + DAY_MS
    while True:
        cut = min(day_end, end_ms)
        # The last point takes every remaining trade, so it always equals the final wallet.
        while upcoming is not None and (upcoming.close_ms < cut or cut >= end_ms):
            wallet += upcoming.pnl
            upcoming = next(pending, None)
        points.append((cut, wallet))
        if cut >= end_ms:
            return tuple(points)
        day_end += DAY_MS


def _ratios(returns: Sequence[float], growth: float, days: int, drawdown: float) -> Ratios:
    n = len(returns)
    mean = _mean(returns)
    sharpe = sortino = None
    if n >= 2:
        std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
        sharpe = mean / std * math.sqrt(ANNUAL_DAYS) if std > 0 else None
    if n:
        downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
        sortino = mean / downside * math.sqrt(ANNUAL_DAYS) if downside > 0 else None
    cagr = growth ** (ANNUAL_DAYS / days) - 1 if growth > 0 else None
    calmar = cagr / drawdown if cagr is not None and drawdown > 0 else None
    return Ratios(sharpe, sortino, calmar, cagr)


def _longest_run(flags: Iterable[bool]) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def _exposure(trades: Sequence[TradeRecord], start_ms: int, end_ms: int) -> float:
    """Share of [start_ms, end_ms) covered by the union of the trades' open intervals."""
    if end_ms <= start_ms:
        return 0.0
    covered = 0
    reach = start_ms
    for t in sorted(trades, key=lambda t: t.open_ms):
        lo, hi = max(t.open_ms, reach), min(t.close_ms, end_ms)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return covered / (end_ms - start_ms)


def _max_open(trades: Sequence[TradeRecord]) -> int:
    # A close at the very moment of another's open frees its slot first.
    moves = sorted([(t.open_ms, 1) for t in trades] + [(t.close_ms, -1) for t in trades])
    most = current = 0
    for _, step in moves:
        current += step
        most = max(most, current)
    return most


def _grouped(
    trades: Sequence[TradeRecord], key: Callable[[TradeRecord], str]
) -> tuple[GroupRow, ...]:
    groups: dict[str, list[TradeRecord]] = defaultdict(list)
    for t in trades:
        groups[key(t)].append(t)
    return tuple(_group_row(name, ts) for name, ts in sorted(groups.items()))


def _group_row(name: str, trades: Sequence[TradeRecord]) -> GroupRow:
    outcomes = Counter((t.pnl > 0) - (t.pnl < 0) for t in trades)
    return GroupRow(
        key=name,
        trades=len(trades),
        wins=outcomes[1],
        draws=outcomes[0],
        losses=outcomes[-1],
        net_pnl=sum((t.pnl for t in trades), ZERO),
        fees=sum((t.fees for t in trades), ZERO),
        avg_profit_pct=_mean([profit_pct(t) for t in trades]),
        avg_duration_ms=sum(t.close_ms - t.open_ms for t in trades) // len(trades),
    )


def _durations(trades: Sequence[TradeRecord]) -> tuple[DurationRow, ...]:
    kinds = (
        ("winners", [t for t in trades if t.pnl > 0]),
        ("draws", [t for t in trades if t.pnl == 0]),
        ("losers", [t for t in trades if t.pnl < 0]),
        ("all", list(trades)),
    )
    rows = []
    for kind, group in kinds:
        spans = [t.close_ms - t.open_ms for t in group]
        if spans:
            rows.append(DurationRow(kind, len(spans), min(spans), sum(spans) // len(spans),
                                    max(spans)))
    return tuple(rows)


def _market_changes(
    prices: Mapping[str, PriceSeries], start_ms: int, end_ms: int
) -> dict[str, float]:
    changes = {}
    for symbol, series in prices.items():
        inside = [p for ts, p in zip(series.times_ms, series.prices, strict=True)
                  if start_ms <= ts < end_ms]
        if len(inside) >= 2 and inside[0] > 0:
            changes[symbol] = inside[-1] / inside[0] - 1
    return changes


def _buy_and_hold(
    prices: Mapping[str, PriceSeries], daily: Sequence[tuple[int, Decimal]]
) -> tuple[tuple[int, float], ...]:
    """An equal-weight basket of the pairs bought at the run's start: its value relative to the
    start at each point of `daily`, from each pair's last price before that point."""
    if not prices or not daily:
        return ()
    start = daily[0][0]
    cuts = [ts for ts, _ in daily]
    per_symbol = []
    for series in prices.values():
        values = _last_before(series, cuts, start)
        if values is not None:
            per_symbol.append(values)
    if not per_symbol:
        return ()
    return tuple(
        (ts, sum(v[i] for v in per_symbol) / len(per_symbol)) for i, ts in enumerate(cuts)
    )


def _last_before(series: PriceSeries, cuts: Sequence[int], start: int) -> list[float] | None:
    """The series' last price at or before each cut, relative to its first price at or after
    `start`; None if the series has no price in the run."""
    pairs = [(ts, p) for ts, p in zip(series.times_ms, series.prices, strict=True) if ts >= start]
    if not pairs or pairs[0][1] <= 0:
        return None
    first = pairs[0][1]
    values, i, last = [], 0, first
    for cut in cuts:
        while i < len(pairs) and pairs[i][0] <= cut:
            last = pairs[i][1]
            i += 1
        values.append(last / first)
    return values
