"""Opening data files as text, whether plain or gzip, whatever their line ends."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import TextIO

from slt.adapters.replay.errors import ReplayError

_GZIP_MAGIC = b"\x1f\x8b"
# Decompressed text is read in large blocks: per-call overhead of the gzip reader then vanishes
# against parsing (measured ~5 % faster than the default 8 KiB).
_BUFFER = 1 << 20


def is_gzip(path: Path) -> bool:
    """By content, not by name: a `.csv.gz` that was unpacked in place still reads."""
    try:
        with open(path, "rb") as raw:
            return raw.read(2) == _GZIP_MAGIC
    except FileNotFoundError:
        raise ReplayError(path, "no such file") from None
    except IsADirectoryError:
        raise ReplayError(path, "is a directory, not a data file") from None
    except OSError as exc:
        raise ReplayError(path, f"cannot be read ({exc.strerror or exc})") from None


def open_text(path: Path) -> TextIO:
    """A text stream of the file's lines with `\\n` ends and no byte-order mark.

    `utf-8-sig` drops a BOM that spreadsheet exports put before the header, and universal
    newlines turn CRLF into `\\n`, so the parsers only ever see `\\n`.
    """
    if is_gzip(path):
        binary: io.BufferedIOBase = io.BufferedReader(gzip.GzipFile(path, "rb"), _BUFFER)
    else:
        binary = open(path, "rb", buffering=_BUFFER)  # noqa: SIM115 - wrapped and returned
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline=None)
