"""The charts of a whole run's report, as PNG bytes (see chart.py for how figures are drawn;
matplotlib is imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from slt.adapters.reporting.chart import figure, png_bytes
from slt.application.reporting.run_analysis import PriceSeries, RunReport
from slt.ports.store import TradeRecord

_WIDE = (11.0, 5.2)
_PRICE = (11.0, 3.6)
_GREEN, _RED, _BLUE, _GREY = "#2ca02c", "#d62728", "#1f77b4", "#888888"


def _dt(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def equity_and_drawdown_png(report: RunReport) -> bytes:
    """Realised equity against an equal-weight buy and hold of the pairs; drawdown below."""
    times = [_dt(ts) for ts, _ in report.equity] + [_dt(report.end_ms)]
    values = [float(v) for _, v in report.equity] + [float(report.final_wallet)]
    peak = values[0]
    drawdown = []
    for v in values:
        peak = max(peak, v)
        drawdown.append((v / peak - 1) * 100 if peak > 0 else 0.0)
    start = float(report.start_wallet)
    with figure(_WIDE) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
        top.step(times, values, where="post", color=_BLUE, linewidth=1.4,
                 label="realised equity")
        if report.buy_and_hold:
            top.plot([_dt(ts) for ts, _ in report.buy_and_hold],
                     [start * v for _, v in report.buy_and_hold], color=_GREY, linewidth=1.0,
                     linestyle="--", label="buy and hold of the pairs (equal weight)")
        top.axhline(start, color=_GREY, linewidth=0.6)
        top.set_ylabel("USDT")
        top.set_title("Equity (realised, after fees)")
        top.legend(loc="lower left", frameon=False)
        top.set_xlim(_dt(report.start_ms), _dt(report.end_ms))
        top.grid(True, linewidth=0.4, alpha=0.5)
        bottom.fill_between(times, drawdown, 0.0, step="post", color=_RED, alpha=0.3,
                            linewidth=0)
        bottom.set_ylabel("drawdown %")
        bottom.grid(True, linewidth=0.4, alpha=0.5)
        fig.autofmt_xdate()
        return png_bytes(fig)


def price_with_trades_png(
    symbol: str, series: PriceSeries | None, trades: Sequence[TradeRecord], span: tuple[int, int]
) -> bytes:
    """The symbol's price with each trade drawn from entry to exit: entries as triangles (up:
    long, down: short), exits as dots, the segment green for a gain and red for a loss."""
    from matplotlib.collections import LineCollection  # matplotlib loads only to draw
    from matplotlib.dates import date2num

    with figure(_PRICE) as fig:
        ax = fig.add_subplot()
        if series is not None and series.times_ms:
            ax.plot([_dt(ts) for ts in series.times_ms], series.prices, color=_GREY,
                    linewidth=0.7, label="price")
        if trades:
            # One collection for all segments: an artist per trade costs ~1.5 ms each.
            ax.add_collection(LineCollection(
                [[(date2num(_dt(t.open_ms)), float(t.entry_price)),
                  (date2num(_dt(t.close_ms)), float(t.exit_price))] for t in trades],
                colors=[_GREEN if t.pnl > 0 else _RED for t in trades], linewidths=1.2,
            ))
        longs = [t for t in trades if t.side == "LONG"]
        shorts = [t for t in trades if t.side != "LONG"]
        for group, marker, label in ((longs, "^", "long entry"), (shorts, "v", "short entry")):
            if group:
                ax.scatter([_dt(t.open_ms) for t in group],
                           [float(t.entry_price) for t in group], marker=marker, s=22,
                           color=_BLUE, zorder=3, label=label)
        if trades:
            ax.scatter([_dt(t.close_ms) for t in trades], [float(t.exit_price) for t in trades],
                       marker="o", s=10, zorder=3,
                       color=[_GREEN if t.pnl > 0 else _RED for t in trades],
                       label="exit (green: gain, red: loss)")
        ax.set_xlim(_dt(span[0]), _dt(span[1]))
        ax.set_title(f"{symbol}: {len(trades)} trades")
        ax.set_ylabel("price (USDT)")
        ax.grid(True, linewidth=0.4, alpha=0.5)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", frameon=False, fontsize=8, ncols=4)
        fig.autofmt_xdate()
        return png_bytes(fig)
