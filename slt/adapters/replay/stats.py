"""Per-file counts of a replay."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class Counts:
    """Live counters, bumped by a file's reader as it goes: plain slots, cheapest to increment."""

    __slots__ = ("crossed", "emitted", "filtered", "rows")

    def __init__(self) -> None:
        self.rows = 0
        self.emitted = 0
        self.crossed = 0
        self.filtered = 0


@dataclass(frozen=True, slots=True)
class FileStats:
    """What one file contributed so far.

    `rows_read`: data rows parsed (blank lines not counted); `quotes_emitted`: quotes yielded
    (four per kline); `crossed_skipped`: quotes with bid > ask, dropped; `filtered_out`: quotes
    before start_ms or of another symbol than the one selected (reading stops at end_ms).
    """

    path: Path
    symbol: str | None
    kind: str
    rows_read: int
    quotes_emitted: int
    crossed_skipped: int
    filtered_out: int
