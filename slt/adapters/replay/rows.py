"""Splitting lines into fields, and the slow path that explains a bad row.

The readers parse optimistically and call in here only when something fails, so diagnosis
costs nothing on good rows.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.layout import Layout

# Plausible millisecond times: 2000-01-01 .. 2100-01-01 UTC. Seconds fall below, micro- and
# nanoseconds above, so a unit mistake stops the replay on the first row.
TS_MIN = 946_684_800_000
TS_MAX = 4_102_444_800_000
INF = math.inf
# Raised while reading (not parsing): truncated gzip, bad bytes, disk errors.
READ_ERRORS = (OSError, EOFError, UnicodeDecodeError)


def split_rows(fh: TextIO, layout: Layout) -> Iterator[list[str]]:
    """Data rows as field lists, header skipped."""
    if layout.data_line > 1:
        fh.readline()
    return split_lines(fh, layout)


def split_lines(lines: Iterable[str], layout: Layout) -> Iterator[list[str]]:
    """Lines as field lists.

    `map(str.split, ...)` runs without a Python frame per row: about twice the speed of the
    csv module, which is kept for files that quote fields.
    """
    if layout.quoted:
        return csv.reader(lines)
    return map(str.split, lines, itertools.repeat(","))


def is_blank(parts: Sequence[str]) -> bool:
    return all(not p.strip() for p in parts)


def width_fault(path: Path, line: int, parts: Sequence[str], layout: Layout) -> ReplayError:
    return ReplayError(path, f"has {len(parts)} fields, the header has {layout.ncols}", line)


def number_fault(
    path: Path, line: int, parts: Sequence[str], fields: Sequence[tuple[str, int]]
) -> ReplayError:
    """Name the first of `fields` (name, column) that does not parse as a number."""
    for name, col in fields:
        text = parts[col].strip()
        try:
            float(text)
        except ValueError:
            return ReplayError(path, f"{name} {text!r} is not a number", line)
    return ReplayError(path, f"a field is not a number: {','.join(parts).strip()!r}", line)


def parse_ms(path: Path, line: int | None, name: str, text: str) -> int:
    """An integer time written in float form (`1610064001076.0`, as pandas writes) also reads."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ReplayError(path, f"{name} {text.strip()!r} is not a number", line) from None
    if not value.is_integer():
        raise ReplayError(path, f"{name} {text.strip()!r} is not a whole number of ms", line)
    return int(value)


def time_fault(path: Path, line: int, name: str, ts: int, prev: int, what: str) -> ReplayError:
    if not TS_MIN <= ts < TS_MAX:
        return ReplayError(
            path,
            f"{name} {ts} is not a millisecond Unix time in 2000..2099 "
            "(seconds, microseconds or nanoseconds?)",
            line,
        )
    return ReplayError(path, f"{name} {ts} goes back in time: {what} was at {prev}", line)


def price_fault(path: Path, line: int, name: str, text: str, value: float) -> ReplayError | None:
    """Why a price is unusable, or None if it is fine."""
    if not math.isfinite(value):
        return ReplayError(path, f"{name} {text.strip()!r} is not a finite number", line)
    if value <= 0.0:
        return ReplayError(path, f"{name} {text.strip()!r} is not positive", line)
    return None


def qty_fault(path: Path, line: int, name: str, text: str, value: float) -> ReplayError | None:
    """Why a quantity is unusable, or None if it is fine. Zero is allowed: an empty side."""
    if not math.isfinite(value):
        return ReplayError(path, f"{name} {text.strip()!r} is not a finite number", line)
    if value < 0.0:
        return ReplayError(path, f"{name} {text.strip()!r} is negative", line)
    return None
