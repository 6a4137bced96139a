import asyncio
import itertools
from datetime import UTC, datetime

from freezegun import freeze_time

from slt.adapters.clocks.live import LiveClock
from slt.adapters.clocks.simulated import SimulatedClock
from slt.scheduler import Job, UnifiedScheduler
from slt.simulator.driver import run_until

DAY1 = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000


def run_two_days(jobs_factory):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        clock = SimulatedClock(DAY1)
        calls: dict[str, list[int]] = {}
        scheduler = UnifiedScheduler(clock, jobs_factory(clock, calls))
        scheduler.start()
        await clock.settle()
        await run_until(clock, DAY1 + 2 * DAY_MS)
        await scheduler.stop()
        return calls, scheduler, clock

    return asyncio.run(main())


def recording_jobs(clock, calls):  # type: ignore[no-untyped-def]
    def job(name: str):  # type: ignore[no-untyped-def]
        async def run(slot: int) -> None:
            assert clock.now_ms() == slot  # runs exactly at its slot
            calls.setdefault(name, []).append(slot)

        return run

    return [
        Job("trading", 60_000, job("trading")),
        Job("virtual", 10_000, job("virtual")),
        Job("daily_report", DAY_MS, job("daily_report")),
    ]


def test_two_simulated_days_run_every_loop_the_exact_number_of_times() -> None:
    calls, scheduler, clock = run_two_days(recording_jobs)
    assert len(calls["trading"]) == 2 * 1440
    assert len(calls["virtual"]) == 2 * 8640
    assert calls["daily_report"] == [DAY1 + DAY_MS, DAY1 + 2 * DAY_MS]  # 00:00 UTC
    assert calls["trading"][0] == DAY1 + 60_000
    assert all(
        b - a == 60_000 for a, b in zip(calls["trading"], calls["trading"][1:], strict=False)
    )
    assert clock.now_ms() == DAY1 + 2 * DAY_MS
    assert scheduler.runs["virtual"] == 17280


def test_a_job_that_waits_on_the_clock_delays_nothing_else_and_time_stays_ordered() -> None:
    def jobs(clock, calls):  # type: ignore[no-untyped-def]
        async def slow(slot: int) -> None:
            await clock.sleep(30)  # half a period of work, in simulated time
            calls.setdefault("slow_done", []).append(clock.now_ms() - slot)

        async def fast(slot: int) -> None:
            calls.setdefault("fast", []).append(slot)

        return [Job("slow", 60_000, slow), Job("fast", 10_000, fast)]

    calls, _, _ = run_two_days(jobs)
    assert set(calls["slow_done"]) == {30_000}
    # the slot at the very end starts but its 30 s of work lie beyond the simulated period
    assert len(calls["slow_done"]) == 2879
    assert len(calls["fast"]) == 17280


def test_overrunning_job_skips_missed_slots_instead_of_bunching() -> None:
    def jobs(clock, calls):  # type: ignore[no-untyped-def]
        async def overrun(slot: int) -> None:
            calls.setdefault("slots", []).append(slot)
            await clock.sleep(150)  # 2.5 periods

        return [Job("overrun", 60_000, overrun)]

    calls, scheduler, _ = run_two_days(jobs)
    slots = calls["slots"]
    assert all(b - a == 180_000 for a, b in itertools.pairwise(slots))
    assert scheduler.skipped["overrun"] == 2 * (len(slots) - 1)


def test_failing_job_is_counted_and_keeps_running() -> None:
    def jobs(clock, calls):  # type: ignore[no-untyped-def]
        async def boom(slot: int) -> None:
            calls.setdefault("boom", []).append(slot)
            raise RuntimeError("cycle failed")

        return [Job("boom", DAY_MS // 4, boom)]

    calls, scheduler, _ = run_two_days(jobs)
    assert len(calls["boom"]) == 8
    assert scheduler.failures["boom"] == 8


def test_live_clock_reads_wall_time() -> None:
    with freeze_time("2026-01-02T03:04:05.500Z"):
        clock = LiveClock()
        assert clock.now_ms() == int(datetime(2026, 1, 2, 3, 4, 5, 500000, UTC).timestamp() * 1000)
        assert clock.now() == datetime(2026, 1, 2, 3, 4, 5, 500000, UTC)
