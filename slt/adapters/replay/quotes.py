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


class _Merge:
    """A multi-symbol file's reading state: per symbol, the reorder buffer, the newest time."""

    def __init__(self, plan: FilePlan, counts: Counts, lo: int, hi: int) -> None:
        self.plan, self.counts, self.lo, self.hi = plan, counts, lo, hi
        # raw symbol field -> [symbol, its last ts, selected?]; the raw text is the key so that
        # the strip and the check run once per symbol, not per row.
        self.seen: dict[str, list[Any]] = {}
        self.pending: deque[Quote] = deque()
        self.newest = TS_MIN  # of the sane quotes
        self.latest = TS_MIN  # of any row read

    def pop_ready(self, ready: int) -> Generator[Quote, None, bool]:
        """Emit buffered quotes up to `ready`; True once one at or after `hi` ends the file."""
        pending, counts = self.pending, self.counts
        while pending and pending[0][1] <= ready:
            q = pending.popleft()
            if q[1] < self.lo:
                counts.filtered += 1
            elif q[1] >= self.hi:
                return True
            else:
                counts.emitted += 1
                yield q
        return False


def _multi_symbol(plan: FilePlan, counts: Counts, lo: int, hi: int) -> QuoteStream:
    """Row order within [lo, hi), late rows put back in time order (module docstring).

    A block whose rows are all of known-good, selected symbols, in time order after everything
    read before, takes the numpy path; since the window of a block is read whole, `rows_read`
    and `crossed_skipped` may count a few rows past `hi`."""
    merge = _Merge(plan, counts, lo, hi)
    line = plan.layout.data_line - 1
    with open_text(plan.path) as fh:
        try:
            for line, lines in blocks(fh, plan.layout):
                fast = _multi_block(merge, lines)
                done = yield from (
                    _multi_rows(merge, line, lines) if fast is None else _merge_block(merge, *fast)
                )
                if done:
                    return
        except READ_ERRORS as exc:
            raise ReplayError(plan.path, f"cannot be read after line {line} ({exc})") from None
    yield from merge.pop_ready(TS_MAX)


def _multi_block(
    merge: _Merge, lines: Iterable[str]
) -> tuple[list[list[Any]], np.ndarray, np.ndarray] | None:
    """(state of each row's symbol, row values, symbol index per row), or None when the block
    needs the row path."""
    layout = merge.plan.layout
    values = numeric_columns(lines, layout, layout.columns)
    if values is None or not _block_fine(values, merge.latest):
        return None
    assert layout.symbol_col is not None
    try:
        raw = np.loadtxt(
            lines, delimiter=",", usecols=layout.symbol_col, dtype=str, comments=None, ndmin=1
        )
    except ValueError:
        return None
    names, index = np.unique(raw, return_inverse=True)
    states = []
    for name in names.tolist():
        state = merge.seen.get(name)
        if state is None:
            if name != name.strip() or not is_symbol(name):
                return None
            wanted = merge.plan.symbol
            state = merge.seen[name] = [name, TS_MIN, wanted is None or name == wanted]
        if not state[2]:
            return None  # rows of other symbols: the row path counts and skips them
        states.append(state)
    return states, values, index


def _merge_block(
    merge: _Merge, states: list[list[Any]], values: np.ndarray, index: np.ndarray
) -> Generator[Quote, None, bool]:
    counts = merge.counts
    t, bid, bid_qty, ask, ask_qty = values.T
    counts.rows += len(t)
    sane = np.flatnonzero(bid <= ask)
    counts.crossed += len(t) - len(sane)
    times = t.astype(np.int64)
    # Each symbol's last row (crossed or not) is its newest time.
    last_rows = len(index) - 1 - np.unique(index[::-1], return_index=True)[1]
    for k, row in enumerate(last_rows.tolist()):
        states[k][1] = int(times[row])
    merge.latest = int(times[-1])
    if not len(sane):
        return False
    symbols = np.array([s[0] for s in states], dtype=object)[index[sane]].tolist()
    merge.pending.extend(
        map(
            _new,
            repeat(Quote, len(sane)),
            zip(
                symbols,
                times[sane].tolist(),
                bid[sane].tolist(),
                bid_qty[sane].tolist(),
                ask[sane].tolist(),
                ask_qty[sane].tolist(),
                strict=True,
            ),
        )
    )
    merge.newest = int(times[sane[-1]])
    return (yield from merge.pop_ready(merge.newest - REORDER_WINDOW_MS))


def _multi_rows(merge: _Merge, first: int, lines: Iterable[str]) -> Generator[Quote, None, bool]:
    """Row by row, the reference for the block path; True once a quote at or after `hi` ends
    the file."""
    plan, counts = merge.plan, merge.counts
    path, layout, wanted = plan.path, plan.layout, plan.symbol
    t_i, b_i, bq_i, a_i, aq_i = layout.columns
    s_i = layout.symbol_col
    assert s_i is not None
    ncols = layout.ncols
    fields = tuple(zip(QUOTE_COLUMNS, layout.columns, strict=True))
    seen, pending = merge.seen, merge.pending
    for line, parts in enumerate(split_lines(lines, layout), first):
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
        merge.latest = max(merge.latest, t)
        if not (0.0 < bid <= ask < INF and 0.0 <= bid_qty < INF and 0.0 <= ask_qty < INF):
            _crossed_or_raise(plan, line, parts, fields, (bid, bid_qty, ask, ask_qty))
            counts.crossed += 1
            continue
        quote = _new(Quote, (state[0], t, bid, bid_qty, ask, ask_qty))
        if t >= merge.newest:
            merge.newest = t
            pending.append(quote)
            if (yield from merge.pop_ready(t - REORDER_WINDOW_MS)):
                return True
        elif t >= merge.newest - REORDER_WINDOW_MS:
            _insert_in_order(pending, quote)
        else:
            raise ReplayError(
                path,
                f"ts_ms {t} of {state[0]} is more than {REORDER_WINDOW_MS} ms behind "
                f"an earlier row at {merge.newest}: the file is not in time order",
                line,
            )
    return False


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
