"""Which family an outcome is evidence for, read from the learner's outcome records.

An outcome counts for its candidate's family, and also for `model:<family>` when the model of
the day scored it above `learner.min_expected_r`: that is the family a model-chosen candidate
has to earn its permission in. The trader feeds its PermissionBook from here as outcomes close;
the daily report rebuilds the verdicts of a day's end from the store, reading only each
family's window (`verdicts_from_store`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from slt.application.learner.samples import OUTCOME
from slt.domain.permission import Permission, PermissionBook, PermissionParams
from slt.ports.store import Store, outcome_family


def model_family(family: str) -> str:
    return f"model:{family}"


# What an outcome is evidence of: (close_ms, family, R multiple, model score or None); a
# restart holds one per outcome of the log, so a tuple rather than the record.
Evidence = tuple[int, str, float, float | None]


def record_outcome(book: PermissionBook, record: Mapping[str, Any], threshold: float) -> None:
    record_evidence(book, evidence_of(record), threshold)


def evidence_of(record: Mapping[str, Any]) -> Evidence:
    return record["close_ms"], outcome_family(record), record["r_multiple"], record.get("score")


def record_evidence(book: PermissionBook, evidence: Evidence, threshold: float) -> None:
    close_ms, family, r, score = evidence
    book.record(family, close_ms, r)
    if score is not None and score > threshold:
        book.record(model_family(family), close_ms, r)


def verdicts_at(
    records: Iterable[Mapping[str, Any]], params: PermissionParams, threshold: float, at_ms: int
) -> list[Permission]:
    """Every family's verdict from the outcomes closed before `at_ms`."""
    book = PermissionBook(params)
    closed = [r for r in records if r.get("type") == OUTCOME and r["close_ms"] < at_ms]
    for record in sorted(closed, key=lambda r: r["close_ms"]):
        record_outcome(book, record, threshold)
    return book.verdicts()


def verdicts_from_store(
    store: Store, params: PermissionParams, threshold: float, at_ms: int
) -> list[Permission]:
    """Every family's verdict from the outcomes closed before `at_ms`, as `verdicts_at` gives
    it, reading only each family's window from the store (its index), not the whole log."""
    book = PermissionBook(params)
    for family in store.outcome_families(at_ms):
        for name, scored_above in ((family, None), (model_family(family), threshold)):
            window = store.recent_outcomes(
                family, at_ms, params.window, params.min_days, scored_above
            )
            book.record_all((name, r["close_ms"], r["r_multiple"]) for r in window)
    return book.verdicts()
