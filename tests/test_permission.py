"""The permission layer: a family risks money only while its expectancy's lower bound is > 0."""

import math
import random

import pytest

from slt.application.learner.config import LearnerConfig
from slt.domain import permission
from slt.domain.permission import (
    PermissionBook,
    PermissionParams,
    judge,
    lower_bound,
    summary,
)
from slt.domain.values import DAY_MS

PARAMS = PermissionParams(window=200, min_outcomes=50, min_days=10, resamples=400, seed=1)


def outcomes(rs: list[float], per_day: int = 5) -> list[tuple[int, float]]:
    return [(i // per_day * DAY_MS + i, r) for i, r in enumerate(rs)]


def noisy(mean: float, n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [mean + rng.gauss(0, 1) for _ in range(n)]


def test_a_family_with_a_clear_edge_earns_permission() -> None:
    verdict = judge("trend", outcomes(noisy(0.5, 150)), PARAMS)
    assert verdict.allowed
    assert 0 < verdict.lower_r < verdict.mean_r
    assert "bound" in verdict.reason


def test_a_losing_family_trades_virtually() -> None:
    verdict = judge("trend", outcomes(noisy(-0.2, 150)), PARAMS)
    assert not verdict.allowed
    assert verdict.lower_r < 0


def test_a_positive_mean_within_noise_is_not_enough() -> None:
    # mean +0.05 R with a 1 R spread over 100 trades: the bound sits below zero
    verdict = judge("trend", outcomes([1.05, -0.95] * 50), PARAMS)
    assert verdict.mean_r == pytest.approx(0.05)
    assert not verdict.allowed


def test_too_few_outcomes_or_days_earn_nothing_yet() -> None:
    few = judge("trend", outcomes([2.0] * 49), PARAMS)
    assert not few.allowed and few.reason == "49/50 outcomes"
    crowded = judge("trend", outcomes([2.0] * 100, per_day=20), PARAMS)
    assert not crowded.allowed and crowded.reason == "outcomes on 5/10 days"


def test_a_busy_family_reaches_back_to_span_the_minimum_days() -> None:
    # 100 outcomes a day: the last 200 span two days; the evidence reaches back to ten.
    verdict = judge("trend", outcomes(noisy(0.3, 1500), per_day=100), PARAMS)
    assert verdict.days == 10 and verdict.n == 1000 and verdict.allowed


def test_days_are_resampled_as_blocks() -> None:
    # Within each day outcomes agree, across days they differ: the bound must reflect the
    # spread of daily means (9 days of -1 R, 11 of +1 R), not of 200 independent trades.
    days = [(-1.0 if d % 20 < 9 else 1.0) for d in range(20)]
    by_day = [(d * DAY_MS + i, days[d]) for d in range(20) for i in range(10)]
    blocked = lower_bound(by_day, 0.9, 2000, seed=0)
    shuffled = [(i * DAY_MS, r) for i, (_, r) in enumerate(by_day)]  # one outcome per day
    independent = lower_bound(shuffled, 0.9, 2000, seed=0)
    assert blocked < independent < 0.1


def test_only_the_last_window_counts_and_the_verdict_follows_the_news() -> None:
    book = PermissionBook(PermissionParams(window=60, min_outcomes=50, min_days=10, seed=0))
    book.record_all(("trend", ms, r) for ms, r in outcomes(noisy(0.8, 60)))
    assert book.allowed("trend")
    for ms, r in outcomes(noisy(-0.8, 60, seed=9)):
        book.record("trend", 100 * DAY_MS + ms, r)
    verdict = book.verdict("trend")
    assert not verdict.allowed and verdict.n == 60
    assert [v.family for v in book.verdicts()] == ["trend"]
    assert not book.allowed("never-seen")


def test_same_outcomes_and_seed_give_the_same_verdict() -> None:
    data = outcomes(noisy(0.1, 120, seed=4))
    assert judge("a", data, PARAMS) == judge("a", data, PARAMS)
    assert math.isnan(judge("a", [], PARAMS).mean_r)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("permission_window", 1),
        ("permission_min_outcomes", 500),
        ("permission_min_days", 1),
        ("permission_confidence", 1.0),
        ("permission_resamples", 10),
        ("permission_correction", "sidak"),
    ],
)
def test_bad_permission_settings_name_their_key(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=key):
        LearnerConfig(**{key: value})


def test_the_status_line_summary_names_real_and_virtual_families() -> None:
    book = PermissionBook(PARAMS)
    book.record_all(("trend", ms, r) for ms, r in outcomes(noisy(0.6, 100)))
    book.record_all(("reversion", ms, r) for ms, r in outcomes(noisy(-0.6, 100)))
    assert summary(book.verdicts()) == "real trend / virtual reversion"
    assert summary([]) == "no family has outcomes yet: virtual only"


def null_book(correction: str, families: int) -> PermissionBook:
    """Families without an edge (mean 0 R, 1 R spread), judged together."""
    book = PermissionBook(
        PermissionParams(min_outcomes=50, min_days=10, correction=correction, seed=3)
    )
    for k in range(families):
        book.record_all((f"f{k}", ms, r) for ms, r in outcomes(noisy(0.0, 100, seed=100 + k)))
    return book


def test_judged_together_families_without_an_edge_rarely_pass_by_chance() -> None:
    # 60 families without an edge: at 95% each, about 3 pass by luck; Holm keeps the chance
    # that any of them passes at 5%.
    lucky = [v.family for v in null_book("none", 60).verdicts() if v.allowed]
    assert len(lucky) >= 2
    assert not any(v.allowed for v in null_book("holm", 60).verdicts())
    assert not any(v.allowed for v in null_book("bonferroni", 60).verdicts())


def test_a_clear_edge_still_passes_among_losing_families() -> None:
    book = PermissionBook(PermissionParams(seed=2))
    book.record_all(("trend/1R", ms, r) for ms, r in outcomes(noisy(0.5, 150)))
    for k, family in enumerate(("trend/2R", "reversion/1R", "reversion/2R")):
        book.record_all((family, ms, r) for ms, r in outcomes(noisy(-0.1, 150, seed=k)))
    verdicts = {v.family: v for v in book.verdicts()}
    assert [f for f, v in verdicts.items() if v.allowed] == ["trend/1R"]
    # the strongest family is tested first, at 0.05 / 4
    assert "98.75% bound" in verdicts["trend/1R"].reason
    assert "Holm 1 of 4" in verdicts["trend/1R"].reason
    assert book.allowed("trend/1R") and not book.allowed("trend/2R")


def test_holm_is_looser_than_bonferroni_for_the_next_families() -> None:
    # Two families with a moderate edge: Bonferroni tests both at 0.05 / 2; Holm tests the
    # second at 0.05 once the first passed, so its bound is higher.
    def second(correction: str) -> float:
        book = PermissionBook(PermissionParams(correction=correction, seed=5))
        book.record_all(("a", ms, r) for ms, r in outcomes(noisy(0.6, 150, seed=1)))
        book.record_all(("b", ms, r) for ms, r in outcomes(noisy(0.3, 150, seed=2)))
        return book.verdict("b").lower_r

    assert second("holm") > second("bonferroni")


def test_an_untested_family_does_not_count_in_the_correction() -> None:
    book = PermissionBook(PermissionParams(seed=2))
    book.record_all(("a", ms, r) for ms, r in outcomes(noisy(0.5, 150)))
    book.record_all(("b", ms, r) for ms, r in outcomes([1.0] * 10))
    verdicts = {v.family: v for v in book.verdicts()}
    assert verdicts["a"].allowed and "95% bound" in verdicts["a"].reason
    assert verdicts["b"].reason == "10/50 outcomes"


@pytest.mark.parametrize("seed", range(4))
def test_the_book_judges_exactly_the_window_its_history_gives(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The book keeps its last HISTORY outcomes as columns (here 50, so they wrap) and reads
    # back only as far as the window needs; its verdict must equal judging those outcomes as a
    # list, including days out of order, busy days and quiet ones.
    monkeypatch.setattr(permission, "HISTORY", 50)
    rng = random.Random(seed)
    params = PermissionParams(window=30, min_outcomes=10, min_days=5, resamples=100, seed=2)
    book = PermissionBook(params)
    history: list[tuple[int, float]] = []
    day = 0
    for _ in range(600):
        day += rng.choice([0, 0, 0, 1, 3]) if rng.random() > 0.05 else -1
        close_ms = max(day, 0) * DAY_MS + rng.randrange(DAY_MS)
        r = rng.gauss(0.3, 1.0)
        history.append((close_ms, r))
        book.record("trend", close_ms, r)
        if rng.random() < 0.3:
            assert book.verdict("trend") == judge("trend", history[-50:], params)
    assert book.verdict("trend") == judge("trend", history[-50:], params)
