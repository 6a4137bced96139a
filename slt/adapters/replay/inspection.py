"""A cheap look at data files before replaying them: symbols, time span, price precision."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.klines import infer_interval
from slt.adapters.replay.layout import FilePlan, Kind, Layout, plan_source
from slt.adapters.replay.rows import READ_ERRORS, is_blank, parse_ms, split_rows, width_fault
from slt.adapters.replay.sources import DataSource, expand_sources
from slt.adapters.replay.textio import is_compressed, open_text

HEAD_ROWS = 2000
# A gzip or zip file cannot be read from its end; below this size reading it through is still
# quick (~0.1 s), above it the last time is left unknown.
GZIP_SCAN_LIMIT = 8 << 20
_TAIL_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """What replay will emit for one symbol.

    `last_ts_ms` is None when finding it would mean reading a large gzip file through.
    `price_decimals` is the most decimal places seen in the prices looked at, trailing zeros
    ignored (`28145.10` counts 1): a stand-in tick size for symbols without exchange filters.
    `reference_price`: the first row's price (mid of a quote, open of a bar), to size a lot step
    for such symbols.
    """

    symbol: str
    first_ts_ms: int
    last_ts_ms: int | None
    price_decimals: int
    reference_price: float = 0.0

    @property
    def tick_guess(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_decimals)

    def merged(self, other: SymbolInfo) -> SymbolInfo:
        last = (
            None
            if self.last_ts_ms is None or other.last_ts_ms is None
            else max(self.last_ts_ms, other.last_ts_ms)
        )
        earlier = self if self.first_ts_ms <= other.first_ts_ms else other
        return SymbolInfo(
            self.symbol,
            earlier.first_ts_ms,
            last,
            max(self.price_decimals, other.price_decimals),
            earlier.reference_price,
        )


def inspect_sources(sources: Iterable[DataSource]) -> dict[str, SymbolInfo]:
    """Symbols found in `sources` and what replay will emit for each, sorted by symbol.

    Single-symbol files: the first HEAD_ROWS rows and the last line. Multi-symbol files: the
    symbol and time columns in full, read as a stream (prices of the first HEAD_ROWS rows of each
    symbol). Symbols of a file without data rows are absent.
    """
    found: dict[str, SymbolInfo] = {}
    for source in expand_sources(sources):
        plan = plan_source(source)
        infos = _multi_symbol(plan) if plan.multi_symbol else _single_symbol(plan)
        for info in infos:
            have = found.get(info.symbol)
            found[info.symbol] = info if have is None else have.merged(info)
    return dict(sorted(found.items()))


def time_span(infos: dict[str, SymbolInfo]) -> tuple[int | None, int | None]:
    """First and last quote time over all symbols (None if unknown), for --start/--end."""
    if not infos:
        return None, None
    first = min(i.first_ts_ms for i in infos.values())
    lasts = [i.last_ts_ms for i in infos.values()]
    last = None if any(t is None for t in lasts) else max(t for t in lasts if t is not None)
    return first, last


def _price_cols(layout: Layout) -> tuple[int, ...]:
    if layout.kind is Kind.QUOTES:
        return (layout.columns[1], layout.columns[3])
    if layout.kind is Kind.TRADES:
        return (layout.columns[1],)
    return layout.columns[1:5]


def _reference_price(path: Path, line: int, parts: list[str], layout: Layout) -> float:
    """Mid of a quote, open of a bar, price of a trade."""
    cols = _price_cols(layout)
    try:
        if layout.kind is Kind.QUOTES:
            return (float(parts[cols[0]]) + float(parts[cols[1]])) / 2
        return float(parts[cols[0]])
    except ValueError:
        raise ReplayError(path, f"a price of this row is not a number: {parts!r}", line) from None


def _single_symbol(plan: FilePlan) -> list[SymbolInfo]:
    assert plan.symbol is not None
    layout, path = plan.layout, plan.path
    t_i = layout.columns[0]
    prices = _price_cols(layout)
    first: int | None = None
    last: int | None = None
    reference = 0.0
    decimals = 0
    rows = 0
    with open_text(path) as fh:
        try:
            for line, parts in enumerate(split_rows(fh, layout), layout.data_line):
                if len(parts) != layout.ncols:
                    if is_blank(parts):
                        continue
                    raise width_fault(path, line, parts, layout)
                last = parse_ms(path, line, "time", parts[t_i])
                if first is None:
                    first = last
                    reference = _reference_price(path, line, parts, layout)
                for col in prices:
                    decimals = max(decimals, _decimals(path, line, parts[col]))
                rows += 1
                if rows == HEAD_ROWS:
                    break
            else:
                rows = 0  # read to the end: `last` is final
        except READ_ERRORS as exc:
            raise ReplayError(path, f"cannot be read ({exc})") from None
    if first is None:
        return []
    if rows:
        last = _last_time(plan)
    if last is not None and layout.kind is Kind.KLINES:
        interval = infer_interval(plan)
        assert interval is not None
        last += interval - 1
    return [SymbolInfo(plan.symbol, first, last, decimals, reference)]


def _last_time(plan: FilePlan) -> int | None:
    """Time in the file's last row: from its tail if plain, by reading through if small gzip."""
    path, layout = plan.path, plan.layout
    if is_compressed(path):
        if os.path.getsize(path) > GZIP_SCAN_LIMIT:
            return None
        tail = ""
        with open_text(path) as fh:
            try:
                for text in fh:
                    if text.strip():
                        tail = text
            except READ_ERRORS as exc:
                raise ReplayError(path, f"cannot be read ({exc})") from None
    else:
        tail = _plain_tail(path)
    if not tail:
        return None
    parts = _fields(tail, layout)
    if len(parts) != layout.ncols:
        raise ReplayError(path, f"last line has {len(parts)} fields, the header {layout.ncols}")
    return parse_ms(path, None, "the last row's time", parts[layout.columns[0]])


def _plain_tail(path: Path) -> str:
    with open(path, "rb") as raw:
        size = raw.seek(0, os.SEEK_END)
        raw.seek(max(0, size - _TAIL_BYTES))
        lines = raw.read().decode("utf-8", errors="replace").splitlines()
    # The first line of the chunk may be cut; the caller only asks for a file longer than it.
    complete = [text for text in lines[1:] if text.strip()]
    return complete[-1] if complete else ""


def _fields(text: str, layout: Layout) -> list[str]:
    if layout.quoted:
        return next(csv.reader([text]))
    return text.rstrip("\r\n").split(",")


def _multi_symbol(plan: FilePlan) -> list[SymbolInfo]:
    layout, path, wanted = plan.layout, plan.path, plan.symbol
    t_i, s_i = layout.columns[0], layout.symbol_col
    assert s_i is not None
    prices = _price_cols(layout)
    # symbol -> [first, last, decimals, rows looked at, reference price]
    seen: dict[str, list[Any]] = {}
    with open_text(path) as fh:
        try:
            for line, parts in enumerate(split_rows(fh, layout), layout.data_line):
                if len(parts) != layout.ncols:
                    if is_blank(parts):
                        continue
                    raise width_fault(path, line, parts, layout)
                symbol = parts[s_i].strip().strip('"')
                if wanted is not None and symbol != wanted:
                    continue
                try:
                    ts = int(parts[t_i])
                except ValueError:
                    ts = parse_ms(path, line, "ts_ms", parts[t_i])
                state = seen.get(symbol)
                if state is None:
                    reference = _reference_price(path, line, parts, layout)
                    state = seen[symbol] = [ts, ts, 0, 0, reference]
                if ts < state[0]:
                    state[0] = ts
                elif ts > state[1]:
                    state[1] = ts
                if state[3] < HEAD_ROWS:
                    state[3] += 1
                    state[2] = max(state[2], *(_decimals(path, line, parts[c]) for c in prices))
        except READ_ERRORS as exc:
            raise ReplayError(path, f"cannot be read ({exc})") from None
    return [SymbolInfo(sym, s[0], s[1], s[2], s[4]) for sym, s in seen.items()]


def _decimals(path: Path, line: int, text: str) -> int:
    try:
        exponent = Decimal(text.strip()).normalize().as_tuple().exponent
    except InvalidOperation:
        raise ReplayError(path, f"price {text.strip()!r} is not a number", line) from None
    if not isinstance(exponent, int):
        raise ReplayError(path, f"price {text.strip()!r} is not a finite number", line)
    return max(0, -exponent)
