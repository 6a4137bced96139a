"""Aggregate trades (Binance's `aggTrades` dumps) replayed as quotes.

A trade says where price was, not where the book stood; each one becomes a quote around its
price with the spread and tick grid of klines (`klines.Spreader`), and the trade's quantity on
both sides. Times (`transact_time`) must not go back; a price must be positive and a quantity
not negative, or the replay stops naming file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from slt.adapters.replay.columnar import blocks, numeric_columns
from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.klines import Spreader
from slt.adapters.replay.layout import TRADE_COLUMNS, FilePlan
from slt.adapters.replay.quotes import SLICE, QuoteStream, quotes_from_arrays
from slt.adapters.replay.rows import (
    INF,
    READ_ERRORS,
    TS_MAX,
    TS_MIN,
    is_blank,
    number_fault,
    parse_ms,
    price_fault,
    qty_fault,
    split_lines,
    time_fault,
    width_fault,
)
from slt.adapters.replay.stats import Counts
from slt.adapters.replay.textio import open_text


def read_trade_quotes(
    plan: FilePlan, counts: Counts, start_ms: int | None, end_ms: int | None, spread: Spreader
) -> QuoteStream:
    """A quote per trade, within [start_ms, end_ms)."""
    symbol = plan.symbol
    assert symbol is not None
    lo = TS_MIN if start_ms is None else start_ms
    hi = TS_MAX if end_ms is None else end_ms
    for trades in _trade_blocks(plan):
        t, price, qty = trades[:, 0], trades[:, 1], trades[:, 2]
        stop = int(np.searchsorted(t, hi))
        first = min(int(np.searchsorted(t, lo)), stop)
        counts.rows += min(stop + 1, len(t))
        counts.filtered += first
        for at in range(first, stop, SLICE):
            end = min(at + SLICE, stop)
            bid, ask = spread.many(price[at:end])
            if not ((bid > 0.0) & (bid <= ask)).all():
                raise ReplayError(plan.path, f"a trade price near {price[at]} is below one tick")
            counts.emitted += end - at
            yield from quotes_from_arrays(symbol, t[at:end], bid, ask, qty[at:end])
        if stop < len(t):
            return


def _trade_blocks(plan: FilePlan) -> Iterator[np.ndarray]:
    """Checked rows `ts_ms, price, qty`, a block at a time (see klines._bar_blocks)."""
    path, layout = plan.path, plan.layout
    prev = TS_MIN
    line = layout.data_line - 1
    with open_text(path) as fh:
        try:
            for line, lines in blocks(fh, layout):
                trades = numeric_columns(lines, layout, layout.columns)
                if trades is not None and _trades_fine(trades, prev):
                    prev = int(trades[-1, 0])
                    yield trades
                    continue
                rows: list[tuple[float, float, float]] = []
                try:
                    for row in _checked_rows(plan, line, lines, prev):
                        rows.append(row)
                        prev = int(row[0])
                except ReplayError:
                    if rows:
                        yield np.array(rows, dtype=np.float64)
                    raise
                if rows:
                    yield np.array(rows, dtype=np.float64)
        except READ_ERRORS as exc:
            raise ReplayError(path, f"cannot be read after line {line} ({exc})") from None


def _trades_fine(trades: np.ndarray, prev: int) -> bool:
    t, price, qty = trades.T
    return bool(
        (t == np.floor(t)).all()
        and t[0] >= prev
        and (np.diff(t) >= 0).all()
        and t[-1] < TS_MAX
        and ((price > 0.0) & (price < INF) & (qty >= 0.0) & (qty < INF)).all()
    )


def _checked_rows(
    plan: FilePlan, first: int, lines: Iterable[str], prev: int
) -> Iterator[tuple[float, float, float]]:
    path, layout = plan.path, plan.layout
    t_i, p_i, q_i = layout.columns
    fields = tuple(zip(TRADE_COLUMNS, layout.columns, strict=True))
    for line, parts in enumerate(split_lines(lines, layout), first):
        if len(parts) != layout.ncols:
            if is_blank(parts):
                continue
            raise width_fault(path, line, parts, layout)
        t = parse_ms(path, line, "transact_time", parts[t_i])
        try:
            price = float(parts[p_i])
            qty = float(parts[q_i])
        except ValueError:
            raise number_fault(path, line, parts, fields) from None
        if not prev <= t < TS_MAX:
            raise time_fault(path, line, "transact_time", t, prev, "the previous trade")
        prev = t
        fault = price_fault(path, line, "price", parts[p_i], price) or qty_fault(
            path, line, "quantity", parts[q_i], qty
        )
        if fault is not None:
            raise fault
        yield (t, price, qty)
