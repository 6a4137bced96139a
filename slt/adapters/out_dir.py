"""The output folder of a simulation: checked, locked against a second run, emptied of the
previous run's results.

A run owns its folder while it writes: `DIR/.slt.lock` holds an exclusive `flock` and the
owner's pid, so a second simulation into the same folder is refused with that pid instead of
interleaving its writes with the first one's. The lock dies with the process (no stale lock to
clean up after a crash).

Re-running into a folder starts clean: the files a previous run wrote there (state.db,
trades.csv, the reports and models) are removed first, so no result of the old run is mistaken
for the new one's and the learner does not start from the old run's models. Only names slt
writes are removed, never anything else in the folder. `keep_models=True` keeps `models/`, to
start the learner from a previous run's registry on purpose.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".slt.lock"
# What a run writes at the top of its folder (the SQLite file with its WAL companions).
RUN_FILES = (
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "trades.csv",
    "report.html",
    "report.md",
    ".report.html.partial",  # left by a run killed while writing its report
    ".report.md.partial",
)
# The stores of `slt live` (paper and real): a folder holding one is not a simulation's.
BOT_STATE = ("live.db", "paper.db")
_REPORT_FILE = re.compile(r"^\.?\d{4}-\d{2}-\d{2}\.(md|html|png)(\.partial)?$")
_MODEL_FILE = re.compile(r"^(model-\d{4}\.(pkl|json)|registry\.json)$")


class OutDirError(ValueError):
    """The output folder cannot be used; the message names it (a usage error)."""


@contextlib.contextmanager
def claimed_out_dir(path: Path, *, keep_models: bool = False) -> Iterator[Path]:
    """Create `path` if needed, lock it for this process and remove the previous run's
    results; the lock is released on leaving."""
    if path.exists() and not path.is_dir():
        raise OutDirError(f"--out {path}: exists and is not a folder")
    for name in BOT_STATE:
        if (path / name).exists():
            # Clearing it would delete the bot's daily reports (reports/ beside its store).
            raise OutDirError(f"--out {path}: holds a bot's state ({name}); choose another folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = open(path / LOCK_NAME, "a+", encoding="ascii")  # noqa: SIM115 (held until exit)
    except OSError as exc:
        raise OutDirError(f"--out {path}: cannot write there ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "unknown"
            raise OutDirError(
                f"--out {path}: another run (pid {owner}) is writing there; wait for it to "
                "finish or choose another folder"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            clear_previous_run(path, keep_models=keep_models)
        except OSError as exc:
            raise OutDirError(
                f"--out {path}: cannot remove the previous run's files ({exc})"
            ) from None
        yield path
    finally:
        lock.close()  # closing the file releases the flock


def clear_previous_run(path: Path, *, keep_models: bool = False) -> list[Path]:
    """Remove what an earlier run wrote into `path`; return what was removed."""
    removed = []
    for name in RUN_FILES:
        target = path / name
        if target.is_file():
            target.unlink()
            removed.append(target)
    folders = [("reports", _REPORT_FILE)]
    if not keep_models:
        folders.append(("models", _MODEL_FILE))
    for name, pattern in folders:
        folder = path / name
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.is_file() and pattern.match(entry.name):
                entry.unlink()
                removed.append(entry)
        with contextlib.suppress(OSError):  # not empty: the user's own files stay
            folder.rmdir()
    return removed
