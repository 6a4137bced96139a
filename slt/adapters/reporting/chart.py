"""The equity-curve PNG of a day's report.

Drawn on an Agg canvas without pyplot, so no global backend or figure registry is touched and
the reporter can run inside the bot's process. The bytes depend only on the data: PNG metadata
carries no software version or timestamp, size and DPI are fixed, and matplotlib's bundled
DejaVu font is used, so a simulation's reports are reproducible. matplotlib is imported on first
use: runs that write no chart do not pay for it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from slt.domain.values import HOUR_MS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_SIZE_IN = (8.0, 3.2)
_DPI = 100
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "path.simplify": False,  # simplification may depend on the renderer's state
}


def equity_png(
    day: str,
    day_start_ms: int,
    day_end_ms: int,
    points: Sequence[tuple[int, Decimal]],
) -> bytes:
    """A step curve of the day's cumulative realised P&L (USDT) against UTC hours."""
    hours = [0.0] + [(ts - day_start_ms) / HOUR_MS for ts, _ in points]
    values = [0.0] + [float(v) for _, v in points]
    end_h = (day_end_ms - day_start_ms) / HOUR_MS
    hours.append(end_h)
    values.append(values[-1])
    peaks = []
    peak = 0.0
    for v in values:
        peak = max(peak, v)
        peaks.append(peak)

    with figure(_SIZE_IN) as fig:
        ax = fig.add_subplot()
        ax.fill_between(
            hours,
            values,
            peaks,
            step="post",
            color="#d62728",
            alpha=0.15,
            linewidth=0,
            label="drawdown",
        )
        ax.step(hours, values, where="post", color="#1f77b4", linewidth=1.5, label="realised P&L")
        ax.axhline(0.0, color="#888888", linewidth=0.8)
        ax.set_xlim(0.0, end_h)
        ax.set_xticks([h for h in range(0, 25, 3) if h <= end_h])
        ax.set_xlabel("hour (UTC)")
        ax.set_ylabel("USDT")
        ax.set_title(f"Cumulative realised P&L, {day} (UTC)")
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.legend(loc="upper left", frameon=False)
        return png_bytes(fig)


@contextlib.contextmanager
def figure(size_in: tuple[float, float]) -> Iterator[Figure]:
    """A figure on its own Agg canvas, drawn with matplotlib's defaults and the settings above
    (not a matplotlibrc found on this machine: the same data must draw the same bytes
    everywhere)."""
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context():
        matplotlib.style.use("default")
        matplotlib.rcParams.update(_RC)
        fig = Figure(figsize=size_in, dpi=_DPI)
        FigureCanvasAgg(fig)
        yield fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG, without the metadata (software version) that would vary by machine."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
