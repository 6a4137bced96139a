"""`slt download`: USDT-M market data from Binance's public archive, for `slt simulate --data`.

    slt download KIND --symbols BTCUSDT,ETHUSDT --start 2024-01 [--end 2024-03]
                 [--interval 5m] [--daily] [--out DIR] [--base-url URL]
                 [--rest [--rest-url URL]]

KIND is klines, bookTicker, aggTrades or fundingRate. Files land in DIR/KIND/ under the
archive's names (`BTCUSDT-5m-2024-01.zip`), so `slt simulate --data DIR/klines` replays them.
A rerun fetches only what is missing or incomplete (a `.part` file resumes where it stopped);
every file is kept only once its sha256 matches the archive's `.CHECKSUM`.

With `--rest`, klines and fundingRate come from Binance's REST API instead (the recent days the
archive does not hold yet; `--end` defaults to now), into `DIR/KIND/SYMBOL-...-rest.csv` in the
archive's columns, from the end of the archive files already in the folder (so no row replays
twice); a rerun continues after the last row written (slt.adapters.archive.rest).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tqdm import tqdm

from slt.adapters.archive.binance_vision import (
    DEFAULT_BASE_URL,
    ArchiveClient,
    ArchiveError,
    ArchiveFile,
    Kind,
    NotArchived,
    Throttled,
    archive_files,
    archived_until,
)
from slt.adapters.archive.rest import RestDataError, RestDownloader
from slt.adapters.binance.common.urls import MAINNET_REST
from slt.adapters.binance.funding import FundingRowError
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.live import LiveClock
from slt.ports.order_gateway import GatewayError

_SYMBOL = re.compile(r"[A-Z0-9]{2,30}")
_INTERVAL = re.compile(r"[1-9][0-9]*[smhdwM]")


def _day(text: str, *, last: bool = False) -> date:
    """`YYYY-MM-DD`, or `YYYY-MM` (its first day, or with `last` its last)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            first = date.fromisoformat(text + "-01")
            if not last:
                return first
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return date.fromordinal(following.toordinal() - 1)
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM or YYYY-MM-DD") from None


def _symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    bad = [s for s in symbols if not _SYMBOL.fullmatch(s)]
    if bad or not symbols:
        raise argparse.ArgumentTypeError(f"{text!r}: symbols are like BTCUSDT,ETHUSDT")
    return symbols


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slt download", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=[k.value for k in Kind], help="what to fetch")
    parser.add_argument("--symbols", type=_symbols, required=True, help="BTCUSDT,ETHUSDT")
    parser.add_argument("--start", required=True, help="first month or day (YYYY-MM[-DD])")
    parser.add_argument("--end", help="last month or day, included (default: --start)")
    parser.add_argument("--interval", help="klines: bar interval, like 5m or 1h")
    parser.add_argument(
        "--daily", action="store_true", help="daily files instead of monthly ones"
    )
    parser.add_argument("--out", type=Path, default=Path("slt-data"), help="folder (slt-data)")
    parser.add_argument(
        "--base-url",
        default=os.environ.get("SLT_ARCHIVE_URL", DEFAULT_BASE_URL),
        help=f"archive root (default {DEFAULT_BASE_URL}, or SLT_ARCHIVE_URL)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--rest", action="store_true",
        help="klines/fundingRate from the REST API (recent days the archive lacks)",
    )
    parser.add_argument(
        "--rest-url",
        default=os.environ.get("SLT_REST_URL", MAINNET_REST),
        help=f"REST root for --rest (default {MAINNET_REST}, or SLT_REST_URL)",
    )
    return parser


def run_download(argv: Sequence[str]) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv))
    try:
        kind = Kind(args.kind)
        if args.interval is not None and not _INTERVAL.fullmatch(args.interval):
            raise ValueError(f"--interval {args.interval!r} is not like 5m or 1h")
        if kind is not Kind.KLINES and args.interval is not None:
            raise ValueError("--interval is for klines only")
        start = _day(args.start)
        if args.rest:
            return _rest(args, kind, start)
        end = _day(args.end or args.start, last=True)
        files = archive_files(
            kind, args.symbols, start, end, interval=args.interval, daily=args.daily
        )
        client = ArchiveClient(args.base_url)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(f"slt download: {exc}", file=sys.stderr)
        return 2
    return _fetch_all(client, files, args.out / kind.value, quiet=args.quiet)


def _fetch_all(client: ArchiveClient, files: list[ArchiveFile], folder: Path, quiet: bool) -> int:
    fetched = present = 0
    missing: list[str] = []
    failed: list[str] = []
    with tqdm(
        total=len(files), unit=" files", file=sys.stderr, disable=quiet, leave=False
    ) as bar:
        for file in files:
            bar.set_description(file.name)
            try:
                if client.fetch(file, folder / file.name):
                    fetched += 1
                else:
                    present += 1
            except NotArchived as exc:
                missing.append(str(exc))
            except Throttled as exc:
                failed.append(f"{exc}; stopped here, run again later to resume")
                break
            except ArchiveError as exc:
                failed.append(str(exc))
            bar.update(1)
    for line in missing + failed:
        print(line, file=sys.stderr)
    print(
        f"{folder}: {fetched} fetched, {present} already there, {len(missing)} not in the "
        f"archive, {len(failed)} failed"
    )
    return 1 if failed or (missing and not fetched and not present) else 0


def _rest(args: argparse.Namespace, kind: Kind, start: date) -> int:
    if kind not in (Kind.KLINES, Kind.FUNDING_RATE):
        raise ValueError("--rest fetches klines and fundingRate only")
    if kind is Kind.KLINES and args.interval is None:
        raise ValueError("klines need an --interval (like 5m)")
    if args.daily:
        raise ValueError("--daily is for archive files; --rest writes one file per symbol")
    clock = LiveClock()
    end_ms = clock.now_ms()
    if args.end is not None:
        end_ms = min(end_ms, _ms(_day(args.end, last=True) + timedelta(days=1)))
    config = RestConfig(base_url=args.rest_url)
    return asyncio.run(_fetch_rest(args, kind, _ms(start), end_ms, config, clock))


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


async def _fetch_rest(
    args: argparse.Namespace, kind: Kind, start_ms: int, end_ms: int, config: RestConfig,
    clock: LiveClock,
) -> int:
    folder = args.out / kind.value
    failed = 0
    with tqdm(unit=" rows", file=sys.stderr, disable=args.quiet, leave=False) as bar:
        async with BinanceHttpClient(config, clock) as client:
            rest = RestDownloader(client)
            for symbol in args.symbols:
                bar.set_description(symbol)
                label = f"{symbol}-{args.interval}" if kind is Kind.KLINES else f"{symbol}-{kind}"
                # Rows the archive files in the folder hold already would replay twice.
                archived = archived_until(folder, label)
                since = max(start_ms, _ms(archived)) if archived else start_ms
                try:
                    if kind is Kind.KLINES:
                        fetched = await rest.klines(
                            symbol, args.interval, since, end_ms, folder, bar.update
                        )
                    else:
                        fetched = await rest.funding(symbol, since, end_ms, folder, bar.update)
                except (GatewayError, RestDataError, FundingRowError) as exc:
                    print(f"{symbol}: {exc}; stopped here, run again later to resume",
                          file=sys.stderr)
                    failed += 1
                    break
                resumed = "" if fetched.resumed_from_ms is None else " (resumed)"
                print(f"{fetched.path}: {fetched.rows} rows written{resumed}")
    return 1 if failed else 0
