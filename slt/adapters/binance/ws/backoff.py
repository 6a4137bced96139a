"""Reconnect delays: exponential with jitter, reset once a connection has proved stable."""

from __future__ import annotations

import random


class Backoff:
    """Delays of `first_ms`, doubling up to `cap_ms`, each scaled by a random factor in
    [1 - jitter, 1 + jitter] (never above the cap).

    Jitter keeps many connections that dropped together (an exchange restart) from reconnecting
    in lockstep. The generator is passed in, seeded, so a schedule can be reproduced in a test.
    """

    __slots__ = ("_attempt", "_rng", "cap_ms", "first_ms", "jitter")

    def __init__(self, first_ms: int, cap_ms: int, jitter: float, rng: random.Random) -> None:
        if not 0 < first_ms <= cap_ms:
            raise ValueError("need 0 < first_ms <= cap_ms")
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter must be in [0, 1)")
        self.first_ms = first_ms
        self.cap_ms = cap_ms
        self.jitter = jitter
        self._rng = rng
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempt

    def next_ms(self) -> int:
        # Stop doubling once past the cap: 2**attempt would otherwise grow without bound.
        base = self.first_ms << min(self._attempt, 32)
        self._attempt += 1
        base = min(base, self.cap_ms)
        factor = 1.0 + self.jitter * (2.0 * self._rng.random() - 1.0)
        return min(self.cap_ms, max(1, round(base * factor)))

    def reset(self) -> None:
        self._attempt = 0
