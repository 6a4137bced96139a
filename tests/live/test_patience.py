"""Start-up patience on the simulated clock: what it waits for, what it says, what ends it."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from slt.adapters.binance.common.errors import AuthError
from slt.adapters.clocks.simulated import SimulatedClock
from slt.application.live.patience import Patience
from slt.domain.breaker import FailureKind
from slt.ports.order_gateway import ExchangeDown, GatewayUnavailable

T0 = 1_700_000_000_000


def patience(clock: SimulatedClock, said: list[str], holds: int = 0) -> Patience:
    return Patience(clock, random.Random(1), said.append, 60_000, lambda: holds, asyncio.Event())


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_retry_after_and_ban_are_waited_out_then_it_resumes() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        said: list[str] = []
        answers: list[Exception | str] = [
            ExchangeDown(FailureKind.RATE_LIMIT_429, "429", retry_after_ms=20_000),
            ExchangeDown(FailureKind.IP_BAN_418, "418", ban_until_ms=T0 + 500_000),
            "ok",
        ]
        attempts: list[int] = []

        async def step() -> str:
            attempts.append(clock.now_ms())
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        task = asyncio.ensure_future(patience(clock, said).run("connecting", step))
        while not task.done():
            await settle()
            if not task.done():
                clock.fire_due()
        assert task.result() == "ok"
        assert attempts[1] - attempts[0] >= 20_000  # the Retry-After, not the 1 s backoff
        assert T0 + 500_000 <= attempts[2] < T0 + 501_000  # the ban's end, plus some jitter
        assert len(said) == 3 and "waiting until" in said[0] and "429" in said[0]
        assert said[2] == "start-up: connecting: resumed after 2 refused attempts"

    asyncio.run(main())


def test_backoff_grows_jittered_and_capped() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        said: list[str] = []
        attempts: list[int] = []

        async def step() -> None:
            attempts.append(clock.now_ms())
            if len(attempts) < 10:
                raise ExchangeDown(FailureKind.NETWORK, "connection refused")

        task = asyncio.ensure_future(patience(clock, said).run("connecting", step))
        while not task.done():
            await settle()
            if not task.done():
                clock.fire_due()
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert 500 <= gaps[0] <= 1_000 and 1_000 <= gaps[1] <= 2_000
        assert all(30_000 <= g <= 60_000 for g in gaps[-3:])  # capped at 60 s

    asyncio.run(main())


def test_a_hold_the_breaker_knows_is_waited_for_without_asking() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        said: list[str] = []
        attempts: list[int] = []

        async def step() -> None:
            attempts.append(clock.now_ms())
            if len(attempts) == 1:
                raise GatewayUnavailable("CRITICAL request held back: ip_ban")

        task = asyncio.ensure_future(
            patience(clock, said, holds=T0 + 90_000).run("connecting", step)
        )
        while not task.done():
            await settle()
            if not task.done():
                clock.fire_due()
        assert attempts[1] >= T0 + 90_000

    asyncio.run(main())


def test_refused_credentials_end_start_up_at_once() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)

        async def step() -> None:
            raise AuthError(-2015, "Invalid API-key, IP, or permissions for action.")

        with pytest.raises(AuthError):
            await patience(clock, []).run("connecting", step)

    asyncio.run(main())


def test_a_stop_during_the_wait_ends_it_quietly() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        p = patience(clock, [])

        async def step() -> None:
            raise ExchangeDown(FailureKind.SERVER_5XX, "503")

        task = asyncio.ensure_future(p.run("connecting", step))
        await settle()
        p.stop.set()
        await settle()
        assert task.done() and task.result() is None

    asyncio.run(main())
