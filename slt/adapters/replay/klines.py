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
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.layout import KLINE_COLUMNS, FilePlan, Kind, plan_source
from slt.adapters.replay.quotes import QuoteStream
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
    split_rows,
    time_fault,
    width_fault,
)
from slt.adapters.replay.sources import DataSource, interval_from_name
from slt.adapters.replay.stats import Counts
from slt.adapters.replay.textio import open_text
from slt.domain.values import Bar, Quote

Spreader = Callable[[float], tuple[float, float]]
_new = tuple.__new__  # see quotes._new


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


def spreader(spread_bps: float, tick: Decimal | None) -> Spreader:
    """A function price -> (bid, ask) applying the spread and, if given, the tick grid."""
    half = spread_bps / 20_000
    down, up = 1.0 - half, 1.0 + half
    if tick is None:
        return lambda price: (price * down, price * up)
    if not tick > 0:
        raise ValueError(f"tick size {tick} is not positive")
    # Whole numbers of 10**-decimals units, so the grid arithmetic is exact integers and the
    # final round() lands on the float nearest the decimal price.
    decimals = max(0, -int(tick.normalize().as_tuple().exponent))
    scale = 10**decimals
    units = int(tick * scale)
    per_unit = scale / units

    def on_ticks(price: float) -> tuple[float, float]:
        # round(..., 6) first: p / tick for a p on the grid comes out as 908154.9999999 and
        # must not floor one tick low.
        bid = math.floor(round(price * down * per_unit, 6)) * units
        ask = math.ceil(round(price * up * per_unit, 6)) * units
        if ask < bid + units:
            ask = bid + units
        return round(bid / scale, decimals), round(ask / scale, decimals)

    return on_ticks


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
    third, two_thirds, last = interval // 3, 2 * interval // 3, interval - 1
    for bar in _bars(plan, counts, interval):
        t0 = bar.open_ms
        if t0 >= hi:
            return
        if t0 + last < lo:
            counts.filtered += 4
            continue
        qty = bar.volume * 0.25
        second, third_px = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        for ts, price in (
            (t0, bar.open),
            (t0 + third, second),
            (t0 + two_thirds, third_px),
            (t0 + last, bar.close),
        ):
            if ts >= hi:
                return
            if ts >= lo:
                bid, ask = spread(price)
                if not 0.0 < bid <= ask:
                    raise ReplayError(
                        plan.path, f"price {price} of the bar at {t0} is below one tick"
                    )
                counts.emitted += 1
                yield _new(Quote, (symbol, ts, bid, qty, ask, qty))
            else:
                counts.filtered += 1


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
    for bar in _bars(plan, Counts(), interval):
        if bar.open_ms >= hi:
            return
        if bar.open_ms >= lo:
            yield bar


def _bars(plan: FilePlan, counts: Counts, interval: int) -> Iterator[Bar]:
    path, layout = plan.path, plan.layout
    t_i, o_i, h_i, l_i, c_i, v_i = layout.columns
    ncols = layout.ncols
    fields = tuple(zip(KLINE_COLUMNS, layout.columns, strict=True))
    prev = TS_MIN - interval
    line = layout.data_line - 1
    with open_text(path) as fh:
        try:
            for line, parts in enumerate(split_rows(fh, layout), layout.data_line):
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
                counts.rows += 1
                if not prev + interval <= t < TS_MAX:
                    raise _bar_time_fault(plan, line, t, prev, interval)
                prev = t
                if not (0.0 < low <= o <= h < INF and low <= c <= h and 0.0 <= v < INF):
                    raise _bar_fault(plan, line, parts, fields, (o, h, low, c, v))
                yield Bar(t, o, h, low, c, v)
        except READ_ERRORS as exc:
            raise ReplayError(path, f"cannot be read after line {line} ({exc})") from None


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
