"""Recent market data from Binance's REST API, in the public archive's CSV formats: the days the
archive (data.binance.vision) does not hold yet, for `slt simulate --data`.

    {SYMBOL}-{interval}-rest.csv    GET /fapi/v1/klines, closed bars only, archive columns
    {SYMBOL}-fundingRate-rest.csv   GET /fapi/v1/fundingRate: calc_time,funding_interval_hours,
                                    last_funding_rate

Every request goes through the adapter's HTTP client (slt.adapters.binance.http), so request
weights (klines: 5 for 1000 rows) and the funding-rate pool (500 per 5 min) are reserved before
sending, and a 429's Retry-After or a 418's ban holds every later request. A 429 is retried once
the wait it asked for has passed (if at most a minute); a ban, or a longer wait, stops the run.
Rows are appended a page at a time and flushed, so a rerun continues after the last whole row
written (a torn last line is dropped first). The exchange's decimal strings are written as sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slt.adapters.binance.common import weights
from slt.adapters.binance.funding import funding_events
from slt.adapters.binance.http.client import BinanceHttpClient
from slt.domain.breaker import FailureKind
from slt.ports.order_gateway import ExchangeDown

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
KLINE_PAGE = 1000  # rows per klines request: weight 5, the cheapest per row (BINANCE.md §3)
FUNDING_PAGE = 1000  # the endpoint's maximum
HOUR_MS = 3_600_000
RATE_LIMITED = (FailureKind.RATE_LIMIT_429, FailureKind.BINANCE_1003)
MAX_RATE_RETRIES = 5

Progress = Callable[[int], object]


class RestDataError(ValueError):
    """An answer that cannot be written as archive rows; the message names the request."""


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path
    rows: int  # written by this run
    resumed_from_ms: int | None  # the last row already in the file, if any


class RestDownloader:
    def __init__(self, client: BinanceHttpClient) -> None:
        self._client = client

    async def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        folder: Path,
        progress: Progress | None = None,
    ) -> Fetched:
        """Closed bars of `symbol` opening in [start_ms, end_ms), after those already written."""
        path = folder / f"{symbol}-{interval}-rest.csv"
        last = _prepare(path, KLINE_HEADER)
        since = max(start_ms, last + 1) if last is not None else start_ms
        written = 0
        while since < end_ms:
            params = {
                "symbol": symbol, "interval": interval, "startTime": since,
                "endTime": end_ms - 1, "limit": KLINE_PAGE,
            }
            page = await self._send(weights.KLINES, params)
            now = self._client.time_sync.server_now_ms()
            rows = _kline_rows(page, since, symbol)
            closed = [r for r in rows if int(r[6]) < now]
            _append(path, closed)
            written += len(closed)
            if progress is not None:
                progress(len(closed))
            if len(rows) < KLINE_PAGE or len(closed) < len(rows):
                break  # the end of what exists, or the forming bar
            since = int(rows[-1][0]) + 1
        return Fetched(path, written, last)

    async def funding(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        folder: Path,
        progress: Progress | None = None,
    ) -> Fetched:
        """Funding settlements of `symbol` in [start_ms, end_ms), after those already written.
        `funding_interval_hours` is the gap to the previous settlement (empty for the first)."""
        path = folder / f"{symbol}-fundingRate-rest.csv"
        last = _prepare(path, FUNDING_HEADER)
        since = max(start_ms, last + 1) if last is not None else start_ms
        previous = last
        written = 0
        while since < end_ms:
            params = {
                "symbol": symbol, "startTime": since, "endTime": end_ms - 1,
                "limit": FUNDING_PAGE,
            }
            page = await self._send(weights.FUNDING_RATE, params)
            events = funding_events(page, since, symbol)
            rows = []
            for t, rate in events:
                hours = round((t - previous) / HOUR_MS) if previous is not None else None
                rows.append((str(t), str(hours) if hours else "", rate))
                previous = t
            _append(path, rows)
            written += len(rows)
            if progress is not None:
                progress(len(rows))
            if len(events) < FUNDING_PAGE:
                break
            since = events[-1][0] + 1
        return Fetched(path, written, last)

    async def _send(self, endpoint: weights.Endpoint, params: dict[str, Any]) -> Any:
        for _ in range(MAX_RATE_RETRIES):
            try:
                return await self._client.send(endpoint, params)
            except ExchangeDown as exc:
                # The client now holds its requests for the Retry-After (or the window); the
                # next send waits for it, or gives up with GatewayUnavailable if too long.
                if exc.failure not in RATE_LIMITED:
                    raise
        return await self._client.send(endpoint, params)


def _kline_rows(page: Any, since: int, symbol: str) -> list[Sequence[str]]:
    if not isinstance(page, list):
        raise RestDataError(f"klines {symbol}: expected a list, got {str(page)[:80]}")
    rows: list[Sequence[str]] = []
    before = since - 1
    for raw in page:
        if not isinstance(raw, list) or len(raw) < 11:
            raise RestDataError(f"klines {symbol}: not a kline row: {raw!r}"[:200])
        row = [str(v) for v in raw[:12]] + ["0"] * (12 - len(raw[:12]))
        if not (row[0].isdigit() and row[6].isdigit()) or int(row[0]) <= before:
            raise RestDataError(f"klines {symbol}: open time {row[0]} out of order or not ms")
        before = int(row[0])
        rows.append(row)
    return rows


def _prepare(path: Path, header: str) -> int | None:
    """Create `path` with its header, or cut a torn last line; the last row's time, if any."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size == 0:
        path.write_text(header + "\n")
        return None
    data = path.read_bytes()
    if not data.endswith(b"\n"):  # interrupted mid-line: that row was never whole
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as fh:
            fh.truncate(len(data))
    lines = data.decode().splitlines()
    if not lines or lines[0] != header:
        raise RestDataError(f"{path}: not a file this command wrote (header {lines[:1]})")
    return int(lines[-1].split(",", 1)[0]) if len(lines) > 1 else None


def _append(path: Path, rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        return
    with open(path, "a", encoding="ascii") as fh:
        fh.write("".join(",".join(r) + "\n" for r in rows))
        fh.flush()
        os.fsync(fh.fileno())
