"""The C allocator's tuning: large blocks in their own mappings, free pages handed back daily."""

from __future__ import annotations

import asyncio
import platform

import pytest

from slt import container
from slt.adapters import process_memory

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


@glibc
def test_the_threshold_is_pinned_unless_the_operator_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert process_memory.tune_allocator()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not process_memory.tune_allocator()
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    tunables = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"
    monkeypatch.setenv("GLIBC_TUNABLES", tunables)
    assert not process_memory.tune_allocator()


@glibc
def test_freed_heap_pages_are_handed_back() -> None:
    blocks = [bytes(4096) for _ in range(20_000)]  # above pymalloc's 512 B: from malloc
    del blocks
    assert process_memory.release_free_memory()


class Reporter:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.days: list[int] = []

    async def report(self, now_ms: int) -> None:
        self.days.append(now_ms)
        if self.fail:
            raise RuntimeError("disk full")


@pytest.mark.parametrize("fail", [False, True])
def test_the_daily_job_trims_after_its_report_even_a_failed_one(
    monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    trims: list[int] = []
    reporter = Reporter(fail)
    monkeypatch.setattr(container, "release_free_memory", lambda: trims.append(len(reporter.days)))
    job = container._report_then_trim(reporter)  # type: ignore[arg-type]
    if fail:
        with pytest.raises(RuntimeError):
            asyncio.run(job(86_400_000))
    else:
        asyncio.run(job(86_400_000))
    assert reporter.days == [86_400_000] and trims == [1]  # after the report, once
