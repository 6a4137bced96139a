"""`--strategy NAME` (repeatable), shared by simulate, evaluate and live: the candidate
generators to run instead of `strategy.families` (see slt.application.trader.families)."""

from __future__ import annotations

import argparse


def add_strategy_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strategy",
        action="append",
        metavar="NAME|module:Class",
        help="candidate generator to run (repeat for several; default: strategy.families): "
        "trend, reversion, an entry point of group slt.strategies, or module:Class",
    )


def strategy_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {"strategy.families": list(args.strategy)} if args.strategy else {}
