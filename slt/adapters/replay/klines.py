"""Klines (candles) turned into a path of quotes inside each bar.

A bar says where price went, not in which order, so replay assumes the order that is worst for
a position opened in the bar's direction:

* four quotes per bar: open, then the extreme against the bar, then the extreme with it, then
  close. An up bar (close >= open) goes O-L-H-C, a down bar O-H-L-C. A long in an up bar (a
  short in a down bar) thus meets its stop before its take-profit when the bar spans both.
* times, with interval I: O at open_time, the second at open_time + I//3, the third at
  open_time + 2*I//3, C at open_time + I - 1 ms (the bar's close_time on Binance). Every quote
  of a bar precedes the next bar's open, so bars with gaps between them replay fine.
* I is, in order of trust: `close_time_ms - open_time_ms + 1` of the first row if the file has
  that column filled in; a token like `5m` or `1h` in the file name; the step between the first
  two bars. A later bar that opens before the previous one closed stops the replay.
* prices: the bar price p is quoted with a total spread of s basis points: bid = p*(1 - s/2),
  ask = p*(1 + s/2). With a tick size, bid is rounded down and ask up to the tick and ask is at
  least bid + one tick, so the book is never locked.
* sizes: both sides show volume / 4. A kline carries no book depth; a quarter of the bar's
  volume per quote at least scales with the market's activity, and over the four quotes of a
  bar adds up to the volume that actually traded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

import numpy as np

from slt.adapters.replay.columnar import blocks, numeric_columns
from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.layout import KLINE_COLUMNS, FilePlan, Kind, plan_source
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
    split_rows,
    time_fault,
    width_fault,
)
from slt.adapters.replay.sources import DataSource, interval_from_name
from slt.adapters.replay.stats import Counts
from slt.adapters.replay.textio import open_text
from slt.domain.values import Bar


def infer_interval(plan: FilePlan) -> int | None:
    """The bar interval in ms (see the module docstring), None if the file has no bars."""
    first = _first_rows(plan, 2)
    if not first:
        return None
    close_col = plan.layout.close_time_col
    t_i = plan.layout.columns[0]
    line, row = first[0]
    if close_col is not None and row[close_col].strip():
        open_ms = parse_ms(plan.path, line, "open_time_ms", row[t_i])
        close_ms = parse_ms(plan.path, line, "close_time_ms", row[close_col])
        if close_ms < open_ms:
            raise ReplayError(plan.path, f"close_time_ms {close_ms} is before the open", line)
        return close_ms - open_ms + 1
    named = interval_from_name(plan.path)
    if named is not None:
        return named
    if len(first) < 2:
        raise ReplayError(
            plan.path,
            "cannot tell the bar interval: one bar only, no close_time_ms column and no "
            "interval like 5m in the file name",
        )
    step = parse_ms(plan.path, first[1][0], "open_time_ms", first[1][1][t_i]) - parse_ms(
        plan.path, line, "open_time_ms", row[t_i]
    )
    if step <= 0:
        raise ReplayError(plan.path, "the second bar does not open after the first", first[1][0])
    return step


def _first_rows(plan: FilePlan, n: int) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    with open_text(plan.path) as fh:
        try:
            for line, parts in enumerate(split_rows(fh, plan.layout), plan.layout.data_line):
                if len(parts) != plan.layout.ncols:
                    if is_blank(parts):
                        continue
                    raise width_fault(plan.path, line, parts, plan.layout)
                rows.append((line, parts))
                if len(rows) == n:
                    break
        except READ_ERRORS as exc:
            raise ReplayError(plan.path, f"cannot be read ({exc})") from None
    return rows


class Spreader:
    """Bar price -> (bid, ask): the spread and, if given, the tick grid (module docstring).

    Call it with one price, or `many` with an array of them: both give the same floats.
    """

    def __init__(self, spread_bps: float, tick: Decimal | None) -> None:
        half = spread_bps / 20_000
        self._down, self._up = 1.0 - half, 1.0 + half
        self._tick = tick
        if tick is None:
            return
        if not tick > 0:
            raise ValueError(f"tick size {tick} is not positive")
        # Whole numbers of 10**-decimals units, so the grid arithmetic is exact integers and
        # the final division lands on the float nearest the decimal price.
        self._decimals = max(0, -int(tick.normalize().as_tuple().exponent))
        self._scale = 10**self._decimals
        self._units = int(tick * self._scale)
        self._per_unit = self._scale / self._units

    def __call__(self, price: float) -> tuple[float, float]:
        if self._tick is None:
            return price * self._down, price * self._up
        units = self._units
        # round(..., 6) first: p / tick for a p on the grid comes out as 908154.9999999 and
        # must not floor one tick low.
        bid = math.floor(round(price * self._down * self._per_unit, 6)) * units
        ask = math.ceil(round(price * self._up * self._per_unit, 6)) * units
        if ask < bid + units:
            ask = bid + units
        return round(bid / self._scale, self._decimals), round(ask / self._scale, self._decimals)

    def many(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._tick is None:
            return prices * self._down, prices * self._up
        units = self._units
        bid = _floor6(prices * self._down * self._per_unit) * units
        ask = _ceil6(prices * self._up * self._per_unit) * units
        ask = np.maximum(ask, bid + units)
        unsure = _near_tie(prices * self._down * self._per_unit) | _near_tie(
            prices * self._up * self._per_unit
        )
        bid, ask = bid / self._scale, ask / self._scale
        for i in np.flatnonzero(unsure):  # decided by the scalar path, which is the reference
            bid[i], ask[i] = self(float(prices[i]))
        return bid, ask


# `floor(round(y, 6))` differs from `floor(y)` only when y lies within 5e-7 under a whole
# number (and `ceil(round(y, 6))` from `ceil(y)` within 5e-7 over one). Values within float
# error of those thresholds are left to the scalar path.
_TIE = 5e-7
_TIE_BAND = 1e-9


def _floor6(y: np.ndarray) -> np.ndarray:
    whole = np.floor(y)
    return np.where(y - whole >= 1.0 - _TIE, whole + 1.0, whole)


def _ceil6(y: np.ndarray) -> np.ndarray:
    whole = np.floor(y)
    frac = y - whole
    return np.where(frac > _TIE, whole + 1.0, whole)


def _near_tie(y: np.ndarray) -> np.ndarray:
    frac = y - np.floor(y)
    return (np.abs(frac - (1.0 - _TIE)) < _TIE_BAND) | (np.abs(frac - _TIE) < _TIE_BAND)


def spreader(spread_bps: float, tick: Decimal | None) -> Spreader:
    return Spreader(spread_bps, tick)


def read_kline_quotes(
    plan: FilePlan,
    counts: Counts,
    start_ms: int | None,
    end_ms: int | None,
    spread: Spreader,
) -> QuoteStream:
    """The quote path of every bar (module docstring), within [start_ms, end_ms)."""
    interval = plan.interval_ms or infer_interval(plan)
    if interval is None:
        return
    symbol = plan.symbol
    assert symbol is not None
    lo = TS_MIN if start_ms is None else start_ms
    hi = TS_MAX if end_ms is None else end_ms
    offsets = np.array([0, interval // 3, 2 * interval // 3, interval - 1], dtype=np.int64)
    for bars in _bar_blocks(plan, interval):
        t0 = bars[:, 0].astype(np.int64)
        o, h, low, c, v = bars[:, 1], bars[:, 2], bars[:, 3], bars[:, 4], bars[:, 5]
        up = c >= o
        # Four quotes per bar, row by row: time order.
        ts = (t0[:, None] + offsets).ravel()
        prices = np.column_stack((o, np.where(up, low, h), np.where(up, h, low), c)).ravel()
        qty = np.repeat(v * 0.25, 4)
        # Bars are counted as read: up to the one that opens at or after the end.
        after = int(np.searchsorted(t0, hi))
        counts.rows += min(after + 1, len(t0))
        stop = int(np.searchsorted(ts, hi))
        first = int(np.searchsorted(ts, lo))
        counts.filtered += min(first, stop)
        if first < stop:
            bid, ask = spread.many(prices[first:stop])
            bad = np.flatnonzero(~((bid > 0.0) & (bid <= ask)))
            last = first + int(bad[0]) if len(bad) else stop
            for at in range(first, last, SLICE):
                # Python objects a slice at a time: a merge over many files holds one slice
                # per file, not a block.
                end = min(at + SLICE, last)
                counts.emitted += end - at
                yield from quotes_from_arrays(
                    symbol, ts[at:end], bid[at - first : end - first],
                    ask[at - first : end - first], qty[at:end],
                )
            if len(bad):
                bar_open = int(t0[last // 4])
                raise ReplayError(
                    plan.path,
                    f"price {float(prices[last])} of the bar at {bar_open} is below one tick",
                )
        if stop < len(ts):
            return


def read_bars(
    source: DataSource, *, start_ms: int | None = None, end_ms: int | None = None
) -> Iterator[Bar]:
    """The closed bars of one klines file whose open time is in [start_ms, end_ms)."""
    plan = plan_source(source)
    if plan.layout.kind is not Kind.KLINES:
        raise ReplayError(plan.path, f"holds {plan.layout.kind}, not klines")
    interval = infer_interval(plan)
    if interval is None:
        return
    lo = TS_MIN if start_ms is None else start_ms
    hi = TS_MAX if end_ms is None else end_ms
    for bars in _bar_blocks(plan, interval):
        for t, o, h, low, c, v in bars.tolist():
            if t >= hi:
                return
            if t >= lo:
                yield Bar(int(t), o, h, low, c, v)


def _bar_blocks(plan: FilePlan, interval: int) -> Iterator[np.ndarray]:
    """The file's bars, checked, as float64 rows `open_ms, open, high, low, close, volume`,
    a block at a time; a bad row raises once the rows before it are out."""
    path, layout = plan.path, plan.layout
    prev = TS_MIN - interval
    line = layout.data_line - 1
    with open_text(path) as fh:
        try:
            for line, lines in blocks(fh, layout):
                bars = numeric_columns(lines, layout, layout.columns)
                if bars is not None and _bars_fine(bars, prev, interval):
                    prev = int(bars[-1, 0])
                    yield bars
                    continue
                rows: list[tuple[float, ...]] = []
                try:
                    for row in _checked_rows(plan, line, lines, interval, prev):
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


def _bars_fine(bars: np.ndarray, prev: int, interval: int) -> bool:
    t, o, h, low, c, v = bars.T
    opens = np.concatenate(([prev], t))
    return bool(
        (t == np.floor(t)).all()
        and (np.diff(opens) >= interval).all()
        and t[-1] < TS_MAX
        and ((low > 0.0) & (low <= o) & (o <= h) & (h < INF) & (low <= c) & (c <= h)).all()
        and ((v >= 0.0) & (v < INF)).all()
    )


def _checked_rows(
    plan: FilePlan, first: int, lines: Iterable[str], interval: int, prev: int
) -> Iterator[tuple[float, ...]]:
    """Row by row, with the error that names the line: the reference for `_bars_fine`."""
    path, layout = plan.path, plan.layout
    t_i, o_i, h_i, l_i, c_i, v_i = layout.columns
    ncols = layout.ncols
    fields = tuple(zip(KLINE_COLUMNS, layout.columns, strict=True))
    for line, parts in enumerate(split_lines(lines, layout), first):
        if len(parts) != ncols:
            if is_blank(parts):
                continue
            raise width_fault(path, line, parts, layout)
        try:
            t = int(parts[t_i])
        except ValueError:
            t = parse_ms(path, line, "open_time_ms", parts[t_i])
        try:
            o = float(parts[o_i])
            h = float(parts[h_i])
            low = float(parts[l_i])
            c = float(parts[c_i])
            v = float(parts[v_i])
        except ValueError:
            raise number_fault(path, line, parts, fields) from None
        if not prev + interval <= t < TS_MAX:
            raise _bar_time_fault(plan, line, t, prev, interval)
        prev = t
        if not (0.0 < low <= o <= h < INF and low <= c <= h and 0.0 <= v < INF):
            raise _bar_fault(plan, line, parts, fields, (o, h, low, c, v))
        yield (t, o, h, low, c, v)


def _bar_time_fault(plan: FilePlan, line: int, t: int, prev: int, interval: int) -> ReplayError:
    if t == prev:
        return ReplayError(plan.path, f"open_time_ms {t} repeats the previous bar's", line)
    if prev < t < prev + interval and prev >= TS_MIN:
        return ReplayError(
            plan.path,
            f"bar opens at {t}, before the bar opened at {prev} closed "
            f"(interval {interval} ms; see the klines module docstring for how it is found)",
            line,
        )
    return time_fault(plan.path, line, "open_time_ms", t, prev, "the previous bar")


def _bar_fault(
    plan: FilePlan,
    line: int,
    parts: Sequence[str],
    fields: Sequence[tuple[str, int]],
    values: tuple[float, float, float, float, float],
) -> ReplayError:
    path = plan.path
    for (name, col), value in zip(fields[1:5], values[:4], strict=True):
        fault = price_fault(path, line, name, parts[col], value)
        if fault is not None:
            return fault
    fault = qty_fault(path, line, "volume", parts[fields[5][1]], values[4])
    if fault is not None:
        return fault
    o, h, low, c, _ = values
    return ReplayError(
        path,
        f"inconsistent bar: open {o} high {h} low {low} close {c} (need low <= open, "
        "close <= high)",
        line,
    )
