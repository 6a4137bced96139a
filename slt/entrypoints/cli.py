"""The `slt` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tqdm import tqdm

from slt.adapters.credentials import CredentialsError, load_credentials
from slt.adapters.process_memory import tune_allocator
from slt.adapters.replay import ReplayError, parse_data_arg
from slt.application.trader.families import FamilyError, build_generators
from slt.config import ConfigError, load_settings
from slt.data import bundled_sources
from slt.entrypoints.live import LiveOptions, StartupRefused, install_signal_handlers, run_live
from slt.entrypoints.read_commands import run_report, run_show_config, run_show_trades
from slt.entrypoints.simulate import simulate
from slt.entrypoints.strategy_flag import add_strategy_flag, strategy_overrides
from slt.ports.order_gateway import GatewayError

READ_VERBS = {
    "report": (run_report, "write a day's report from the store"),
    "show-trades": (run_show_trades, "list closed trades"),
    "show-config": (run_show_config, "print the settings in force (secrets hidden)"),
}


def _iso_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the bot lives in UTC
    return int(moment.timestamp() * 1000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slt",
        description=__doc__,
        epilog="exit codes: 0 success; 1 runtime error (exchange refused, start-up check "
        "failed); 2 usage or configuration error (the message names the key or file)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log at INFO level (-vv: DEBUG)"
    )
    parser.add_argument("--version", action="version", version=f"slt {_version()}")
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
    sim.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        help="TOML settings file; repeat to layer several (later files win)",
    )
    sim.add_argument("--json", action="store_true", help="print the summary as JSON")
    sim.add_argument(
        "--keep-models",
        action="store_true",
        help="start the learner from the models a previous run left in --out (by default a "
        "run removes the previous run's files from --out and starts clean)",
    )
    add_strategy_flag(sim)

    live = verbs.add_parser(
        "live",
        help="run the bot on Binance market data: paper trading unless --live",
        description="Run the bot 24/7 on Binance USDT-M market data. Without --live it paper "
        "trades (simulated fills, its own state file); --live sends real orders and needs "
        "BINANCE_API_KEY/BINANCE_API_SECRET or --key-file.",
    )
    live.add_argument(
        "--live", dest="real_orders", action="store_true", help="send REAL orders with REAL money"
    )
    live.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        help="TOML settings file; repeat to layer several (later files win)",
    )
    live.add_argument(
        "--symbols",
        help="comma-separated symbols (default: live.symbols, or the most traded USDT perpetuals)",
    )
    live.add_argument("--rest-url", help="REST base URL (also SLT_BINANCE_REST_URL)")
    live.add_argument("--ws-url", help="WebSocket base URL (also SLT_BINANCE_WS_URL)")
    live.add_argument(
        "--key-file", type=Path, help="TOML file with api_key and api_secret (mode 600)"
    )
    live.add_argument("--seed", type=int, default=0, help="random seed (reconnect jitter)")
    add_strategy_flag(live)

    for verb, (_, text) in READ_VERBS.items():
        verbs.add_parser(verb, help=text, add_help=False).add_argument(
            "rest", nargs=argparse.REMAINDER
        )
    verbs.add_parser(
        "evaluate",
        help="walk-forward evaluation of the rules and the learned model on real bars",
        add_help=False,
    ).add_argument("rest", nargs=argparse.REMAINDER)
    verbs.add_parser(
        "download",
        help="fetch market data from Binance's public archive for --data",
        add_help=False,
    ).add_argument("rest", nargs=argparse.REMAINDER)
    emu = verbs.add_parser(
        "emulator",
        help="serve a local Binance USDT-M protocol emulator on 127.0.0.1",
        add_help=False,
    )
    emu.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _evaluate(argv: list[str]) -> int:
    from slt.entrypoints.evaluate import run_evaluate  # scikit-learn loads only when needed

    return run_evaluate(argv)


def _download(argv: list[str]) -> int:
    from slt.entrypoints.download import run_download

    return run_download(argv)


def _emulator(argv: list[str]) -> int:
    from slt.emulator.cli import run_emulator

    return run_emulator(argv)


# Verbs with parsers of their own: everything after the verb is theirs, `--help` included.
DELEGATED = {
    **{verb: run for verb, (run, _) in READ_VERBS.items()},
    "evaluate": _evaluate,
    "emulator": _emulator,
    "download": _download,
}


def main(argv: Sequence[str] | None = None) -> int:
    tune_allocator()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # The reader went away (`slt show-trades | head`): what it wanted it has. Point stdout
        # at /dev/null so the interpreter's final flush does not complain, and exit quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C outside `slt live` (which handles SIGINT itself)
        print("slt: interrupted", file=sys.stderr)
        return 130  # the shell's code for a command ended by SIGINT


def _version() -> str:
    try:
        return version("slt")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _main(argv: list[str]) -> int:
    if argv and argv[0] in DELEGATED:
        return DELEGATED[argv[0]](argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.verb == "simulate":
        return _simulate(args)
    if args.verb == "live":
        return _live(args)
    return 2


def _live(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = strategy_overrides(args)
    if args.symbols:
        overrides["live.symbols"] = [s.strip().upper() for s in args.symbols.split(",") if s]
    if args.rest_url:
        overrides["live.rest_url"] = args.rest_url
    if args.ws_url:
        overrides["live.ws_url"] = args.ws_url
    try:
        settings = load_settings(args.config, overrides, env=os.environ)
        build_generators(settings.strategy)  # a generator that cannot load stops here
        credentials = None
        if args.real_orders or args.key_file:
            credentials = load_credentials(key_file=args.key_file)
    except (ConfigError, CredentialsError, FamilyError) as exc:
        print(f"slt live: {exc}", file=sys.stderr)
        return 2
    if args.real_orders:
        print("slt live: REAL ORDERS: trading with real money", file=sys.stderr)
    options = LiveOptions(
        args.real_orders,
        credentials,
        args.seed,
        print_status=lambda line: print(line, flush=True),
        reload_settings=lambda: load_settings(args.config, overrides, env=os.environ),
    )

    async def main() -> int:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        return await run_live(settings, options, stop)

    try:
        return asyncio.run(main())
    except (StartupRefused, GatewayError) as exc:
        print(f"slt live: {exc}", file=sys.stderr)
        return 1


def _simulate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, strategy_overrides(args), env=os.environ)
        if settings.mode != "simulate":
            raise ConfigError("mode: `slt simulate` runs only in mode 'simulate'")
        sources = [parse_data_arg(d) for d in args.data] if args.data else bundled_sources()
        for source in sources:
            if not source.path.exists():
                raise ReplayError(source.path, "no such file")
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
                    keep_models=args.keep_models,
                )
            )
    except (ConfigError, ReplayError, ValueError) as exc:
        print(f"slt simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing the results
        print(f"slt simulate: {exc}", file=sys.stderr)
        return 1
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
