"""The circuit breaker: how hard the bot may use the exchange while the connection is degraded.

Four levels, NORMAL -> WARNING -> THROTTLED -> BLOCKED, held by a python-statemachine chart bound
to a small model, so a persisted level resumes (`CircuitBreaker.restore`).

What raises the level is a failure *score*: transport and rate-limit failures weighted by kind,
summed over a sliding window. A 418 (IP ban) blocks at once. What lowers it, one level at a time:

* time: a cool-down with no failure and no level change steps down one level. The domain has no
  timers, so a step becomes due at an instant and is taken by the first call whose `now_ms` has
  reached it; a call after a long silence takes every step that fell due meanwhile, each stamped
  with the instant it fell due, so the result does not depend on how often the breaker is asked;
* successes: every `successes_per_point` successes remove one point from the oldest failure in the
  window; when the score falls below the current level's threshold, a success steps down one level.

Holds override both: during an IP ban the level stays BLOCKED and nothing passes, not even
CRITICAL requests (the exchange would reject them and lengthen the ban); during a 429's
Retry-After the level stays at least THROTTLED and only CRITICAL requests pass.

Business rejections (insufficient margin, a filter violation, "order would immediately trigger")
are deliberately *not* failures and there is no way to report them here: they say nothing about
the health of the connection, and a strategy that keeps sending bad orders must not block its own
exits. Callers must feed only the transport and rate-limit outcomes listed in `FailureKind`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from statemachine import State, StateChart

from slt.domain.orders import Priority

_NEVER = 2**63 - 1  # an instant later than any real one; keeps hot-path comparisons int-only


class BreakerLevel(StrEnum):
    NORMAL = "NORMAL"  # all traffic passes
    WARNING = "WARNING"  # all traffic passes; failures are piling up
    THROTTLED = "THROTTLED"  # scans and market data wait, entries are paced, exits pass
    BLOCKED = "BLOCKED"  # only exits, cancels and position reads pass (none during an IP ban)

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {level: rank for rank, level in enumerate(BreakerLevel)}


class FailureKind(StrEnum):
    """An outcome that says the exchange or the path to it is in trouble. Nothing else is."""

    NETWORK = "NETWORK"  # connection refused/reset, DNS, TLS
    TIMEOUT = "TIMEOUT"
    SERVER_5XX = "SERVER_5XX"
    RATE_LIMIT_429 = "RATE_LIMIT_429"
    IP_BAN_418 = "IP_BAN_418"
    BINANCE_1003 = "BINANCE_1003"  # -1003 TOO_MANY_REQUESTS


# Rate-limit answers weigh more than transport errors: they are certain (not noise) and ignoring
# them is what turns a 429 into a 418. The 418 itself is absent: it blocks at once and enters
# the window with the full BLOCKED threshold.
DEFAULT_WEIGHTS: Mapping[FailureKind, int] = MappingProxyType(
    {
        FailureKind.NETWORK: 1,
        FailureKind.TIMEOUT: 1,
        FailureKind.SERVER_5XX: 1,
        FailureKind.RATE_LIMIT_429: 3,
        FailureKind.BINANCE_1003: 3,
    }
)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    warning_score: int = 3
    throttled_score: int = 6
    blocked_score: int = 10
    window_ms: int = 60_000  # failures older than this no longer count
    cooldown_ms: int = 30_000  # failure-free time before stepping down one level
    entry_interval_ms: int = 5_000  # THROTTLED: at most one HIGH request per interval
    successes_per_point: int = 4  # so that a 50 % failure rate still escalates
    weights: Mapping[FailureKind, int] = field(default_factory=lambda: DEFAULT_WEIGHTS)

    def __post_init__(self) -> None:
        if not 0 < self.warning_score <= self.throttled_score <= self.blocked_score:
            raise ValueError(
                "BreakerConfig: need 0 < warning_score <= throttled_score <= blocked_score"
            )
        for name in ("window_ms", "cooldown_ms", "entry_interval_ms", "successes_per_point"):
            if getattr(self, name) <= 0:
                raise ValueError(f"BreakerConfig: {name} must be positive")
        for kind in FailureKind:
            if kind is not FailureKind.IP_BAN_418 and self.weights.get(kind, 0) <= 0:
                raise ValueError(f"BreakerConfig: weights needs a positive weight for {kind}")

    def threshold(self, level: BreakerLevel) -> int:
        """The score at which `level` is reached (0 for NORMAL)."""
        return (0, self.warning_score, self.throttled_score, self.blocked_score)[level.rank]

    def level_for(self, score: int) -> BreakerLevel:
        if score >= self.blocked_score:
            return BreakerLevel.BLOCKED
        if score >= self.throttled_score:
            return BreakerLevel.THROTTLED
        if score >= self.warning_score:
            return BreakerLevel.WARNING
        return BreakerLevel.NORMAL


class AdmitReason(StrEnum):
    OK = "ok"
    IP_BAN = "ip_ban"
    RETRY_AFTER = "retry_after"
    THROTTLED = "throttled"
    ENTRY_PACING = "entry_pacing"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to "may I send this request now?".

    When `allowed` is False, `delay_ms` (> 0) is the earliest moment worth asking again; the
    caller decides whether to wait or to drop the request. When True, `delay_ms` is 0.
    """

    allowed: bool
    delay_ms: int
    reason: str


_ADMITTED = Admission(True, 0, AdmitReason.OK)  # shared: the common answer allocates nothing


@dataclass(frozen=True, slots=True)
class BreakerLevelChanged:
    ts_ms: int
    source: BreakerLevel
    target: BreakerLevel
    cause: str  # the FailureKind that escalated, or "cooldown" / "successes" for a step down


class BreakerLevels(StateChart):
    """The legal level changes: escalate by one or more levels, decay by exactly one.

    `f"{BreakerLevels:md}"` prints the transition table.
    """

    allow_event_without_transition = False
    # A bug in a callback must surface, not become an internal event the breaker never reads.
    catch_errors_as_events = False

    normal = State(initial=True, value=BreakerLevel.NORMAL)
    warning = State(value=BreakerLevel.WARNING)
    throttled = State(value=BreakerLevel.THROTTLED)
    blocked = State(value=BreakerLevel.BLOCKED)

    warn = normal.to(warning)
    throttle = normal.to(throttled) | warning.to(throttled)
    block = normal.to(blocked) | warning.to(blocked) | throttled.to(blocked)
    relax = warning.to(normal) | throttled.to(warning) | blocked.to(throttled)


_ESCALATE = {
    BreakerLevel.WARNING: "warn",
    BreakerLevel.THROTTLED: "throttle",
    BreakerLevel.BLOCKED: "block",
}


@dataclass(slots=True)
class _LevelModel:
    """What the chart writes its state into; `level` is what a store persists."""

    level: BreakerLevel = BreakerLevel.NORMAL


class _ChangeLog:
    """Chart listener turning each transition into a BreakerLevelChanged."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[BreakerLevelChanged] = []

    def after_transition(self, source: State, target: State, ts_ms: int, cause: str) -> None:
        self.events.append(BreakerLevelChanged(ts_ms, source.value, target.value, cause))


class CircuitBreaker:
    """Level policy and admission control. Pure: every method takes the time as `now_ms`.

    `now_ms` must not go backwards between calls. `admit` is not a query: an admitted HIGH
    request in THROTTLED takes the interval's only slot, so call it right before sending.
    """

    __slots__ = (
        "_ban_until",
        "_config",
        "_due",
        "_log",
        "_machine",
        "_model",
        "_next_entry",
        "_quiet_since",
        "_retry_until",
        "_score",
        "_successes",
        "_window",
    )

    def __init__(self, config: BreakerConfig | None = None) -> None:
        self._start(config or BreakerConfig(), BreakerLevel.NORMAL)

    def _start(self, config: BreakerConfig, level: BreakerLevel) -> None:
        self._config = config
        # A chart bound to a model that already holds a level resumes there, without entering
        # the initial state and without emitting a change.
        self._model = _LevelModel(level)
        self._log = _ChangeLog()
        self._machine = BreakerLevels(model=self._model, state_field="level", listeners=[self._log])
        # [ts_ms, remaining weight]; lists because successes wear the oldest entry down in place
        self._window: deque[list[int]] = deque()
        self._score = 0
        self._successes = 0
        self._quiet_since = 0  # last failure or level change: the cool-down runs from here
        self._due = _NEVER  # when the next cool-down step falls due
        self._ban_until = 0
        self._retry_until = 0
        self._next_entry = 0

    @classmethod
    def restore(
        cls,
        level: BreakerLevel | str,
        now_ms: int,
        *,
        config: BreakerConfig | None = None,
        ban_until_ms: int = 0,
        retry_until_ms: int = 0,
    ) -> CircuitBreaker:
        """Resume a persisted level as if it had just been reached at `now_ms`.

        The window is seeded with the level's threshold so that recovering by successes takes
        as many as it would have before the restart, and the cool-down starts afresh.
        """
        level = BreakerLevel(level)
        if ban_until_ms > now_ms and level is not BreakerLevel.BLOCKED:
            raise ValueError(f"restore: an IP ban until {ban_until_ms} needs BLOCKED, not {level}")
        if retry_until_ms > now_ms and level.rank < BreakerLevel.THROTTLED.rank:
            raise ValueError(f"restore: a Retry-After hold needs THROTTLED or above, not {level}")
        breaker = cls.__new__(cls)
        breaker._start(config or BreakerConfig(), level)
        weight = breaker._config.threshold(level)
        if weight:
            breaker._window.append([now_ms, weight])
            breaker._score = weight
        breaker._quiet_since = now_ms
        breaker._ban_until = ban_until_ms
        breaker._retry_until = retry_until_ms
        breaker._refresh_due()
        return breaker

    @property
    def level(self) -> BreakerLevel:
        return self._model.level

    @property
    def config(self) -> BreakerConfig:
        return self._config

    @property
    def ban_until_ms(self) -> int:
        return self._ban_until

    @property
    def retry_until_ms(self) -> int:
        return self._retry_until

    def score(self, now_ms: int) -> int:
        """The failure score counted at `now_ms` (failures in the window, less success credit)."""
        self._prune(now_ms)
        return self._score

    def record_failure(
        self,
        kind: FailureKind,
        now_ms: int,
        *,
        retry_after_ms: int | None = None,
        ban_until_ms: int | None = None,
    ) -> None:
        """Count a transport or rate-limit failure (never a business rejection).

        `retry_after_ms` is the Retry-After duration, counted from `now_ms`: non-critical requests
        are refused until it ends and the level stays at least THROTTLED. `ban_until_ms` is an
        absolute instant: until then the level stays BLOCKED and nothing passes; it is honoured
        for any kind (a -1003 "banned until" is a ban too). A 418 without an end is taken to last
        its Retry-After, or one cool-down when it has none.
        """
        if retry_after_ms is not None and retry_after_ms < 0:
            raise ValueError(f"retry_after_ms must not be negative, got {retry_after_ms}")
        self._catch_up(now_ms)
        self._prune(now_ms)
        config = self._config
        if kind is FailureKind.IP_BAN_418:
            weight = config.blocked_score
            if ban_until_ms is None:
                ban_until_ms = now_ms + (
                    retry_after_ms if retry_after_ms is not None else config.cooldown_ms
                )
        else:
            weight = config.weights[kind]
        self._window.append([now_ms, weight])
        self._score += weight
        if ban_until_ms is not None and ban_until_ms > self._ban_until:
            self._ban_until = ban_until_ms
        if retry_after_ms is not None and now_ms + retry_after_ms > self._retry_until:
            self._retry_until = now_ms + retry_after_ms
        target = config.level_for(self._score)
        floor = self._floor(now_ms)
        if floor.rank > target.rank:
            target = floor
        self._quiet_since = now_ms
        if target.rank > self._model.level.rank:
            self._machine.send(_ESCALATE[target], ts_ms=now_ms, cause=kind.value)
        self._refresh_due()

    def record_success(self, now_ms: int) -> None:
        """Count a request the exchange answered (including a business rejection: it answered)."""
        self._catch_up(now_ms)
        level = self._model.level
        if level is BreakerLevel.NORMAL and not self._window:
            return  # the healthy steady state: nothing to wear down
        self._prune(now_ms)
        self._successes += 1
        if self._successes >= self._config.successes_per_point:
            self._successes = 0
            self._wear_down_oldest()
        if (
            level is not BreakerLevel.NORMAL
            and self._score < self._config.threshold(level)
            and self._floor(now_ms).rank < level.rank
        ):
            self._relax(now_ms, "successes")

    def admit(self, priority: Priority, now_ms: int) -> Admission:
        """May a request of `priority` be sent at `now_ms`?

        Takes a level change only when a cool-down step has fallen due; otherwise it is a few
        integer comparisons and returns a shared Admission when the request passes.
        """
        if now_ms >= self._due:
            self._catch_up(now_ms)
        if now_ms < self._ban_until:
            return Admission(False, self._ban_until - now_ms, AdmitReason.IP_BAN)
        if priority is Priority.CRITICAL:
            return _ADMITTED
        if now_ms < self._retry_until:
            return Admission(False, self._retry_until - now_ms, AdmitReason.RETRY_AFTER)
        level = self._model.level
        if level is BreakerLevel.NORMAL or level is BreakerLevel.WARNING:
            return _ADMITTED
        if level is BreakerLevel.BLOCKED:
            return Admission(False, self._due - now_ms, AdmitReason.BLOCKED)
        if priority is not Priority.HIGH:
            return Admission(False, self._due - now_ms, AdmitReason.THROTTLED)
        if now_ms < self._next_entry:
            return Admission(False, self._next_entry - now_ms, AdmitReason.ENTRY_PACING)
        self._next_entry = now_ms + self._config.entry_interval_ms
        return _ADMITTED

    def drain_events(self) -> list[BreakerLevelChanged]:
        """Hand over the level changes since the last drain, oldest first; each exactly once."""
        events = self._log.events
        self._log.events = []
        return events

    def _catch_up(self, now_ms: int) -> None:
        while now_ms >= self._due:
            self._relax(self._due, "cooldown")

    def _relax(self, ts_ms: int, cause: str) -> None:
        self._machine.send("relax", ts_ms=ts_ms, cause=cause)
        self._quiet_since = ts_ms
        self._refresh_due()

    def _refresh_due(self) -> None:
        level = self._model.level
        if level is BreakerLevel.NORMAL:
            self._due = _NEVER
            return
        due = self._quiet_since + self._config.cooldown_ms
        if level is BreakerLevel.BLOCKED:
            due = max(due, self._ban_until)
        elif level is BreakerLevel.THROTTLED:
            due = max(due, self._retry_until)
        self._due = due

    def _floor(self, now_ms: int) -> BreakerLevel:
        """The lowest level the holds allow at `now_ms`."""
        if now_ms < self._ban_until:
            return BreakerLevel.BLOCKED
        if now_ms < self._retry_until:
            return BreakerLevel.THROTTLED
        return BreakerLevel.NORMAL

    def _prune(self, now_ms: int) -> None:
        window = self._window
        horizon = now_ms - self._config.window_ms
        while window and window[0][0] <= horizon:
            self._score -= window.popleft()[1]

    def _wear_down_oldest(self) -> None:
        if not self._window:
            return
        oldest = self._window[0]
        oldest[1] -= 1
        self._score -= 1
        if oldest[1] == 0:
            self._window.popleft()

    def __repr__(self) -> str:
        return f"CircuitBreaker(level={self.level}, score={self._score})"
