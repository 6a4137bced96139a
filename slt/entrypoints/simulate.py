"""`slt simulate`: assemble the system on simulated adapters, replay, write the results."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson

from slt.adapters.out_dir import claimed_out_dir
from slt.adapters.replay import DataSource, expand_sources, inspect_sources, open_replay
from slt.adapters.replay.funding_plan import funding_plan
from slt.adapters.replay.klines import infer_interval
from slt.adapters.replay.layout import Kind, plan_source
from slt.adapters.replay.market_prices import kline_prices, quote_prices
from slt.adapters.reporting.run_render import gap_lines, write_run_report
from slt.application.reporting.run_analysis import build_run_report
from slt.application.simulation.driver import replay, run_until
from slt.config import Settings
from slt.container import build_container, listen_to_quotes
from slt.data import bundled_filters
from slt.domain.exits import ExitReason
from slt.domain.filters import inferred_filters
from slt.domain.values import DAY_MS
from slt.ports.store import TradeRecord

TRADE_COLUMNS = (
    "open_time",
    "close_time",
    "symbol",
    "side",
    "qty",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
    "exit_reason",
)


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    start: str
    end: str
    symbols: tuple[str, ...]
    seed: int
    trades: int
    wins: int
    win_rate: float
    net_pnl: str
    fees: str
    funding: str  # paid, net (> 0 a cost); in trades.csv's pnl of the positions that paid it
    funding_source: str  # recorded rates or the default, per symbol
    liquidations: int
    max_drawdown: str
    max_drawdown_pct: float
    final_equity: str
    quotes: int
    quotes_per_s: float
    crossed_skipped: int
    candidates: int
    entries: int
    virtual_samples: int
    cycles: dict[str, int]
    reports: int
    fingerprint: str
    sharpe: float | None  # daily returns, annualised by sqrt(365): see the run report
    sortino: float | None
    calmar: float | None
    exposure: float  # share of the run's time with a position open
    market_change: float | None  # equal-weight buy and hold of the pairs over the run
    report: str  # the whole run's report.html
    report_s: float  # time to read the prices and draw and write report.md and report.html
    data_gaps: int  # runs of missing bars in the klines
    data_gap_list: tuple[str, ...]  # the first few of them, and how many more

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    def to_text(self) -> str:
        return "\n".join(
            [
                f"period: {self.start} .. {self.end}  symbols: {', '.join(self.symbols)}",
                f"trades: {self.trades}  win rate: {self.win_rate:.1%}  P&L: {self.net_pnl} USDT"
                f"  fees: {self.fees}",
                f"funding paid: {self.funding} USDT ({self.funding_source})"
                f"  liquidations: {self.liquidations}",
                f"max drawdown: {self.max_drawdown} USDT ({self.max_drawdown_pct:.2%})"
                f"  final equity: {self.final_equity}",
                f"quotes processed: {self.quotes}  quotes/s: {self.quotes_per_s:,.0f}"
                f"  crossed skipped: {self.crossed_skipped}",
                f"candidates: {self.candidates}  entries: {self.entries}"
                f"  virtual outcomes: {self.virtual_samples}  reports: {self.reports}",
                "cycles: " + "  ".join(f"{k}={v}" for k, v in sorted(self.cycles.items())),
                f"fingerprint: {self.fingerprint}",
                f"sharpe: {_ratio(self.sharpe)}  sortino: {_ratio(self.sortino)}"
                f"  calmar: {_ratio(self.calmar)}  exposure: {self.exposure:.1%}"
                "  market change: "
                + ("n/a" if self.market_change is None else f"{self.market_change:+.2%}"),
                f"report: {self.report} (built in {self.report_s:.1f} s)",
                *(
                    [
                        f"warning: {self.data_gaps} gap{'s' if self.data_gaps > 1 else ''} in"
                        " the klines (no bars, prices frozen):"
                    ]
                    + [f"  {line}" for line in self.data_gap_list]
                    if self.data_gaps
                    else []
                ),
            ]
        )


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def kline_intervals(sources: Sequence[DataSource]) -> dict[str, int]:
    """Bar length of each symbol replayed from klines (its quotes are an expanded path)."""
    intervals = {}
    for source in sources:
        plan = plan_source(source)
        if plan.layout.kind is Kind.KLINES and plan.symbol is not None:
            interval = infer_interval(plan)
            if interval is not None:
                intervals[plan.symbol] = interval
    return intervals


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _plain(d: Decimal) -> str:
    return (
        format(d.normalize(), "f")
        if d == d.to_integral() or d.as_tuple().exponent < -8
        else (format(d, "f"))
    )


def write_trades_csv(trades: Sequence[TradeRecord], path: Path) -> str:
    """Write trades.csv; return the sha256 of its bytes (the run's fingerprint)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for t in trades:
        writer.writerow(
            (
                _iso(t.open_ms),
                _iso(t.close_ms),
                t.symbol,
                t.side,
                _plain(t.qty),
                _plain(t.entry_price),
                _plain(t.exit_price.quantize(Decimal("1e-10")).normalize()),
                _plain(t.fees.quantize(Decimal("1e-10")).normalize()),
                _plain(t.pnl.quantize(Decimal("1e-10")).normalize()),
                t.exit_reason,
            )
        )
    data = buf.getvalue().encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def max_drawdown(start_equity: Decimal, trades: Sequence[TradeRecord]) -> tuple[Decimal, float]:
    """Largest peak-to-trough fall of realised equity, in USDT and as a fraction of the peak."""
    equity = peak = start_equity
    worst = Decimal(0)
    worst_pct = 0.0
    for t in trades:
        equity += t.pnl
        peak = max(peak, equity)
        if peak - equity > worst:
            worst = peak - equity
            worst_pct = float(worst / peak) if peak > 0 else 0.0
    return worst, worst_pct


async def simulate(
    settings: Settings,
    sources: Sequence[DataSource],
    out_dir: Path,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
    keep_models: bool = False,
    title: str = "slt simulation report",
) -> SimulationSummary:
    """Replay `sources` into `out_dir`, which this run locks and starts clean (see out_dir);
    `keep_models` starts the learner from the models a previous run left there."""
    with claimed_out_dir(out_dir, keep_models=keep_models):
        return await _simulate(
            settings,
            sources,
            out_dir,
            start_ms=start_ms,
            end_ms=end_ms,
            seed=seed,
            progress=progress,
            title=title,
        )


async def _simulate(
    settings: Settings,
    sources: Sequence[DataSource],
    out_dir: Path,
    *,
    start_ms: int | None,
    end_ms: int | None,
    seed: int,
    progress: Callable[[int], object] | None,
    title: str,
) -> SimulationSummary:
    raw_sources = sources  # funding files are read from these (expanding leaves them out)
    sources = expand_sources(sources)  # folders become their data files, for every reader
    infos = inspect_sources(list(sources))
    if not infos:
        raise ValueError("no market data in the given files")
    start = min(i.first_ts_ms for i in infos.values()) if start_ms is None else start_ms
    if end_ms is not None and end_ms <= start:
        raise ValueError(f"--end ({_iso(end_ms)}) must be after --start ({_iso(start)})")
    known = bundled_filters()
    filters = {
        symbol: known.get(symbol)
        or inferred_filters(symbol, info.price_decimals, info.reference_price)
        for symbol, info in sorted(infos.items())
    }
    container = build_container(settings, filters, start, out_dir, seed=seed)
    clock = container.clock()
    exchange = container.exchange()
    feed = container.feed()
    controller = container.controller()
    trader = container.trader()
    scheduler = container.scheduler()
    store = container.store()
    reporter = container.reporter()
    listen_to_quotes(container)
    exchange.set_bar_intervals(kline_intervals(sources))
    funding = funding_plan(raw_sources, tuple(filters), settings.simulation.funding_rate)
    exchange.set_funding_events((e.time_ms, e.symbol, e.rate) for e in funding.rates.all_events())
    trader.use_funding(funding.rates)
    await feed.subscribe(filters)

    stream = open_replay(
        list(sources),
        spread_bps=settings.simulation.spread_bps,
        tick_size=lambda s: filters[s].tick_size if s in filters else None,
        start_ms=start,
        end_ms=end_ms,
    )
    scheduler.start()
    await clock.settle()
    began = time.perf_counter()
    n = await replay(stream, clock, feed.publish, progress)
    elapsed = time.perf_counter() - began
    # Without --end the run ends just after the last quote.
    end = end_ms if end_ms is not None else max(clock.now_ms() + 1, start + 1)
    await run_until(clock, end - 1)
    # Positions still open when the data ends are closed at the last quotes, so the P&L is
    # realised and every trade appears in trades.csv; a cycle due at the very end must not
    # open new ones.
    controller.halt_entries("end of data")
    controller.close_all(ExitReason.END_OF_DATA, feed.cache.quotes)
    await clock.settle()
    await run_until(clock, end)
    await scheduler.stop()
    if end % DAY_MS:
        await reporter.report_day(end - end % DAY_MS, end)

    trades = store.trades()
    fingerprint = write_trades_csv(trades, out_dir / "trades.csv")
    balance = await exchange.balance()
    drawdown, drawdown_pct = max_drawdown(settings.exchange.wallet, trades)
    wins = sum(1 for t in trades if t.pnl > 0)
    store.close()
    container.report_store().close()
    funding_paid = _plain(exchange.funding_paid.quantize(Decimal("0.0001")))
    began = time.perf_counter()
    prices, gaps = kline_prices(sources, start, end)
    prices |= quote_prices(sources, start, end)
    report = build_run_report(
        title,
        start,
        end,
        start_wallet=settings.exchange.wallet,
        trades=trades,
        prices=prices,
        gaps=gaps,
        symbols=tuple(filters),
        funding=f"{funding_paid} USDT paid; {funding.note}",
    )
    files = write_run_report(report, prices, out_dir)
    report_s = time.perf_counter() - began
    return SimulationSummary(
        start=_iso(start),
        end=_iso(end),
        symbols=tuple(filters),
        seed=seed,
        trades=len(trades),
        wins=wins,
        win_rate=wins / len(trades) if trades else 0.0,
        net_pnl=_plain(sum((t.pnl for t in trades), Decimal(0)).quantize(Decimal("0.0001"))),
        fees=_plain(sum((t.fees for t in trades), Decimal(0)).quantize(Decimal("0.0001"))),
        funding=funding_paid,
        funding_source=funding.note,
        liquidations=exchange.liquidations,
        max_drawdown=_plain(drawdown.quantize(Decimal("0.0001"))),
        max_drawdown_pct=drawdown_pct,
        final_equity=_plain(balance.equity.quantize(Decimal("0.0001"))),
        quotes=n,
        quotes_per_s=n / elapsed if elapsed > 0 else 0.0,
        crossed_skipped=sum(s.crossed_skipped for s in stream.stats),
        candidates=trader.candidates,
        entries=trader.entries,
        virtual_samples=container.virtual().closed,
        cycles=dict(scheduler.runs),
        reports=len(reporter.written),
        fingerprint=fingerprint,
        sharpe=report.ratios.sharpe,
        sortino=report.ratios.sortino,
        calmar=report.ratios.calmar,
        exposure=report.exposure,
        market_change=report.market_change,
        report=str(files.html),
        report_s=report_s,
        data_gaps=len(gaps),
        data_gap_list=tuple(gap_lines(gaps, limit=5)),
    )
