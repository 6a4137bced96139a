"""A whole run's report (`report.md`, `report.html`), rendered like the daily report: one list
of sections for both formats, the HTML self-contained (inline CSS, charts as data URIs)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from slt.adapters.reporting.render import (
    NA,
    Bullets,
    Chart,
    Section,
    Table,
    html_document,
    markdown_document,
    money,
)
from slt.adapters.reporting.run_charts import equity_and_drawdown_png, price_with_trades_png
from slt.application.reporting.analysis import iso
from slt.application.reporting.run_analysis import (
    DataGap,
    DurationRow,
    GroupRow,
    PriceSeries,
    RunReport,
)

GAPS_LISTED = 10  # the first gaps are listed, the rest counted


@dataclass(frozen=True, slots=True)
class RunReportFiles:
    markdown: Path
    html: Path


def write_run_report(
    report: RunReport, prices: Mapping[str, PriceSeries], out_dir: Path
) -> RunReportFiles:
    """Draw the charts and write `report.md` and `report.html` into `out_dir`."""
    pngs = {"equity": equity_and_drawdown_png(report)}
    span = (report.start_ms, report.end_ms)
    for symbol in report.symbols:
        trades = [t for t in report.trades if t.symbol == symbol]
        pngs[f"price-{symbol}"] = price_with_trades_png(symbol, prices.get(symbol), trades, span)
    parts = run_sections(report)
    md = _replace(out_dir / "report.md", markdown_document(report.title, parts, {}))
    page = _replace(out_dir / "report.html", html_document(report.title, parts, pngs))
    return RunReportFiles(md, page)


def _replace(path: Path, text: str) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


def signed_pct(x: float | None, digits: int = 2) -> str:
    return NA if x is None else f"{x:+.{digits}%}"


def ratio(x: float | None) -> str:
    return NA if x is None else f"{x:.2f}"


def span(ms: int) -> str:
    """A duration as `2d 03:15` or `03:15` (hours:minutes)."""
    minutes = ms // 60_000
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d {hours:02d}:{minutes:02d}" if days else f"{hours:02d}:{minutes:02d}"


def run_sections(r: RunReport) -> list[Section]:
    return [
        Section("", (_summary(r),)),
        Section("Equity and drawdown", (Chart("equity and drawdown", "equity"),)),
        Section("Per pair", (_per_pair(r),)),
        Section("Monthly", (_groups(r.per_month, "month", r),)),
        Section("Exit reasons", (_groups(r.per_exit, "exit reason", r),)),
        Section("Long and short", (_groups(r.per_side, "side", r),)),
        Section("Trade durations", (_durations(r.durations),)),
        Section("Data gaps", (_gaps(r.gaps),)),
        Section(
            "Trades over the price",
            tuple(Chart(f"{s} price with trades", f"price-{s}") for s in r.symbols),
        ),
        Section("How the figures are computed", (_conventions(),)),
    ]


def _summary(r: RunReport) -> Bullets:
    best = r.best_trade
    worst = r.worst_trade
    pairs = sorted(r.per_symbol, key=lambda g: g.net_pnl)
    dd_when = (
        f", from the peak at {iso(r.drawdown_peak_ms)} to {iso(r.drawdown_trough_ms)}"
        if r.drawdown_peak_ms is not None and r.drawdown_trough_ms is not None
        else ""
    )
    return Bullets(
        (
            f"period: {iso(r.start_ms)} .. {iso(r.end_ms)} UTC ({r.days} days)",
            f"pairs: {', '.join(r.symbols) or NA}",
            f"starting balance: {money(r.start_wallet)} USDT; final balance: "
            f"{money(r.final_wallet)} USDT",
            f"net profit: {money(r.net_pnl)} USDT ({signed_pct(r.total_return)}), "
            f"fees paid {money(r.fees)} USDT",
            *([f"funding: {r.funding}"] if r.funding else []),
            f"CAGR: {signed_pct(r.ratios.cagr)}; Sharpe: {ratio(r.ratios.sharpe)}; "
            f"Sortino: {ratio(r.ratios.sortino)}; Calmar: {ratio(r.ratios.calmar)}",
            f"market change (buy and hold of the pairs): {signed_pct(r.market_change)}",
            f"trades: {r.count} ({r.count / r.days:.2f} per day); wins / draws / losses: "
            f"{r.wins} / {r.draws} / {r.losses} (win rate {r.win_rate:.1%})",
            f"profit factor: {ratio(r.profit_factor)}; expectancy: {money(r.expectancy)} USDT "
            f"per trade ({signed_pct(r.avg_profit_pct)} of the notional)",
            "best trade: "
            + (NA if best is None else f"{best.symbol} {money(best.pnl)} USDT")
            + "; worst trade: "
            + (NA if worst is None else f"{worst.symbol} {money(worst.pnl)} USDT"),
            "best pair: "
            + (f"{pairs[-1].key} {money(pairs[-1].net_pnl)} USDT" if pairs else NA)
            + "; worst pair: "
            + (f"{pairs[0].key} {money(pairs[0].net_pnl)} USDT" if pairs else NA),
            f"most wins in a row: {r.max_wins_in_row}; most losses in a row: "
            f"{r.max_losses_in_row}",
            f"max drawdown: {money(r.max_drawdown)} USDT ({r.max_drawdown_pct:.2%}){dd_when}",
            f"exposure: {r.exposure:.1%} of the time with a position open; at most "
            f"{r.max_open} open at once",
            f"days won / lost: {r.winning_days} / {r.losing_days} of {r.days}; best day: "
            f"{_day(r.best_day)}; worst day: {_day(r.worst_day)}",
            f"lowest / highest balance: {money(r.min_balance)} / {money(r.max_balance)} USDT; "
            f"traded volume (entries and exits): {r.volume:,.0f} USDT",
            f"data gaps: {len(r.gaps)}" + (" (see below)" if r.gaps else ""),
        )
    )


def _day(change: tuple[int, Decimal] | None) -> str:
    if change is None:
        return NA
    end_ms, amount = change
    return f"{iso(end_ms - 1)[:10]} {money(amount)} USDT"


def _per_pair(r: RunReport) -> Table:
    change = dict(r.market_change_by_symbol)
    groups = {g.key: g for g in r.per_symbol}
    rows = []
    for symbol in sorted(set(r.symbols) | set(groups)):
        g = groups.get(symbol)
        market = signed_pct(change.get(symbol))
        if g is None:
            rows.append((symbol, "0", "", "", "", "", "", "", market))
            continue
        rows.append(
            (
                symbol,
                str(g.trades),
                signed_pct(g.avg_profit_pct),
                money(g.net_pnl),
                signed_pct(float(g.net_pnl / r.start_wallet)),
                span(g.avg_duration_ms),
                f"{g.wins} / {g.draws} / {g.losses}",
                f"{g.win_rate:.1%}",
                market,
            )
        )
    rows.append(_total_row(r, signed_pct(r.market_change)))
    return Table(
        ("pair", "trades", "avg profit %", "net P&L", "of start", "avg duration",
         "win / draw / loss", "win rate", "market change"),
        tuple(rows),
        "No pairs.",
    )


def _total_row(r: RunReport, *extra: str) -> tuple[str, ...]:
    avg = sum(t.close_ms - t.open_ms for t in r.trades) // r.count if r.count else 0
    return (
        "TOTAL",
        str(r.count),
        signed_pct(r.avg_profit_pct),
        money(r.net_pnl),
        signed_pct(r.total_return),
        span(avg),
        f"{r.wins} / {r.draws} / {r.losses}",
        f"{r.win_rate:.1%}",
        *extra,
    )


def _groups(groups: Sequence[GroupRow], name: str, r: RunReport) -> Table:
    rows = tuple(
        (
            g.key,
            str(g.trades),
            signed_pct(g.avg_profit_pct),
            money(g.net_pnl),
            signed_pct(float(g.net_pnl / r.start_wallet)),
            span(g.avg_duration_ms),
            f"{g.wins} / {g.draws} / {g.losses}",
            f"{g.win_rate:.1%}",
        )
        for g in groups
    )
    return Table(
        (name, "trades", "avg profit %", "net P&L", "of start", "avg duration",
         "win / draw / loss", "win rate"),
        rows + ((_total_row(r),) if rows else ()),
        "No trades closed.",
    )


def _durations(rows: Sequence[DurationRow]) -> Table:
    return Table(
        ("trades", "count", "shortest", "average", "longest"),
        tuple(
            (d.kind, str(d.trades), span(d.shortest_ms), span(d.average_ms), span(d.longest_ms))
            for d in rows
        ),
        "No trades closed.",
    )


def gap_lines(gaps: Sequence[DataGap], limit: int = GAPS_LISTED) -> list[str]:
    """The first `limit` gaps, then how many more."""
    lines = [
        f"{g.symbol}: no bars from {iso(g.start_ms)[:16]} to {iso(g.end_ms)[:16]} "
        f"({g.missing_bars} missing)"
        for g in gaps[:limit]
    ]
    if len(gaps) > limit:
        lines.append(f"... and {len(gaps) - limit} more")
    return lines


def _gaps(gaps: Sequence[DataGap]) -> Bullets:
    if not gaps:
        return Bullets(("None: every klines file has a bar for every interval of the run.",))
    return Bullets(
        (
            "Prices did not move in the replay across these gaps: positions could not exit "
            "there, and indicators saw one long bar.",
            *gap_lines(gaps),
        )
    )


def _conventions() -> Bullets:
    return Bullets(
        (
            "Equity is realised: starting balance plus the net P&L (after fees) of the trades "
            "closed so far; positions still open at the end were closed at the last quotes.",
            "Daily returns: change of that equity from one UTC day's end to the next, every "
            "day of the run. Sharpe = mean / sample standard deviation, Sortino = mean / "
            "downside deviation (RMS of the negative days over all days), risk-free rate 0, "
            "both annualised by sqrt(365).",
            "CAGR = (final / start) ^ (365 / days) - 1; Calmar = CAGR / max drawdown.",
            "Max drawdown: the largest fall of the equity from its running peak, after each "
            "trade, as a share of that peak.",
            "Profit % of a trade: net P&L / entry notional (quantity x entry price).",
            "Exposure: share of the run's time with at least one position open.",
            "Market change: a pair's last price over its first in the run, minus 1; the run's "
            "is the mean over the pairs (an equal-weight basket bought at the start).",
            "Every trade is in trades.csv; the daily reports are in reports/.",
        )
    )

