"""Fault switches for chaos tests: one object to flip them all.

REST faults are drawn per request by the server; stream faults act on the hub; the listen key
and the ban act on their owners. Everything random draws from a seeded generator, so a chaos
test replays the same faults on every run.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from slt.emulator import errors
from slt.emulator.limits import RateLimiter
from slt.emulator.listen_keys import ListenKeys
from slt.emulator.streams import Channel, Malformed, StreamHub


class Failure(StrEnum):
    """The 5xx answers of BINANCE.md §1. Only UNKNOWN leaves the outcome open; the others
    say the request failed (and, with `after_execution`, lie about it, as a test may want)."""

    UNKNOWN = "unknown"  # 503 "Unknown error, please check your request or try again later."
    UNAVAILABLE = "unavailable"  # 503 "Service Unavailable."
    INTERNAL = "internal"  # 503 -1001 "Internal error; unable to process your request..."
    THROTTLED = "throttled"  # 503 -1008 "Request throttled by system-level protection..."
    BAD_GATEWAY = "bad_gateway"  # 502 with an HTML body, as a proxy in front would send


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "application/json"


ANSWERS: dict[Failure, Answer] = {
    Failure.UNKNOWN: Answer(
        503,
        f'{{"code":{errors.UNKNOWN},"msg":"Unknown error, please check your request or try '
        'again later."}',
    ),
    Failure.UNAVAILABLE: Answer(503, f'{{"code":{errors.UNKNOWN},"msg":"Service Unavailable."}}'),
    Failure.INTERNAL: Answer(
        503,
        f'{{"code":{errors.DISCONNECTED},"msg":"Internal error; unable to process your '
        'request. Please try again."}',
    ),
    Failure.THROTTLED: Answer(
        503,
        f'{{"code":{errors.THROTTLED},"msg":"Request throttled by system-level protection. '
        'Reduce-only/close-position orders are exempt. Please try again."}',
    ),
    Failure.BAD_GATEWAY: Answer(
        502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
    ),
}


@dataclass(frozen=True, slots=True)
class RestFault:
    """What to do to one request: answer `failure`, before or after executing it."""

    failure: Failure
    after_execution: bool = False

    @property
    def answer(self) -> Answer:
        return ANSWERS[self.failure]


@dataclass(frozen=True, slots=True)
class _Share:
    share: float
    failure: Failure
    after_execution: bool
    path: str | None


class Faults:
    def __init__(self, limiter: RateLimiter, hub: StreamHub, listen_keys: ListenKeys) -> None:
        self.rest_delay_ms = 0
        self._limiter = limiter
        self._hub = hub
        self._keys = listen_keys
        self._next: deque[tuple[RestFault, str | None]] = deque()
        self._share: _Share | None = None
        self._random = random.Random(0)
        self._throttle = 0
        self._retry_after_s = 1

    # -- REST ------------------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        failure: Failure = Failure.UNKNOWN,
        *,
        after_execution: bool = False,
        path: str | None = None,
    ) -> None:
        """Answer the next `count` requests (to `path` only, if given) with `failure`.

        `after_execution` executes the request first, then answers the failure: an order
        that was placed although the client was told otherwise.
        """
        self._next.extend([(RestFault(failure, after_execution), path)] * count)

    def fail_share(
        self,
        share: float,
        failure: Failure = Failure.UNKNOWN,
        *,
        after_execution: bool = False,
        path: str | None = None,
        seed: int = 0,
    ) -> None:
        """Answer a random `share` of requests (0 stops it) with `failure`, from `seed`."""
        if not 0 <= share <= 1:
            raise ValueError(f"share {share} is not in [0, 1]")
        self._share = _Share(share, failure, after_execution, path) if share else None
        self._random = random.Random(seed)

    def throttle_next(self, count: int = 1, retry_after_s: int = 1) -> None:
        """Answer the next `count` requests with 429 -1003, as if the weight limit were hit
        (without the 418 that ignoring a real 429 earns)."""
        self._throttle += count
        self._retry_after_s = retry_after_s

    def ban(self, ms: int) -> None:
        """Answer every request with 418 for the next `ms` milliseconds."""
        self._limiter.ban_for(ms)

    def draw_throttle(self) -> int | None:
        """Retry-After seconds if this request is to be throttled."""
        if not self._throttle:
            return None
        self._throttle -= 1
        return self._retry_after_s

    def draw(self, path: str) -> RestFault | None:
        for i, (fault, only) in enumerate(self._next):
            if only in (None, path):
                del self._next[i]
                return fault
        share = self._share
        if share is not None and share.path in (None, path) and self._random.random() < share.share:
            return RestFault(share.failure, share.after_execution)
        return None

    # -- streams ---------------------------------------------------------------------------

    @property
    def silent(self) -> bool:
        """While True, streams send nothing (no data, no replies) and close nothing."""
        return self._hub.silent

    @silent.setter
    def silent(self, value: bool) -> None:
        self._hub.silent = value

    async def drop_connections(self, *, abrupt: bool = True) -> None:
        """Close every WebSocket now: by cutting TCP (`abrupt`), else with close code 1001."""
        await self._hub.drop_all(abrupt=abrupt)

    def malform_next(
        self, kind: Malformed, count: int = 1, channel: Channel = Channel.MARKET
    ) -> None:
        """Spoil the next `count` messages of `channel` (see Malformed)."""
        self._hub.malform_next(kind, count, channel)

    def duplicate_next_user_event(self, count: int = 1) -> None:
        """Send each of the next `count` user-data events twice."""
        self._hub.duplicate_next_user_event(count)

    def clear(self) -> None:
        """Switch every fault off: pending failures, shares, throttles, the ban, delays,
        silence, malformed and duplicated messages."""
        self._next.clear()
        self._share = None
        self._throttle = 0
        self._limiter.ban_for(0)
        self.rest_delay_ms = 0
        self._hub.clear_faults()

    def expire_listen_key(self) -> None:
        """Expire the active listenKey now: listenKeyExpired is sent, PUT answers -1125."""
        self._keys.expire_now()
