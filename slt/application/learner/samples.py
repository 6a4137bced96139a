"""The learner's records in the store's sample log (`Store.add_samples` / `samples`).

The log is append-only JSON; each record has a `type`:

* `entry`: a candidate taken live, keyed by its position id: {position_id, decision, ...}.
* `virtual_open`: a virtual position opened for a candidate not taken, with its exit plan, so
  that a restart resumes it: {virtual_id, decision, plan}.
* `outcome`: a closed position, real or virtual, labelling the features recorded at decision
  time: {ref, virtual, symbol, direction, decision_ms, close_ms, features, r_multiple, win,
  exit_reason, hold_ms, fees_r, not_taken, taken_by, score, model_version}. `ref` is the
  position id (real) or the virtual id (negative).

A `decision` is the candidate as decided: {candidate fields, decision_ms, score, model_version,
taken_by}. An entry or virtual_open without an outcome is a position still open.

R multiple: the net result per unit of the risk planned at entry. Real: net P&L (after actual
fees) / (quantity * stop distance). Virtual: (exit - entry) * dir / stop distance, less taker
fees on both legs in the same unit. Quantities are taken at the exit-side price (bid for a
long, ask for a short) on both paths.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slt.application.learner.features import FEATURE_NAMES
from slt.domain.strategy import Candidate
from slt.domain.values import Direction

ENTRY = "entry"
VIRTUAL_OPEN = "virtual_open"
OUTCOME = "outcome"


@dataclass(frozen=True, slots=True)
class Decision:
    """A candidate and what the trader made of it, at `decision_ms`."""

    candidate: Candidate
    decision_ms: int
    score: float | None  # the latest model's expected R (None before the first model)
    model_version: int | None  # the model that scored it (None before the first model)
    taken_by: str  # "rules", "model", or "" when not taken


@dataclass(frozen=True, slots=True)
class Outcome:
    ref: int
    virtual: bool
    r_multiple: float
    exit_reason: str
    close_ms: int
    hold_ms: int
    fees_r: float
    not_taken: str = ""


@dataclass(frozen=True, slots=True)
class LabelledSample:
    """A training row: features known at `decision_ms`, outcome known from `close_ms`.

    Passing through: the learner copies each into its training window's columns
    (slt.application.learner.window), which is what it holds for months.
    """

    decision_ms: int
    close_ms: int
    features: array[float]
    r_multiple: float
    symbol: str = ""


def decision_record(d: Decision) -> dict[str, Any]:
    c = d.candidate
    return {
        "symbol": c.symbol,
        "direction": c.direction.value,
        "ts_ms": c.ts_ms,
        "reference_price": c.reference_price,
        "stop_distance": c.stop_distance,
        "reward_risk": c.reward_risk,
        "trail_distance": c.trail_distance,
        "trigger": c.trigger,
        "family": c.family,
        "reversal_exit": c.reversal_exit,
        "features": {k: _json_float(v) for k, v in c.features},
        "decision_ms": d.decision_ms,
        "score": d.score,
        "model_version": d.model_version,
        "taken_by": d.taken_by,
    }


def decision_from_record(r: Mapping[str, Any]) -> Decision:
    features = r["features"]
    candidate = Candidate(
        symbol=r["symbol"],
        direction=Direction(r["direction"]),
        ts_ms=r["ts_ms"],
        reference_price=r["reference_price"],
        stop_distance=r["stop_distance"],
        reward_risk=r["reward_risk"],
        trail_distance=r["trail_distance"],
        features=tuple((k, _from_json(v)) for k, v in features.items()),
        trigger=r["trigger"],
        family=r.get("family", "trend"),  # records written before families existed
        reversal_exit=r.get("reversal_exit", True),
    )
    return Decision(candidate, r["decision_ms"], r["score"], r["model_version"], r["taken_by"])


def outcome_record(d: Decision, o: Outcome) -> dict[str, Any]:
    record = decision_record(d)
    record.update(
        type=OUTCOME,
        ref=o.ref,
        virtual=o.virtual,
        not_taken=o.not_taken,
        r_multiple=round(o.r_multiple, 6),
        win=o.r_multiple > 0,
        exit_reason=o.exit_reason,
        close_ms=o.close_ms,
        hold_ms=o.hold_ms,
        fees_r=round(o.fees_r, 6),
    )
    return record


def labelled(records: Iterable[Mapping[str, Any]]) -> list[LabelledSample]:
    """Training rows from outcome records, in closing order."""
    return [
        LabelledSample(
            r["decision_ms"],
            r["close_ms"],
            array("d", [_from_json(r["features"].get(name)) for name in FEATURE_NAMES]),
            r["r_multiple"],
            r["symbol"],
        )
        for r in records
        if r.get("type") == OUTCOME
    ]


def open_records(
    records: Iterable[Mapping[str, Any]],
    kind: str,
    key: str,
    every: Callable[[Mapping[str, Any]], None] | None = None,
) -> list[Any]:
    """Records of `kind` (entry or virtual_open) whose position has no outcome yet, in one pass
    over the log that holds only the ones still open (after months it has hundreds of
    thousands); `every` sees each record on the way."""
    opened: dict[int, Mapping[str, Any]] = {}
    closed: set[int] = set()
    for r in records:
        if every is not None:
            every(r)
        t = r.get("type")
        if t == kind:
            if r[key] not in closed:
                opened[r[key]] = r
        elif t == OUTCOME:
            closed.add(r["ref"])
            opened.pop(r["ref"], None)
    return list(opened.values())


def _json_float(v: float) -> float | None:
    return None if math.isnan(v) else v  # JSON has no NaN


def _from_json(v: float | None) -> float:
    return math.nan if v is None else float(v)
