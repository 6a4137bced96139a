from __future__ import annotations

import dataclasses
import inspect
import itertools

import pytest
from statemachine.exceptions import TransitionNotAllowed

from slt.domain.breaker import (
    Admission,
    AdmitReason,
    BreakerConfig,
    BreakerLevel,
    BreakerLevelChanged,
    BreakerLevels,
    CircuitBreaker,
    FailureKind,
)
from slt.domain.orders import Priority

N, W, T, B = (
    BreakerLevel.NORMAL,
    BreakerLevel.WARNING,
    BreakerLevel.THROTTLED,
    BreakerLevel.BLOCKED,
)
LOW, NORM, HIGH, CRIT = Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.CRITICAL
K = FailureKind


class Holder:
    def __init__(self, level: BreakerLevel) -> None:
        self.level = level


def chart_at(level: BreakerLevel) -> tuple[BreakerLevels, Holder]:
    holder = Holder(level)
    return BreakerLevels(model=holder, state_field="level"), holder


def transitions(breaker: CircuitBreaker) -> list[tuple[int, BreakerLevel, BreakerLevel, str]]:
    return [(e.ts_ms, e.source, e.target, e.cause) for e in breaker.drain_events()]


# --- the chart ----------------------------------------------------------------------------------

LEGAL = {
    (N, "warn"): W,
    (N, "throttle"): T,
    (N, "block"): B,
    (W, "throttle"): T,
    (W, "block"): B,
    (W, "relax"): N,
    (T, "block"): B,
    (T, "relax"): W,
    (B, "relax"): T,
}
EVENTS = ("warn", "throttle", "block", "relax")


@pytest.mark.parametrize(("source", "event"), sorted(LEGAL))
def test_legal_transitions(source: BreakerLevel, event: str) -> None:
    chart, holder = chart_at(source)
    chart.send(event)
    assert holder.level is LEGAL[source, event]


ILLEGAL = [
    (level, event)
    for level, event in itertools.product(BreakerLevel, EVENTS)
    if (level, event) not in LEGAL
]


@pytest.mark.parametrize(("source", "event"), ILLEGAL)
def test_illegal_transitions_raise_and_keep_the_level(source: BreakerLevel, event: str) -> None:
    chart, holder = chart_at(source)
    with pytest.raises(TransitionNotAllowed):
        chart.send(event)
    assert holder.level is source


def test_illegal_transitions_cover_every_other_pair() -> None:
    # Decay is one level at a time, escalation never goes down nor stays put.
    assert len(ILLEGAL) == 16 - 9
    assert (B, "relax") in LEGAL and (N, "relax") not in LEGAL and (B, "block") not in LEGAL


def test_unknown_event_raises() -> None:
    chart, _ = chart_at(N)
    with pytest.raises(TransitionNotAllowed):
        chart.send("panic")


def test_new_chart_starts_normal() -> None:
    holder = Holder.__new__(Holder)
    BreakerLevels(model=holder, state_field="level")
    assert holder.level is N


# --- escalation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "level", "targets"),
    [
        ([K.TIMEOUT] * 2, N, []),
        ([K.TIMEOUT] * 3, W, [W]),
        ([K.NETWORK, K.SERVER_5XX, K.TIMEOUT], W, [W]),
        ([K.RATE_LIMIT_429], W, [W]),
        ([K.BINANCE_1003], W, [W]),
        ([K.BINANCE_1003, K.RATE_LIMIT_429], T, [W, T]),
        ([K.TIMEOUT] * 5, W, [W]),
        ([K.TIMEOUT] * 6, T, [W, T]),
        ([K.TIMEOUT, K.TIMEOUT, K.RATE_LIMIT_429], W, [W]),
        ([K.TIMEOUT, K.TIMEOUT, K.TIMEOUT, K.RATE_LIMIT_429], T, [W, T]),
        ([K.RATE_LIMIT_429] * 3, T, [W, T]),
        ([K.RATE_LIMIT_429] * 3 + [K.NETWORK], B, [W, T, B]),
        ([K.IP_BAN_418], B, [B]),
        ([K.TIMEOUT] * 3 + [K.IP_BAN_418], B, [W, B]),
    ],
)
def test_escalation_by_weighted_score(
    failures: list[FailureKind], level: BreakerLevel, targets: list[BreakerLevel]
) -> None:
    breaker = CircuitBreaker()
    for i, kind in enumerate(failures):
        breaker.record_failure(kind, 1_000 + i)
    assert breaker.level is level
    assert [e.target for e in breaker.drain_events()] == targets


def test_one_failure_can_jump_several_levels() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.IP_BAN_418, 5_000, ban_until_ms=6_000)
    assert transitions(breaker) == [(5_000, N, B, "IP_BAN_418")]


def test_thresholds_and_weights_are_configurable() -> None:
    config = BreakerConfig(
        warning_score=2,
        throttled_score=4,
        blocked_score=5,
        weights={**{k: 1 for k in FailureKind}, K.TIMEOUT: 2},
    )
    breaker = CircuitBreaker(config)
    breaker.record_failure(K.NETWORK, 0)
    assert breaker.level is N
    breaker.record_failure(K.NETWORK, 1)
    assert breaker.level is W
    breaker.record_failure(K.TIMEOUT, 2)
    assert breaker.level is T
    breaker.record_failure(K.RATE_LIMIT_429, 3)
    assert breaker.level is B


@pytest.mark.parametrize(("third_at", "level"), [(59_999, W), (60_000, N)])
def test_failures_leave_the_score_after_the_window(third_at: int, level: BreakerLevel) -> None:
    breaker = CircuitBreaker(BreakerConfig(cooldown_ms=120_000))
    breaker.record_failure(K.TIMEOUT, 0)
    breaker.record_failure(K.TIMEOUT, 0)
    breaker.record_failure(K.TIMEOUT, third_at)
    assert breaker.level is level


def test_failures_while_blocked_take_no_transition() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.IP_BAN_418, 0, ban_until_ms=1_000)
    breaker.drain_events()
    for kind in FailureKind:
        breaker.record_failure(kind, 10)
    assert breaker.level is B
    assert breaker.drain_events() == []


# --- only the API counts: business rejections have no way in ----------------------------------


def test_failure_kinds_are_transport_and_rate_limit_only() -> None:
    assert {k.value for k in FailureKind} == {
        "NETWORK",
        "TIMEOUT",
        "SERVER_5XX",
        "RATE_LIMIT_429",
        "IP_BAN_418",
        "BINANCE_1003",
    }


def test_public_api_has_no_entry_point_for_business_rejections() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(CircuitBreaker)
        if not name.startswith("_") and callable(getattr(CircuitBreaker, name))
    }
    assert public == {
        "admit",
        "drain_events",
        "record_failure",
        "record_success",
        "restore",
        "score",
    }


def test_successes_and_admissions_never_raise_the_level() -> None:
    breaker = CircuitBreaker()
    for t in range(0, 200_000, 1_000):
        breaker.record_success(t)
        for priority in Priority:
            assert breaker.admit(priority, t).allowed
    assert breaker.level is N
    assert breaker.score(200_000) == 0
    assert breaker.drain_events() == []


def test_successes_bank_no_credit_against_future_failures() -> None:
    breaker = CircuitBreaker()
    for t in range(100):
        breaker.record_success(t)
    for t in range(100, 103):
        breaker.record_failure(K.TIMEOUT, t)
    assert breaker.level is W


def test_a_high_failure_rate_escalates_despite_successes() -> None:
    breaker = CircuitBreaker()
    for t in range(0, 20, 2):
        breaker.record_failure(K.TIMEOUT, t)
        breaker.record_success(t + 1)
    assert breaker.level is T


# --- admission ----------------------------------------------------------------------------------

ADMISSION = {
    N: {LOW: True, NORM: True, HIGH: True, CRIT: True},
    W: {LOW: True, NORM: True, HIGH: True, CRIT: True},
    T: {LOW: False, NORM: False, HIGH: True, CRIT: True},
    B: {LOW: False, NORM: False, HIGH: False, CRIT: True},
}
REFUSAL_REASON = {T: AdmitReason.THROTTLED, B: AdmitReason.BLOCKED}


@pytest.mark.parametrize(("level", "priority"), list(itertools.product(BreakerLevel, Priority)))
def test_admission_matrix(level: BreakerLevel, priority: Priority) -> None:
    breaker = CircuitBreaker.restore(level, 0)
    admission = breaker.admit(priority, 10_000)
    assert admission.allowed is ADMISSION[level][priority]
    if admission.allowed:
        assert admission == Admission(True, 0, AdmitReason.OK)
    else:
        # Refused until the cool-down (restarted at restore) may step the level down.
        assert admission == Admission(False, 20_000, REFUSAL_REASON[level])
    assert breaker.level is level


def test_passing_admissions_share_one_object() -> None:
    breaker = CircuitBreaker()
    assert breaker.admit(LOW, 1) is breaker.admit(CRIT, 2)


def test_admit_takes_no_transition_until_a_step_falls_due() -> None:
    breaker = CircuitBreaker.restore(T, 0)
    for t in range(0, 30_000, 100):
        for priority in Priority:
            breaker.admit(priority, t)
    assert breaker.drain_events() == []
    breaker.admit(LOW, 30_000)
    assert transitions(breaker) == [(30_000, T, W, "cooldown")]


def test_throttled_paces_entries() -> None:
    breaker = CircuitBreaker.restore(T, 0, config=BreakerConfig(cooldown_ms=600_000))
    answers = [(t, breaker.admit(HIGH, t)) for t in (0, 1_000, 4_999, 5_000, 5_001, 12_000, 12_500)]
    assert answers == [
        (0, Admission(True, 0, AdmitReason.OK)),
        (1_000, Admission(False, 4_000, AdmitReason.ENTRY_PACING)),
        (4_999, Admission(False, 1, AdmitReason.ENTRY_PACING)),
        (5_000, Admission(True, 0, AdmitReason.OK)),
        (5_001, Admission(False, 4_999, AdmitReason.ENTRY_PACING)),
        (12_000, Admission(True, 0, AdmitReason.OK)),
        (12_500, Admission(False, 4_500, AdmitReason.ENTRY_PACING)),
    ]
    assert breaker.admit(CRIT, 12_501).allowed  # exits are never paced


def test_entry_interval_is_configurable() -> None:
    config = BreakerConfig(entry_interval_ms=1_000, cooldown_ms=600_000)
    breaker = CircuitBreaker.restore(T, 0, config=config)
    assert [breaker.admit(HIGH, t).allowed for t in (0, 999, 1_000)] == [True, False, True]


def test_entries_are_not_paced_below_throttled() -> None:
    breaker = CircuitBreaker.restore(W, 0)
    assert all(breaker.admit(HIGH, t).allowed for t in range(0, 1_000, 10))


# --- 418 ----------------------------------------------------------------------------------------


def test_ip_ban_blocks_everything_until_its_end_then_decays() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.IP_BAN_418, 1_000, ban_until_ms=121_000)
    assert breaker.level is B
    for t in (1_000, 60_000, 120_999):
        for priority in Priority:
            assert breaker.admit(priority, t) == Admission(False, 121_000 - t, AdmitReason.IP_BAN)
        breaker.record_success(t)  # even a success must not lift a ban
        assert breaker.level is B
    assert breaker.admit(CRIT, 121_000).allowed
    assert breaker.level is T
    assert not breaker.admit(LOW, 121_000).allowed
    assert breaker.admit(LOW, 181_000).allowed
    assert transitions(breaker) == [
        (1_000, N, B, "IP_BAN_418"),
        (121_000, B, T, "cooldown"),
        (151_000, T, W, "cooldown"),
        (181_000, W, N, "cooldown"),
    ]


@pytest.mark.parametrize(
    ("retry_after_ms", "ban_end"),
    [(None, 30_000), (90_000, 90_000), (5_000, 5_000)],
)
def test_ip_ban_without_an_end_lasts_its_retry_after_or_a_cooldown(
    retry_after_ms: int | None, ban_end: int
) -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.IP_BAN_418, 0, retry_after_ms=retry_after_ms)
    assert breaker.ban_until_ms == ban_end
    assert breaker.admit(CRIT, ban_end - 1).reason == AdmitReason.IP_BAN
    assert breaker.admit(CRIT, ban_end).allowed


def test_ban_until_is_honoured_for_any_kind() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.BINANCE_1003, 0, ban_until_ms=50_000)
    assert breaker.level is B
    assert not breaker.admit(CRIT, 49_999).allowed


def test_a_later_ban_extends_an_earlier_one_never_shortens_it() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.IP_BAN_418, 0, ban_until_ms=100_000)
    breaker.record_failure(K.IP_BAN_418, 10_000, ban_until_ms=50_000)
    assert breaker.ban_until_ms == 100_000
    breaker.record_failure(K.IP_BAN_418, 20_000, ban_until_ms=150_000)
    assert breaker.ban_until_ms == 150_000


def test_blocked_without_a_ban_lets_critical_through() -> None:
    breaker = CircuitBreaker()
    for t in range(10):
        breaker.record_failure(K.TIMEOUT, t)
    assert breaker.level is B
    assert breaker.admit(CRIT, 100).allowed
    assert breaker.admit(HIGH, 100) == Admission(False, 30_009 - 100, AdmitReason.BLOCKED)


# --- 429 Retry-After ----------------------------------------------------------------------------


def test_retry_after_holds_throttled_and_refuses_non_critical_until_it_ends() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.RATE_LIMIT_429, 0, retry_after_ms=10_000)
    assert breaker.level is T  # the score alone (3) would only warn
    assert transitions(breaker) == [(0, N, T, "RATE_LIMIT_429")]
    for priority in (LOW, NORM, HIGH):
        assert breaker.admit(priority, 4_000) == Admission(False, 6_000, AdmitReason.RETRY_AFTER)
    assert breaker.admit(CRIT, 4_000).allowed
    assert breaker.admit(HIGH, 10_000).allowed  # now only THROTTLED pacing applies
    assert breaker.admit(LOW, 10_000) == Admission(False, 20_000, AdmitReason.THROTTLED)


def test_retry_after_longer_than_the_cooldown_holds_the_level() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.RATE_LIMIT_429, 0, retry_after_ms=45_000)
    for t in range(0, 45_000, 500):
        breaker.record_success(t)
        breaker.admit(LOW, t)
    assert breaker.level is T
    breaker.admit(LOW, 45_000)
    assert breaker.level is W
    assert transitions(breaker) == [(0, N, T, "RATE_LIMIT_429"), (45_000, T, W, "cooldown")]


def test_retry_after_does_not_stop_blocked_from_stepping_down_to_throttled() -> None:
    breaker = CircuitBreaker()
    for t in range(9):
        breaker.record_failure(K.TIMEOUT, t)
    breaker.record_failure(K.RATE_LIMIT_429, 9, retry_after_ms=100_000)
    assert breaker.level is B
    breaker.drain_events()
    breaker.admit(CRIT, 99_000)
    assert breaker.level is T
    assert transitions(breaker) == [(30_009, B, T, "cooldown")]
    breaker.admit(CRIT, 100_009)
    assert transitions(breaker) == [(100_009, T, W, "cooldown")]


def test_negative_retry_after_is_a_bug() -> None:
    with pytest.raises(ValueError, match="retry_after_ms"):
        CircuitBreaker().record_failure(K.RATE_LIMIT_429, 0, retry_after_ms=-1)


# --- decay --------------------------------------------------------------------------------------


def warned_at(t: int) -> CircuitBreaker:
    breaker = CircuitBreaker()
    for _ in range(3):
        breaker.record_failure(K.TIMEOUT, t)
    breaker.drain_events()
    return breaker


@pytest.mark.parametrize(("now", "level"), [(29_999, W), (30_000, N)])
def test_cooldown_steps_down(now: int, level: BreakerLevel) -> None:
    breaker = warned_at(0)
    breaker.admit(LOW, now)
    assert breaker.level is level


def test_a_failure_restarts_the_cooldown() -> None:
    breaker = warned_at(0)
    breaker.record_failure(K.TIMEOUT, 20_000)
    breaker.admit(LOW, 49_999)
    assert breaker.level is W
    breaker.admit(LOW, 50_000)
    assert breaker.level is N


def test_long_silence_takes_every_due_step_one_level_at_a_time() -> None:
    breaker = CircuitBreaker()
    for _ in range(10):
        breaker.record_failure(K.TIMEOUT, 0)
    breaker.drain_events()
    breaker.admit(LOW, 500_000)
    assert breaker.level is N
    assert transitions(breaker) == [
        (30_000, B, T, "cooldown"),
        (60_000, T, W, "cooldown"),
        (90_000, W, N, "cooldown"),
    ]


def test_cooldown_is_evaluated_by_every_entry_point() -> None:
    for call in (
        lambda b: b.admit(LOW, 30_000),
        lambda b: b.record_success(30_000),
        lambda b: b.record_failure(K.TIMEOUT, 30_000),
    ):
        breaker = warned_at(0)
        call(breaker)
        # (a failure then re-escalates: the old failures are still in the window)
        assert transitions(breaker)[0] == (30_000, W, N, "cooldown")


def test_successes_wear_the_score_down_one_level_at_a_time() -> None:
    breaker = CircuitBreaker()
    for _ in range(6):
        breaker.record_failure(K.TIMEOUT, 0)
    breaker.drain_events()
    levels = []
    for t in range(1, 17):
        breaker.record_success(t)
        levels.append(breaker.level)
    # 4 successes per point: 6 -> 5 after 4 (below THROTTLED), 5 -> 2 after 12 more.
    assert levels == [T] * 3 + [W] * 12 + [N]
    assert breaker.score(17) == 2
    assert transitions(breaker) == [(4, T, W, "successes"), (16, W, N, "successes")]


def test_a_step_by_successes_restarts_the_cooldown() -> None:
    breaker = CircuitBreaker()
    for _ in range(6):
        breaker.record_failure(K.TIMEOUT, 0)
    for _ in range(4):
        breaker.record_success(20_000)
    assert breaker.level is W
    breaker.admit(LOW, 49_999)
    assert breaker.level is W
    breaker.admit(LOW, 50_000)
    assert breaker.level is N


def test_successes_per_point_is_configurable() -> None:
    breaker = CircuitBreaker(BreakerConfig(successes_per_point=1))
    for _ in range(3):
        breaker.record_failure(K.TIMEOUT, 0)
    breaker.record_success(1)
    assert breaker.level is N


# --- events -------------------------------------------------------------------------------------


def test_events_are_drained_exactly_once() -> None:
    breaker = CircuitBreaker()
    breaker.record_failure(K.RATE_LIMIT_429, 0)
    first = breaker.drain_events()
    assert first == [BreakerLevelChanged(0, N, W, "RATE_LIMIT_429")]
    assert breaker.drain_events() == []
    breaker.record_failure(K.RATE_LIMIT_429, 1)
    assert breaker.drain_events() == [BreakerLevelChanged(1, W, T, "RATE_LIMIT_429")]
    assert first == [BreakerLevelChanged(0, N, W, "RATE_LIMIT_429")]  # handed over, not reused


def test_events_are_frozen() -> None:
    event = BreakerLevelChanged(0, N, W, "TIMEOUT")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.target = B  # type: ignore[misc]


# --- resume -------------------------------------------------------------------------------------


def test_restore_resumes_the_level_without_an_event() -> None:
    breaker = CircuitBreaker.restore("THROTTLED", 1_000)
    assert breaker.level is T
    assert breaker.drain_events() == []
    breaker.admit(LOW, 31_000)
    assert transitions(breaker) == [(31_000, T, W, "cooldown")]


def test_restore_needs_as_many_successes_as_before_the_restart() -> None:
    breaker = CircuitBreaker.restore(W, 0)
    for t in range(3):
        breaker.record_success(t)
    assert breaker.level is W
    breaker.record_success(3)
    assert breaker.level is N


def test_restore_keeps_a_ban() -> None:
    breaker = CircuitBreaker.restore(B, 0, ban_until_ms=60_000)
    assert breaker.admit(CRIT, 59_999).reason == AdmitReason.IP_BAN
    breaker.admit(CRIT, 60_000)
    assert transitions(breaker) == [(60_000, B, T, "cooldown")]


@pytest.mark.parametrize(
    ("level", "kwargs"),
    [
        ("PANIC", {}),
        (T, {"ban_until_ms": 10}),
        (W, {"retry_until_ms": 10}),
    ],
)
def test_restore_rejects_inconsistent_state(level: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker.restore(level, 0, **kwargs)


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"warning_score": 0}, "warning_score"),
        ({"warning_score": 7}, "throttled_score"),
        ({"blocked_score": 5}, "blocked_score"),
        ({"window_ms": 0}, "window_ms"),
        ({"cooldown_ms": -1}, "cooldown_ms"),
        ({"entry_interval_ms": 0}, "entry_interval_ms"),
        ({"successes_per_point": 0}, "successes_per_point"),
        ({"weights": {K.TIMEOUT: 1}}, "weights"),
    ],
)
def test_config_rejects_nonsense(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]
