"""The `slt` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from slt.adapters.replay import ReplayError, parse_data_arg
from slt.config import ConfigError, load_settings
from slt.simulator.run import bundled_sources, simulate


def _iso_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the bot lives in UTC
    return int(moment.timestamp() * 1000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slt", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    verbs = parser.add_subparsers(dest="verb", required=True)
    sim = verbs.add_parser(
        "simulate",
        help="replay market data through the bot on a simulated clock and exchange",
        description="Replay market data (quotes or klines CSV, plain or gzip) through the bot. "
        "With no --data, runs on the real Binance futures data bundled with slt.",
    )
    sim.add_argument(
        "--data",
        action="append",
        metavar="[SYMBOL=]PATH",
        help="market data file; repeat for several (SYMBOL= names a single-symbol file)",
    )
    sim.add_argument("--start", type=_iso_ms, help="first moment to replay (ISO, UTC default)")
    sim.add_argument("--end", type=_iso_ms, help="moment to stop at, exclusive (ISO)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument("--out", type=Path, default=Path("slt-out"), help="output folder")
    sim.add_argument("--config", type=Path, help="TOML settings file")
    sim.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.verb == "simulate":
        return _simulate(args)
    return 2


def _simulate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        if settings.mode != "simulate":
            raise ConfigError("mode: `slt simulate` runs only in mode 'simulate'")
        sources = [parse_data_arg(d) for d in args.data] if args.data else bundled_sources()
        for source in sources:
            if not source.path.is_file():
                raise ReplayError(f"{source.path}: no such file")
        with _progress_bar(enabled=sys.stdout.isatty() and not args.json) as progress:
            summary = asyncio.run(
                simulate(
                    settings,
                    sources,
                    args.out,
                    start_ms=args.start,
                    end_ms=args.end,
                    seed=args.seed,
                    progress=progress,
                )
            )
    except (ConfigError, ReplayError, ValueError) as exc:
        print(f"slt simulate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(summary.to_json() + b"\n")
    else:
        print(summary.to_text())
    return 0


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int], object] | None]:
    if not enabled:
        yield None
        return
    with tqdm(unit=" quotes", unit_scale=True, file=sys.stderr, leave=False) as bar:
        yield bar.update


if __name__ == "__main__":
    sys.exit(main())
