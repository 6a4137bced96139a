"""Equity curves as PNG (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from slt.application.evaluation.walk_forward import Fold
from slt.ports.store import TradeRecord


def _time(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def equity_png(
    path: Path,
    policy: str,
    trades: Sequence[TradeRecord],
    folds: Sequence[Fold],
    start_equity: Decimal,
) -> None:
    """Realised equity after each closed trade, with the fold boundaries marked."""
    times = [_time(folds[0].start_ms)]
    equity = [float(start_equity)]
    running = start_equity
    for t in sorted(trades, key=lambda t: (t.close_ms, t.position_id)):
        running += t.pnl
        times.append(_time(t.close_ms))
        equity.append(float(running))
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.step(times, equity, where="post", color="tab:blue" if policy == "rules" else "tab:green")
    for fold in folds[1:]:
        ax.axvline(_time(fold.start_ms), color="grey", linestyle="--", linewidth=0.8)
    ax.axvspan(_time(folds[0].start_ms), _time(folds[0].end_ms), color="grey", alpha=0.1)
    ax.set_title(f"policy {policy}: realised equity (USDT); shaded: training-only fold 1")
    ax.set_ylabel("USDT")
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
