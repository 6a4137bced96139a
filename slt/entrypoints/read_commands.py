"""The operator's read commands: `slt report`, `slt show-trades` and `slt show-config`.

Each `run_*` takes the arguments after its verb and returns the exit code:

    0  success
    1  runtime error (the database cannot be read, a report cannot be written)
    2  usage or configuration error (bad flag or date, no database or a file that is not the
       bot's database, invalid setting or key file)

They never change the bot's state: `report` writes report files and, for a day that has none,
its row in the `reports` table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import ENV_KEY, ENV_SECRET, CredentialsError, load_credentials
from slt.adapters.notify.env import (
    ENV_DISCORD_WEBHOOK_URL,
    ENV_TELEGRAM_CHAT_ID,
    ENV_TELEGRAM_TOKEN,
)
from slt.adapters.reporting.daily import FORMATS, DailyReporter
from slt.adapters.reporting.render import summary_lines
from slt.adapters.reporting.store import ReportStore
from slt.adapters.sqlite_store import SqliteStore
from slt.adapters.status.server import ENV_STATUS_TOKEN
from slt.config import ENV_OVERRIDES, ConfigError, Settings, load_settings
from slt.domain.values import DAY_MS
from slt.ports.clock import Clock
from slt.ports.store import TradeRecord

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
EXIT_CODES = """exit codes:
  0  success
  1  runtime error (database unreadable, report not written)
  2  usage or configuration error (bad flag or date, no database or not an slt one,
     invalid setting)"""
# Where the bot keeps its state, in the order a command without --db looks for it.
DEFAULT_DBS = (Path("slt-state/live.db"), Path("slt-state/paper.db"), Path("slt-out/state.db"))
SQLITE_HEADER = b"SQLite format 3\x00"
HIDDEN = "<hidden>"
NOT_SET = "<not set>"


class UsageError(Exception):
    """Bad input from the operator: exit code 2."""


def _command(
    prog: str,
    build: Callable[[argparse.ArgumentParser], None],
    body: Callable[[argparse.Namespace], int],
    argv: Sequence[str],
    description: str,
) -> int:
    parser = argparse.ArgumentParser(
        prog=f"slt {prog}",
        description=description,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build(parser)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as stop:  # --help (0) or a usage error (2): argparse has said why
        return int(stop.code or 0)
    try:
        return body(args)
    except (UsageError, ConfigError, CredentialsError) as exc:
        print(f"slt {prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        raise  # the reader went away: `slt` exits quietly
    except (sqlite3.Error, OSError) as exc:
        print(f"slt {prog}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


def _db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        help="the bot's SQLite file (default: the first of "
        + ", ".join(str(p) for p in DEFAULT_DBS)
        + " that exists)",
    )


def _find_db(given: Path | None) -> Path:
    if given is not None:
        if not given.is_file():
            raise UsageError(f"{given}: no such database")
        return _checked_db(given)
    for candidate in DEFAULT_DBS:
        if candidate.is_file():
            return _checked_db(candidate)
    raise UsageError("no database found (tried " + ", ".join(map(str, DEFAULT_DBS)) + "); use --db")


def _checked_db(path: Path) -> Path:
    """Refuse a file that is not a bot's store before opening it for real: opening creates
    the store's tables, which must not happen to an empty file or another program's database."""
    with open(path, "rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if not header:
        raise UsageError(f"{path}: empty file, not an slt database")
    if header != SQLITE_HEADER:
        raise UsageError(f"{path}: not an SQLite database")
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as conn:
            found = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'trades'"
            ).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path}: not a readable SQLite database ({exc})") from None
    if not found:
        raise UsageError(f"{path}: an SQLite database, but not an slt store (no trades table)")
    return path


def _print_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _day_start(text: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(f"--date {text!r} is not a date like 2025-12-01") from None
    return int(day.timestamp() * 1000)


# --- slt report ---


def run_report(argv: Sequence[str], *, clock: Clock | None = None) -> int:
    """`slt report [--date YYYY-MM-DD] [--db PATH] [--out DIR] [--format ...] [--json]`"""
    clock = clock or LiveClock()

    def build(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--date",
            help="UTC day to report: YYYY-MM-DD, 'yesterday', or 'today' (the day so far). "
            "Default: the last day the store has activity on (a simulation's last day), or "
            "yesterday if that is earlier",
        )
        _db_arg(p)
        p.add_argument(
            "--out", type=Path, help="folder for the files (default: reports/ beside the database)"
        )
        p.add_argument(
            "--format",
            action="append",
            choices=sorted(FORMATS),
            dest="formats",
            help="file to write; repeat for several (default: md, html and png)",
        )
        p.add_argument("--json", action="store_true", help="print the figures as JSON")

    def body(args: argparse.Namespace) -> int:
        now = clock.now_ms()
        today = now - now % DAY_MS
        named = {"today": today, "yesterday": today - DAY_MS}
        day_start = None if args.date is None else named.get(args.date) or _day_start(args.date)
        if day_start is not None and day_start > today:
            raise UsageError(f"--date {args.date} has not begun yet")
        db = _find_db(args.db)
        out = args.out or db.parent / "reports"
        formats = tuple(args.formats or ("md", "html", "png"))
        with SqliteStore(db) as store, ReportStore(db) as reports:
            if day_start is None:
                day_start = _last_day(store, reports, today)
            reporter = DailyReporter(store, None, out, formats=formats, report_store=reports)
            if day_start == today:
                asyncio.run(reporter.report_day(day_start, max(now, day_start + 1)))
            else:
                asyncio.run(reporter.regenerate(day_start, now))
        written = reporter.last
        assert written is not None
        files = {
            kind: str(path)
            for kind, path in (
                ("md", written.markdown),
                ("html", written.html),
                ("png", written.png),
            )
            if path is not None
        }
        if args.json:
            _print_json({"files": files, "report": written.report.to_dict()})
        else:
            print(f"slt daily report {written.report.day} (UTC), from {db}")
            for line in summary_lines(written.report):
                print(f"  {line}")
            for path in files.values():
                print(f"wrote {path}")
        return EXIT_OK

    return _command(
        "report",
        build,
        body,
        argv,
        "Write the daily report of a UTC day (Markdown, HTML, PNG) from the store.",
    )


def _last_day(store: SqliteStore, reports: ReportStore, today: int) -> int:
    """The day a bare `slt report` means: the last day with activity in the store or a report
    row (a simulation's last day), but never today, which has not ended."""
    last_report = reports.last_report()
    times = [store.last_activity_ms(), None if last_report is None else last_report.day_start_ms]
    known = [t for t in times if t is not None]
    if not known:
        return today - DAY_MS
    last = max(known)
    return min(last - last % DAY_MS, today - DAY_MS)


# --- slt show-trades ---


def run_show_trades(argv: Sequence[str]) -> int:
    """`slt show-trades [--db PATH] [--symbol S] [--since YYYY-MM-DD] [--limit N] [--json]`"""

    def build(p: argparse.ArgumentParser) -> None:
        _db_arg(p)
        p.add_argument("--symbol", help="only this symbol")
        p.add_argument("--since", help="only trades closed on or after this UTC day")
        p.add_argument("--limit", type=int, help="only the last N trades")
        p.add_argument("--json", action="store_true", help="print the trades as JSON")

    def body(args: argparse.Namespace) -> int:
        if args.limit is not None and args.limit < 0:
            raise UsageError("--limit must not be negative")
        since = None if args.since is None else _day_start(args.since)
        db = _find_db(args.db)
        with SqliteStore(db) as store:
            trades = store.trades()
        if args.symbol:
            trades = [t for t in trades if t.symbol == args.symbol.upper()]
        if since is not None:
            trades = [t for t in trades if t.close_ms >= since]
        if args.limit is not None:
            trades = trades[len(trades) - args.limit :] if args.limit else []
        if args.json:
            _print_json([_trade_json(t) for t in trades])
        else:
            _print_trades(trades)
        return EXIT_OK

    return _command("show-trades", build, body, argv, "List closed trades from the store.")


def _trade_json(t: TradeRecord) -> dict[str, Any]:
    return {
        "position_id": t.position_id,
        "symbol": t.symbol,
        "side": t.side,
        "qty": str(t.qty),
        "entry_price": str(t.entry_price),
        "exit_price": str(t.exit_price),
        "fees": str(t.fees),
        "pnl": str(t.pnl),
        "open_ms": t.open_ms,
        "close_ms": t.close_ms,
        "open_time": _iso(t.open_ms),
        "close_time": _iso(t.close_ms),
        "exit_reason": t.exit_reason,
    }


def _print_trades(trades: Sequence[TradeRecord]) -> None:
    headers = (
        "closed (UTC)",
        "symbol",
        "side",
        "qty",
        "entry",
        "exit",
        "fees",
        "net P&L",
        "reason",
        "id",
    )
    rows = [
        (
            _iso(t.close_ms),
            t.symbol,
            t.side,
            str(t.qty),
            str(t.entry_price),
            f"{t.exit_price:.8g}",
            f"{t.fees:.4f}",
            f"{t.pnl:.4f}",
            t.exit_reason,
            str(t.position_id),
        )
        for t in trades
    ]
    if not trades:
        print("no closed trades")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    net = sum((t.pnl for t in trades), Decimal(0))
    wins = sum(1 for t in trades if t.pnl > 0)
    rate = f"{wins / len(trades):.1%}" if trades else "n/a"
    print(f"{len(trades)} trades, {wins} wins ({rate}), net P&L {net:.4f} USDT")


# --- slt show-config ---


def run_show_config(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    """`slt show-config [--config FILE ...] [--key-file PATH] [--show-secrets] [--json]`"""
    environ = dict(os.environ if env is None else env)

    def build(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            type=Path,
            action="extend",
            nargs="+",
            default=[],
            metavar="FILE",
            help="TOML settings files, layered in order (later files win)",
        )
        p.add_argument(
            "--key-file",
            type=Path,
            help="Binance key file (TOML with api_key and api_secret, mode 600)",
        )
        p.add_argument(
            "--show-secrets",
            action="store_true",
            help="print the secrets' values instead of hiding them",
        )
        p.add_argument("--json", action="store_true", help="print as JSON")

    def body(args: argparse.Namespace) -> int:
        settings = merged_settings(args.config, environ)
        secrets = _secrets(environ, args.key_file, reveal=args.show_secrets)
        doc = {
            "sources": {
                "config_files": [str(p) for p in args.config],
                "environment": sorted(n for n in ENV_OVERRIDES if environ.get(n)),
            },
            "settings": _plain(settings),
            "secrets": secrets,
        }
        if args.json:
            _print_json(doc)
        else:
            _print_config(doc)
        return EXIT_OK

    return _command(
        "show-config",
        build,
        body,
        argv,
        "Print the settings in force (defaults < config files < environment) and which "
        "secrets are set. Secrets are hidden unless --show-secrets.",
    )


def merged_settings(paths: Sequence[Path], env: Mapping[str, str]) -> Settings:
    """Defaults, then each file in order, then the environment: `load_settings` for several
    files. Later files override earlier ones key by key."""
    return load_settings(paths, env=env)


def _dotted(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _secrets(env: Mapping[str, str], key_file: Path | None, *, reveal: bool) -> dict[str, Any]:
    def shown(value: str) -> str:
        return (value if reveal else HIDDEN) if value else NOT_SET

    if key_file is not None:
        credentials = load_credentials(key_file=key_file)
        binance = {
            "source": f"key file {key_file}",
            "api_key": shown(credentials.api_key),
            "api_secret": shown(credentials.api_secret),
        }
    else:
        binance = {
            "source": "environment",
            "api_key": shown(env.get(ENV_KEY, "").strip()),
            "api_secret": shown(env.get(ENV_SECRET, "").strip()),
        }
    return {
        "binance": binance,
        ENV_TELEGRAM_TOKEN: shown(env.get(ENV_TELEGRAM_TOKEN, "").strip()),
        # not a secret: it names the chat, and is needed to tell which chat is configured
        ENV_TELEGRAM_CHAT_ID: env.get(ENV_TELEGRAM_CHAT_ID, "").strip() or NOT_SET,
        ENV_DISCORD_WEBHOOK_URL: shown(env.get(ENV_DISCORD_WEBHOOK_URL, "").strip()),
        ENV_STATUS_TOKEN: shown(env.get(ENV_STATUS_TOKEN, "").strip()),
    }


def _print_config(doc: Mapping[str, Any]) -> None:
    files = doc["sources"]["config_files"]
    envs = doc["sources"]["environment"]
    print(
        "# settings: defaults"
        + "".join(f" < {f}" for f in files)
        + "".join(f" < ${e}" for e in envs)
    )
    for key, value in _dotted(doc["settings"]).items():
        print(f"{key} = {_toml_value(value)}")
    print("\n# secrets (from the environment or a key file, never from config files)")
    for key, value in _dotted(doc["secrets"]).items():
        print(f"{key} = {value}")


def _toml_value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)
