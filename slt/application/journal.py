"""The operator's journal: what a running bot did that its operator should see without `-v`
(trades opened and closed, protective stops, commands, reloads, start and shutdown).

`journal` logs at INFO under the name `slt.application.journal`; `ConsoleLevel` is the filter that
lets those records through a console otherwise kept at WARNING, and `LogFile` adds the rotating
log file of a live session (everything at INFO, whatever the console shows).
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

JOURNAL = "slt.application.journal"
journal = logging.getLogger(JOURNAL)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConsoleLevel(logging.Filter):
    """Passes records at `level` and above, and the journal's at any level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or record.name.startswith(JOURNAL)


class LogFile:
    """While open: the journal at INFO on the console, and every record at INFO and above
    (DEBUG with -vv) in `path`, rotated at `max_bytes` with `backups` old files kept
    (`max_bytes` 0: no file). `close` restores the logging set-up it found."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._handler: logging.Handler | None = None
        self._filtered: list[tuple[logging.Handler, ConsoleLevel]] = []
        self._saved: tuple[int, int] | None = None

    def open(self) -> None:
        root = logging.getLogger()
        console_level = root.getEffectiveLevel()
        self._saved = (root.level, journal.level)
        journal.setLevel(logging.INFO)
        if not self._max_bytes:
            return
        for handler in root.handlers:
            console = ConsoleLevel(max(console_level, handler.level))
            handler.addFilter(console)
            self._filtered.append((handler, console))
        file_level = min(console_level, logging.INFO)
        root.setLevel(file_level)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            self.path, maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8"
        )
        handler.setLevel(file_level)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        self._handler = handler

    def close(self) -> None:
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        for handler, console in self._filtered:
            handler.removeFilter(console)
        self._filtered.clear()
        if self._saved is not None:
            root.setLevel(self._saved[0])
            journal.setLevel(self._saved[1])
            self._saved = None
