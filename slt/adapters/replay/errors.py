"""The one exception replay raises for bad data."""

from __future__ import annotations

from pathlib import Path


class ReplayError(ValueError):
    """Data that cannot be replayed faithfully: the message names the file, the line and the fault.

    A ValueError, so that a CLI that maps bad input to a usage error catches it without knowing
    about replay.
    """

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason
