"""Reading quotes files (best bid/offer rows) into `Quote`s.

Single-symbol files must have non-decreasing `ts_ms`. Multi-symbol files are recorded in
arrival order, where one symbol's transaction time can trail another's by a millisecond or so
(seen in the 2021 cryptofeed captures), so each symbol must be non-decreasing on its own and
rows may trail the newest row by up to REORDER_WINDOW_MS; a small buffer puts them back in time
order, keeping file order among equal times. Rows further behind stop the replay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterable, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from slt.adapters.replay.columnar import blocks, numeric_columns
from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.layout import QUOTE_COLUMNS, FilePlan
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
    split_rows,
    time_fault,
    width_fault,
)
from slt.adapters.replay.sources import is_symbol
from slt.adapters.replay.stats import Counts
from slt.adapters.replay.textio import open_text
from slt.domain.values import Quote

REORDER_WINDOW_MS = 1_000
QuoteStream = Generator[Quote, None, None]
# A NamedTuple's own constructor is a Python function; building the tuple directly halves the
# cost of the most frequent allocation in a replay.
_new = tuple.__new__
# Quotes made into Python objects at a time: a merge over many files holds one slice per file.
SLICE = 1024


def quotes_from_arrays(
    symbol: str, ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, qty: np.ndarray
) -> QuoteStream:
    """Quotes of one symbol from parallel arrays (at most SLICE of them: the caller slices),
    the same size on both sides."""
    n = len(ts)
    qtys = qty.tolist()
    yield from map(
        _new,
        repeat(Quote, n),
        zip(
            repeat(symbol, n),
            ts.astype(np.int64).tolist(),
            bid.tolist(),
            qtys,
            ask.tolist(),
            qtys,
            strict=True,
        ),
    )


def read_quotes(
    plan: FilePlan, counts: Counts, start_ms: int | None, end_ms: int | None
) -> QuoteStream:
    """The file's quotes in time order, within [start_ms, end_ms)."""
    lo = TS_MIN if start_ms is None else start_ms
    hi = TS_MAX if end_ms is None else end_ms
    if plan.multi_symbol:
        return _multi_symbol(plan, counts, lo, hi)
    return _single_symbol(plan, counts, lo, hi)


def _single_symbol(plan: FilePlan, counts: Counts, lo: int, hi: int) -> QuoteStream:
    path, layout, symbol = plan.path, plan.layout, plan.symbol
    assert symbol is not None
    prev: int | None = TS_MIN
    line = layout.data_line - 1
    with open_text(path) as fh:
        try:
            for line, lines in blocks(fh, layout):
                values = numeric_columns(lines, layout, layout.columns)
                if values is not None and _block_fine(values, prev):
                    prev = int(values[-1, 0])
                    if (yield from _emit_block(symbol, values, counts, lo, hi)):
                        return
                    continue
                prev = yield from _single_rows(plan, counts, line, lines, lo, hi, prev)
                if prev is None:
                    return
        except READ_ERRORS as exc:
            raise ReplayError(path, f"cannot be read after line {line} ({exc})") from None


def _block_fine(values: np.ndarray, prev: int) -> bool:
    """Times whole, in range and non-decreasing from `prev`; every field usable (a crossed
    quote is usable: it is counted and skipped)."""
    t, bid, bid_qty, ask, ask_qty = values.T
    return bool(
        (t == np.floor(t)).all()
        and t[0] >= prev
        and (np.diff(t) >= 0).all()
        and t[-1] < TS_MAX
        and ((bid > 0.0) & (bid < INF) & (ask > 0.0) & (ask < INF)).all()
        and ((bid_qty >= 0.0) & (bid_qty < INF) & (ask_qty >= 0.0) & (ask_qty < INF)).all()
    )


def _emit_block(
    symbol: str, values: np.ndarray, counts: Counts, lo: int, hi: int
) -> Generator[Quote, None, bool]:
    """The block's quotes within [lo, hi); True once a quote at or after `hi` ends the file."""
    t, bid, bid_qty, ask, ask_qty = values.T
    sane = bid <= ask
    beyond = np.flatnonzero(sane & (t >= hi))
    stop = int(beyond[0]) if len(beyond) else len(t)
    counts.rows += stop + 1 if len(beyond) else stop
    counts.crossed += int(stop - np.count_nonzero(sane[:stop]))
    keep = np.flatnonzero(sane[:stop] & (t[:stop] >= lo))
    counts.filtered += int(np.count_nonzero(sane[:stop])) - len(keep)
    counts.emitted += len(keep)
    times = t.astype(np.int64)
    for at in range(0, len(keep), SLICE):
        rows = keep[at : at + SLICE]
        n = len(rows)
        yield from map(
            _new,
            repeat(Quote, n),
            zip(
                repeat(symbol, n),
                times[rows].tolist(),
                bid[rows].tolist(),
                bid_qty[rows].tolist(),
                ask[rows].tolist(),
                ask_qty[rows].tolist(),
                strict=True,
            ),
        )
    return bool(len(beyond))


def _single_rows(
    plan: FilePlan,
    counts: Counts,
    first: int,
    lines: Iterable[str],
    lo: int,
    hi: int,
    prev: int,
) -> Generator[Quote, None, int | None]:
    """Row by row, the reference for the block path: returns the last time, or None once a
    quote at or after `hi` ends the file."""
    path, layout, symbol = plan.path, plan.layout, plan.symbol
    t_i, b_i, bq_i, a_i, aq_i = layout.columns
    ncols = layout.ncols
    fields = tuple(zip(QUOTE_COLUMNS, layout.columns, strict=True))
    for line, parts in enumerate(split_lines(lines, layout), first):
        if len(parts) != ncols:
            if is_blank(parts):
                continue
            raise width_fault(path, line, parts, layout)
        try:
            t = int(parts[t_i])
        except ValueError:
            t = parse_ms(path, line, "ts_ms", parts[t_i])
        try:
            bid = float(parts[b_i])
            bid_qty = float(parts[bq_i])
            ask = float(parts[a_i])
            ask_qty = float(parts[aq_i])
        except ValueError:
            raise number_fault(path, line, parts, fields) from None
        counts.rows += 1
        if not prev <= t < TS_MAX:
            raise time_fault(path, line, "ts_ms", t, prev, "the previous row")
        prev = t
        # One chained comparison accepts a sane quote; NaN fails every comparison.
        if 0.0 < bid <= ask < INF and 0.0 <= bid_qty < INF and 0.0 <= ask_qty < INF:
            if t < lo:
                counts.filtered += 1
            elif t >= hi:
                return None
            else:
                counts.emitted += 1
                yield _new(Quote, (symbol, t, bid, bid_qty, ask, ask_qty))
        else:
            _crossed_or_raise(plan, line, parts, fields, (bid, bid_qty, ask, ask_qty))
            counts.crossed += 1
    return prev


def _multi_symbol(plan: FilePlan, counts: Counts, lo: int, hi: int) -> QuoteStream:
    path, layout, wanted = plan.path, plan.layout, plan.symbol
    t_i, b_i, bq_i, a_i, aq_i = layout.columns
    s_i = layout.symbol_col
    assert s_i is not None
    ncols = layout.ncols
    fields = tuple(zip(QUOTE_COLUMNS, layout.columns, strict=True))
    # raw symbol field -> [symbol, its last ts, selected?]; the raw text is the key so that the
    # strip and the check run once per symbol, not per row.
    seen: dict[str, list[Any]] = {}
    pending: deque[Quote] = deque()
    newest = TS_MIN
    line = layout.data_line - 1
    with open_text(path) as fh:
        try:
            for line, parts in enumerate(split_rows(fh, layout), layout.data_line):
                if len(parts) != ncols:
                    if is_blank(parts):
                        continue
                    raise width_fault(path, line, parts, layout)
                state = seen.get(parts[s_i])
                if state is None:
                    state = seen[parts[s_i]] = _new_symbol(plan, line, parts[s_i], wanted)
                counts.rows += 1
                if not state[2]:
                    counts.filtered += 1
                    continue
                try:
                    t = int(parts[t_i])
                except ValueError:
                    t = parse_ms(path, line, "ts_ms", parts[t_i])
                try:
                    bid = float(parts[b_i])
                    bid_qty = float(parts[bq_i])
                    ask = float(parts[a_i])
                    ask_qty = float(parts[aq_i])
                except ValueError:
                    raise number_fault(path, line, parts, fields) from None
                if not state[1] <= t < TS_MAX:
                    raise time_fault(path, line, "ts_ms", t, state[1], f"{state[0]}'s last row")
                state[1] = t
                if not (0.0 < bid <= ask < INF and 0.0 <= bid_qty < INF and 0.0 <= ask_qty < INF):
                    _crossed_or_raise(plan, line, parts, fields, (bid, bid_qty, ask, ask_qty))
                    counts.crossed += 1
                    continue
                quote = _new(Quote, (state[0], t, bid, bid_qty, ask, ask_qty))
                if t >= newest:
                    newest = t
                    pending.append(quote)
                    ready = t - REORDER_WINDOW_MS
                    while pending[0][1] <= ready:
                        q = pending.popleft()
                        if q[1] < lo:
                            counts.filtered += 1
                        elif q[1] >= hi:
                            return
                        else:
                            counts.emitted += 1
                            yield q
                elif t >= newest - REORDER_WINDOW_MS:
                    _insert_in_order(pending, quote)
                else:
                    raise ReplayError(
                        path,
                        f"ts_ms {t} of {state[0]} is more than {REORDER_WINDOW_MS} ms behind "
                        f"an earlier row at {newest}: the file is not in time order",
                        line,
                    )
        except READ_ERRORS as exc:
            raise ReplayError(path, f"cannot be read after line {line} ({exc})") from None
    for q in pending:
        if q.ts_ms < lo:
            counts.filtered += 1
        elif q.ts_ms >= hi:
            return
        else:
            counts.emitted += 1
            yield q


def _new_symbol(plan: FilePlan, line: int, raw: str, wanted: str | None) -> list[Any]:
    symbol = raw.strip().strip('"')
    if not is_symbol(symbol):
        raise ReplayError(plan.path, f"symbol {raw.strip()!r} is not capitals and digits", line)
    return [symbol, TS_MIN, wanted is None or symbol == wanted]


def _insert_in_order(pending: deque[Quote], quote: Quote) -> None:
    """Place a late quote after every pending quote at or before its time.

    Late quotes trail by a few ms, so the place is found by walking back from the newest end.
    """
    i = len(pending)
    while i and pending[i - 1].ts_ms > quote.ts_ms:
        i -= 1
    pending.insert(i, quote)


def _crossed_or_raise(
    plan: FilePlan,
    line: int,
    parts: Sequence[str],
    fields: Sequence[tuple[str, int]],
    values: tuple[float, float, float, float],
) -> None:
    """Return if the quote is merely crossed (bid > ask); raise if a field is unusable."""
    bid, bid_qty, ask, ask_qty = values
    (_, b_i), (_, bq_i), (_, a_i), (_, aq_i) = fields[1:]
    fault = (
        price_fault(plan.path, line, "bid_price", parts[b_i], bid)
        or price_fault(plan.path, line, "ask_price", parts[a_i], ask)
        or qty_fault(plan.path, line, "bid_qty", parts[bq_i], bid_qty)
        or qty_fault(plan.path, line, "ask_qty", parts[aq_i], ask_qty)
    )
    if fault is not None:
        raise fault
