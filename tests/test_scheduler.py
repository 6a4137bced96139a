import asyncio
import itertools
from datetime import UTC, datetime

from freezegun import freeze_time

from slt.adapters.clocks.live import LiveClock
from slt.adapters.clocks.simulated import SimulatedClock
from slt.application.scheduler import Job, UnifiedScheduler
from slt.application.simulation.driver import run_until

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


def test_a_job_runs_only_at_slots_where_it_is_due_and_counts_the_others_idle() -> None:
    def jobs(clock, calls):  # type: ignore[no-untyped-def]
        async def hourly_work(slot: int) -> None:
            calls.setdefault("ran", []).append(slot)

        def due(slot: int) -> bool:
            calls.setdefault("asked", []).append(slot)
            return slot % 3_600_000 == 0

        return [Job("virtual", 10_000, hourly_work, due=due)]

    calls, scheduler, clock = run_two_days(jobs)
    assert calls["ran"] == [DAY1 + h * 3_600_000 for h in range(1, 49)]
    assert calls["asked"] == [DAY1 + k * 10_000 for k in range(1, 2 * 8640 + 1)]
    assert scheduler.runs["virtual"] == 48
    assert scheduler.idle["virtual"] == 2 * 8640 - 48
    assert clock.now_ms() == DAY1 + 2 * DAY_MS


def test_a_due_check_sees_what_a_job_woken_before_it_at_the_same_time_did() -> None:
    """The trading cycle (60 s) opens work the virtual cycle (10 s) must check in the same slot,
    as it would if both were woken: the check waits until the earlier job is idle."""

    def jobs(clock, calls):  # type: ignore[no-untyped-def]
        pending: list[int] = []

        async def opener(slot: int) -> None:
            pending.append(slot)

        async def checker(slot: int) -> None:
            calls.setdefault("checked", []).append(slot)
            pending.clear()

        return [
            Job("opener", 60_000, opener),
            Job("checker", 10_000, checker, due=lambda slot: bool(pending)),
        ]

    calls, scheduler, _ = run_two_days(jobs)
    assert calls["checked"] == [DAY1 + k * 60_000 for k in range(1, 2 * 1440 + 1)]
    assert scheduler.idle["checker"] == 2 * 8640 - 2 * 1440


def test_without_skipping_every_slot_runs_whatever_due_says(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(UnifiedScheduler, "skip_idle", False)

    def jobs(clock, calls):  # type: ignore[no-untyped-def]
        async def run(slot: int) -> None:
            calls.setdefault("ran", []).append(slot)

        return [Job("virtual", 10_000, run, due=lambda slot: False)]

    calls, scheduler, _ = run_two_days(jobs)
    assert len(calls["ran"]) == 2 * 8640
    assert scheduler.idle["virtual"] == 0


def test_live_clock_skips_slots_that_are_not_due() -> None:
    async def main() -> list[int]:
        clock = LiveClock()
        now = clock.now_ms()
        asked: list[int] = []

        def due(slot: int) -> bool:
            asked.append(slot)
            return len(asked) == 3

        # Slots in the past: no real wait.
        woke = await clock.sleep_until_due(now - 30_000, 10_000, due)
        assert woke == now - 10_000
        return asked

    assert len(asyncio.run(main())) == 3


def test_live_clock_reads_wall_time() -> None:
    with freeze_time("2026-01-02T03:04:05.500Z"):
        clock = LiveClock()
        assert clock.now_ms() == int(datetime(2026, 1, 2, 3, 4, 5, 500000, UTC).timestamp() * 1000)
        assert clock.now() == datetime(2026, 1, 2, 3, 4, 5, 500000, UTC)
