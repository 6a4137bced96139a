"""Reading data files a block of lines at a time into numpy columns.

The row readers (`quotes`, `klines`) hand each block to numpy's C parser first; a block that
does not come out as clean numbers of the expected width goes through the readers' row-by-row
path instead, which gives the exact error (file and line) or handles the odd row (blank lines,
crossed quotes). Good data thus costs one C pass per column block, bad data what it always did.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

import numpy as np

from slt.adapters.replay.layout import Layout

# ~64 KiB of text per block: big enough that numpy's per-call cost vanishes, small enough
# that a merge over dozens of files holds little.
BLOCK_BYTES = 1 << 16


def blocks(fh: TextIO, layout: Layout) -> Iterator[tuple[int, Iterable[str]]]:
    """(line number of the first, lines) of the data rows, header skipped.

    A file with quoted fields is one block, the file itself: a quoted field may hold a line
    break, so only the csv module may cut it into rows.
    """
    if layout.data_line > 1:
        fh.readline()
    if layout.quoted:
        yield layout.data_line, fh
        return
    line = layout.data_line
    while lines := fh.readlines(BLOCK_BYTES):
        yield line, lines
        line += len(lines)


def numeric_columns(
    lines: Iterable[str], layout: Layout, columns: Sequence[int]
) -> np.ndarray | None:
    """`columns` of every line as float64 rows, or None unless every line is exactly
    `layout.ncols` fields and the wanted ones are numbers (then the caller goes row by row)."""
    if layout.quoted or not isinstance(lines, list):
        return None
    text = np.asarray(lines)
    if not (np.strings.count(text, ",") == layout.ncols - 1).all():
        return None  # a short, long or blank line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about empty input
            values = np.loadtxt(
                lines, delimiter=",", usecols=columns, dtype=np.float64, ndmin=2, comments=None
            )
    except ValueError:
        return None
    return values if len(values) == len(lines) else None
