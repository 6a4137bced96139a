"""Binance's public data archive (data.binance.vision): where its USDT-M files live, and fetching
them resumably, each checked against the archive's `.CHECKSUM` file.

Layout (USDT-M futures), `{period}` being `monthly` (`YYYY-MM`) or `daily` (`YYYY-MM-DD`):

    data/futures/um/{period}/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{date}.zip
    data/futures/um/{period}/bookTicker/{SYMBOL}/{SYMBOL}-bookTicker-{date}.zip
    data/futures/um/{period}/aggTrades/{SYMBOL}/{SYMBOL}-aggTrades-{date}.zip
    data/futures/um/monthly/fundingRate/{SYMBOL}/{SYMBOL}-fundingRate-{YYYY-MM}.zip

Every file has a sibling `<file>.CHECKSUM` holding `<sha256 hex>  <file name>`.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

DEFAULT_BASE_URL = "https://data.binance.vision"
_CHUNK = 1 << 16
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Kind(StrEnum):
    KLINES = "klines"
    BOOK_TICKER = "bookTicker"
    AGG_TRADES = "aggTrades"
    FUNDING_RATE = "fundingRate"


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    kind: Kind
    symbol: str
    path: str  # below the base URL

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


def archive_files(
    kind: Kind,
    symbols: list[str],
    start: date,
    end: date,
    *,
    interval: str | None = None,
    daily: bool = False,
) -> list[ArchiveFile]:
    """The archive's files of `kind` for `symbols` covering start..end (both included).

    Funding rates exist as monthly files only; klines need an `interval` (like 5m).
    """
    if kind is Kind.KLINES and not interval:
        raise ValueError("klines need an interval (like 5m)")
    if kind is Kind.FUNDING_RATE and daily:
        raise ValueError("funding rates are archived by month only")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    period = "daily" if daily else "monthly"
    stamps = _days(start, end) if daily else list(_months(start, end))
    files = []
    for symbol in symbols:
        folder = f"data/futures/um/{period}/{kind}/{symbol}"
        label = f"{symbol}-{interval}" if kind is Kind.KLINES else f"{symbol}-{kind}"
        if kind is Kind.KLINES:
            folder += f"/{interval}"
        files.extend(
            ArchiveFile(kind, symbol, f"{folder}/{label}-{stamp}.zip") for stamp in stamps
        )
    return files


def _months(start: date, end: date) -> Iterator[str]:
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


_PERIOD = re.compile(r"-(\d{4})-(\d{2})(?:-(\d{2}))?\.(?:zip|csv)$")


def archived_until(folder: Path, label: str) -> date | None:
    """The day after the last period covered by archive files named `{label}-{period}` (like
    `BTCUSDT-5m-2024-01.zip`, `BTCUSDT-5m-2024-02-03.zip`) in `folder`, None if there are none."""
    ends = []
    for path in folder.glob(f"{label}-*") if folder.is_dir() else ():
        match = _PERIOD.search(path.name)
        if match is None or path.name != f"{label}{match.group(0)}":
            continue
        year, month, day = int(match.group(1)), int(match.group(2)), match.group(3)
        if day is not None:
            ends.append(date(year, month, int(day)) + timedelta(days=1))
        else:
            ends.append(date(year + month // 12, month % 12 + 1, 1))
    return max(ends, default=None)


class ArchiveError(Exception):
    """A file could not be fetched or verified; the message names it."""


class NotArchived(ArchiveError):
    """The archive has no such file (404): a period not published, or a symbol not listed."""


class Throttled(ArchiveError):
    """The archive asks to stop (429/418, or 503): nothing more should be asked for now."""

    def __init__(self, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


Progress = Callable[[int], object]


class ArchiveClient:
    """Fetches archive files into a folder, resuming partial downloads (`<name>.part`) with an
    HTTP range request, and keeping a file only once its sha256 matches the archive's."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 60.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"archive URL {base_url!r} is not http(s)")
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s

    def url(self, file: ArchiveFile) -> str:
        return f"{self._base}/{file.path}"

    def checksum(self, file: ArchiveFile) -> str:
        with self._open(self.url(file) + ".CHECKSUM", file) as response:
            text = response.read(4096).decode("ascii", errors="replace")
        digest = text.split(maxsplit=1)[0].lower() if text.strip() else ""
        if not _SHA256.fullmatch(digest):
            raise ArchiveError(f"{file.name}.CHECKSUM does not start with a sha256: {text!r}")
        return digest

    def fetch(self, file: ArchiveFile, dest: Path, progress: Progress | None = None) -> bool:
        """Make `dest` the verified file; False if it was there already, True if fetched."""
        expected = self.checksum(file)
        if dest.exists() and _sha256(dest) == expected:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(self.url(file))
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with self._open(request, file) as response:
                resumed = response.status == 206
                with open(part, "ab" if resumed else "wb") as out:
                    if progress is not None and resumed:
                        progress(have)
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
        except _RangeDone:
            pass  # the partial file was complete already
        if _sha256(part) != expected:
            part.unlink()
            raise ArchiveError(f"{file.name}: sha256 differs from its .CHECKSUM; removed")
        part.replace(dest)
        return True

    def _open(self, request: urllib.request.Request | str, file: ArchiveFile):  # type: ignore[no-untyped-def]
        url = request if isinstance(request, str) else request.full_url
        try:
            return urllib.request.urlopen(request, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:
                raise _RangeDone from None
            if exc.code == 404:
                raise NotArchived(f"{file.name}: not in the archive ({url})") from None
            if exc.code in (418, 429, 503):
                after = exc.headers.get("Retry-After")
                seconds = int(after) if after and after.isdigit() else None
                wait = f"; asked to wait {seconds} s" if seconds is not None else ""
                raise Throttled(f"archive answered {exc.code} for {url}{wait}", seconds) from None
            raise ArchiveError(f"{file.name}: HTTP {exc.code} from {url}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ArchiveError(f"{file.name}: cannot reach {url} ({reason})") from None


class _RangeDone(Exception):
    """416 on a range request: nothing beyond what the partial file holds."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
