"""`slt evaluate`: walk-forward comparison of the `rules` and `gated` policies on real data.

`rules` is the baseline: what the rule candidates earn when every one the risk rules allow is
taken (cost filter, one position per symbol, daily loss limit; no drawdown stop). `gated` is the
trader as it runs by default: the permission layer over the rules, and over the model once one
passes its validation. Both policies run through `slt simulate`'s code
(slt.entrypoints.simulate.simulate) on the same data, each into its own folder under DIR; see
slt.application.evaluation.walk_forward for the fold scheme.
Writes DIR/evaluation.csv (the table), DIR/equity-rules.png and DIR/equity-gated.png.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from slt.adapters.replay import ReplayError, inspect_sources, parse_data_arg
from slt.adapters.replay.inspection import time_span
from slt.adapters.reporting.evaluation_plot import equity_png
from slt.adapters.sqlite_store import SqliteStore
from slt.application.evaluation.walk_forward import (
    HOUR_MS,
    Fold,
    Row,
    diagnostics,
    fold_of,
    make_folds,
    policy_rows,
    render_diagnostics,
    render_table,
    table_csv,
)
from slt.application.learner.config import LearnerConfig, learner_config, with_learner
from slt.application.learner.permissions import verdicts_at
from slt.application.learner.registry import ModelRegistry
from slt.application.learner.samples import OUTCOME
from slt.config import ConfigError, Settings, load_settings
from slt.data import bundled_sources
from slt.entrypoints.simulate import simulate
from slt.entrypoints.strategy_flag import add_strategy_flag, strategy_overrides

POLICIES = ("rules", "gated")


def _iso_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slt evaluate",
        description="Walk-forward evaluation: train on folds 1..k, test on fold k+1, for the "
        "rule policy and the permission-gated policy (with the model once one passes its "
        "validation), in simulated time on real data. With no --data, runs on the bundled "
        "Binance futures klines.",
    )
    parser.add_argument("--data", action="append", metavar="[SYMBOL=]PATH")
    parser.add_argument("--folds", type=int, default=4, help="number of folds (default 4)")
    parser.add_argument("--out", type=Path, default=Path("slt-eval"), help="output folder")
    parser.add_argument("--start", type=_iso_ms, help="first moment to use (ISO, UTC)")
    parser.add_argument("--end", type=_iso_ms, help="moment to stop at, exclusive (ISO)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_strategy_flag(parser)
    return parser


def run_evaluate(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    try:
        settings = load_settings(args.config, strategy_overrides(args))
        sources = [parse_data_arg(d) for d in args.data] if args.data else bundled_sources()
        for source in sources:
            if not source.path.is_file():
                raise ReplayError(source.path, "no such file")
        first, last = time_span(inspect_sources(sources))
        start = args.start if args.start is not None else first
        end = args.end if args.end is not None else (last + 1 if last is not None else None)
        if start is None or end is None:
            raise ValueError("cannot tell where the data end: give --end")
        folds = make_folds(start, end, args.folds)
        result = asyncio.run(evaluate(settings, sources, folds, args.out, args.seed))
    except (ConfigError, ReplayError, ValueError) as exc:
        print(f"slt evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(result["text"])
    return 0


def policy_configs(base: LearnerConfig, folds: Sequence[Fold]) -> dict[str, LearnerConfig]:
    """The learner settings of each policy's run: the model retrains at fold boundaries only."""
    fold_hours = (folds[0].end_ms - folds[0].start_ms) / HOUR_MS
    return {
        "rules": replace(base, policy="rules", permission=False),
        "gated": replace(
            base, policy="model", permission=True, retrain_every=0, retrain_period_h=fold_hours
        ),
    }


def _baseline(settings: Settings) -> Settings:
    """The rules without the drawdown stop: once it halts them, the baseline would show nothing
    of what the candidates earn for the rest of the span."""
    return replace(settings, risk=replace(settings.risk, max_drawdown=Decimal(1)))


async def evaluate(
    settings: Settings, sources: Sequence[Any], folds: Sequence[Fold], out: Path, seed: int
) -> dict[str, Any]:
    """Run both policies over `folds`; write the table and the curves into `out`."""
    configs = policy_configs(learner_config(settings), folds)
    rows: list[Row] = []
    runs: dict[str, Any] = {}
    diags = []
    permissions: list[dict[str, Any]] = []
    for policy in POLICIES:
        run_dir = out / policy
        summary = await simulate(
            with_learner(_baseline(settings) if policy == "rules" else settings, configs[policy]),
            sources,
            run_dir,
            start_ms=folds[0].start_ms,
            end_ms=folds[-1].end_ms,
            seed=seed,
            title=f"slt evaluate: policy {policy}",
        )
        store = SqliteStore(run_dir / "state.db")
        trades = store.trades()
        outcomes = [s for s in store.samples() if s.get("type") == OUTCOME]
        store.close()
        # A model trained when the data end (the run's last cycle) never decided anything.
        cards = [
            c
            for c in ModelRegistry(run_dir / "models", keep_cards=None).cards
            if c.trained_at_ms < folds[-1].end_ms
        ]
        live_by_fold = {}
        for card in cards:
            fold = fold_of(folds, card.trained_at_ms)
            if card.live and fold is not None:
                live_by_fold[fold.index] = card.version
        rows.extend(policy_rows(policy, folds, trades, outcomes, live_by_fold))
        if policy == "gated":
            config = configs[policy]
            diags = diagnostics(folds, outcomes, config.min_expected_r)
            params = config.permission_params(seed)
            permissions = [
                {
                    "fold": fold.index,
                    "families": [
                        asdict(v)
                        for v in verdicts_at(outcomes, params, config.min_expected_r, fold.start_ms)
                    ],
                }
                for fold in folds
                if fold.role == "test"
            ]
        equity_png(out / f"equity-{policy}.png", policy, trades, folds, settings.exchange.wallet)
        runs[policy] = {
            "fingerprint": summary.fingerprint,
            "candidates": summary.candidates,
            "models": [
                {
                    "version": c.version,
                    "trained_at": datetime.fromtimestamp(c.trained_at_ms / 1000, UTC).isoformat(),
                    "samples": c.n_samples,
                    "live": c.live,
                    "validation_rules_r": c.validation["rules_sum_r"],
                    "validation_rules_mean_r": c.validation["rules_mean_r"],
                    "validation_model_r": c.validation["model_sum_r"],
                    "validation_model_mean_r": c.validation["model_mean_r"],
                    "validation_model_mean_se": c.validation["model_mean_se"],
                    "validation_model_taken": c.validation["model_taken"],
                    "validation_model_lower_r": c.validation.get("model_lower_r"),
                    "validation_rank_corr": [f["rank_corr"] for f in c.validation["folds"]],
                    "verdict": c.validation.get("verdict", ""),
                }
                for c in cards
            ],
        }
    rows.sort(key=lambda r: (r.fold == "total", r.fold.zfill(4), POLICIES.index(r.policy)))
    (out / "evaluation.csv").write_text(table_csv(rows), encoding="utf-8")
    text = _text(rows, diags, runs, permissions, out)
    return {
        "rows": [r.flat() for r in rows],
        "diagnostics": [asdict(d) for d in diags],
        "permissions": permissions,
        "runs": runs,
        "csv": str(out / "evaluation.csv"),
        "png": [str(out / f"equity-{p}.png") for p in POLICIES],
        "reports": [str(out / p / "report.html") for p in POLICIES],
        "text": text,
    }


def _text(
    rows: Sequence[Row],
    diags: Sequence[Any],
    runs: dict[str, Any],
    permissions: Sequence[dict[str, Any]],
    out: Path,
) -> str:
    models = [
        f"  model {m['version']} trained {m['trained_at'][:16]} on {m['samples']} outcomes; "
        f"validation: {m['validation_model_taken']} taken, "
        f"mean {_num(m['validation_model_mean_r'])} R "
        f"(bound {_num(m['validation_model_lower_r'])}) vs rules "
        f"{_num(m['validation_rules_mean_r'])} R; rank corr per block "
        + ", ".join(_num(c, "+.2f") for c in m["validation_rank_corr"])
        + f"\n    -> {'LIVE' if m['live'] else 'rules decide'}: {m['verdict']}"
        for m in runs["gated"]["models"]
    ]
    gates = [
        f"  fold {p['fold']}: "
        + ("; ".join(_verdict(v) for v in p["families"]) or "no outcomes yet: virtual only")
        for p in permissions
    ]
    return "\n".join(
        [
            render_table(rows),
            "",
            _drawdowns(rows),
            "",
            "permission to trade at each test fold's start (gated policy; real + virtual "
            "outcomes closed before it):",
            *gates,
            "",
            "models (trained at each fold boundary on every outcome closed before it):",
            *(models or ["  none (too few outcomes)"]),
            "",
            "model scores vs outcomes of every candidate (real and virtual), per fold:",
            render_diagnostics(diags),
            "",
            f"table: {out / 'evaluation.csv'}  equity curves: "
            f"{out / 'equity-rules.png'}, {out / 'equity-gated.png'}",
            "whole-run reports: " + ", ".join(str(out / p / "report.html") for p in POLICIES),
        ]
    )


def _verdict(v: dict[str, Any]) -> str:
    return f"{v['family']} {'REAL' if v['allowed'] else 'virtual'} ({v['reason']})"


def _drawdowns(rows: Sequence[Row]) -> str:
    totals = {r.policy: r.metrics for r in rows if r.fold == "total"}
    rules, gated = totals["rules"], totals["gated"]
    ratio = gated.max_drawdown / rules.max_drawdown if rules.max_drawdown else math.nan
    return (
        f"out of sample: gated {gated.expectancy_r:+.3f} R/trade over {gated.trades} trades, "
        f"max DD {gated.max_drawdown:.2f} USDT = {ratio:.2f} x the rules' "
        f"({rules.expectancy_r:+.3f} R/trade over {rules.trades}, max DD {rules.max_drawdown:.2f})"
    )


def _num(x: float | None, spec: str = "+.3f") -> str:
    # Model cards are JSON, where an undefined mean or error (no trade taken) became null.
    return "n/a" if x is None else format(x, spec)
