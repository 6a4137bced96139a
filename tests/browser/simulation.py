"""A short simulation on the bundled data, paused while positions are open, and a
StatusSource over its components (what `slt live` will hand the status server)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slt.adapters.replay import inspect_sources, open_replay
from slt.adapters.reporting.store import ReportStore
from slt.application.simulation.driver import replay
from slt.application.status import ComponentsSource
from slt.config import load_settings
from slt.container import build_container, listen_to_quotes
from slt.data import bundled_filters, bundled_sources
from slt.domain.breaker import FailureKind
from slt.domain.values import Quote

START_MS = 1_764_547_200_000  # 2025-12-01 00:00 UTC
END_MS = START_MS + 3 * 86_400_000


@dataclass
class Paused:
    source: ComponentsSource
    open_symbols: list[str]
    container: Any


Then = Callable[[Any], Awaitable[None]]


def paused_simulation(out_dir: Path, open_positions: int = 2, then: Then | None = None) -> Paused:
    """Paused once `open_positions` are open; with `then`, that is awaited with the container
    at the pause and the replay goes on to END_MS."""
    return asyncio.run(_run(out_dir, open_positions, then))


async def _run(out_dir: Path, wanted: int, then: Then | None) -> Paused:
    # Positions must open within three days: before the permission layer would allow any.
    settings = load_settings(None, {"learner.permission": False})
    sources = bundled_sources()
    infos = inspect_sources(sources)
    known = bundled_filters()
    filters = {symbol: known[symbol] for symbol in sorted(infos)}
    out_dir.mkdir(parents=True, exist_ok=True)
    container = build_container(settings, filters, START_MS, out_dir)
    clock = container.clock()
    feed = container.feed()
    controller = container.controller()
    container.trader()
    scheduler = container.scheduler()
    store = container.store()
    listen_to_quotes(container)
    await feed.subscribe(filters)
    stream = open_replay(
        list(sources),
        spread_bps=settings.simulation.spread_bps,
        tick_size=lambda s: filters[s].tick_size if s in filters else None,
        start_ms=START_MS,
        end_ms=END_MS,
    )

    def until_open(quotes: Iterable[Quote]) -> Iterator[Quote]:
        for q in quotes:
            yield q
            if sum(p.status == "open" for p in controller.positions.values()) >= wanted:
                return

    scheduler.start()
    await clock.settle()
    await replay(until_open(stream), clock, feed.publish)
    if then is not None:
        await then(container)
        await replay(stream, clock, feed.publish)
    await scheduler.stop()
    # Three server errors take the breaker to WARNING, as a flaky connection would.
    breaker = container.breaker()
    for _ in range(3):
        breaker.record_failure(FailureKind.SERVER_5XX, clock.now_ms())
    source = ComponentsSource(
        clock=clock,
        mode=settings.mode,
        store=store,
        positions=lambda: controller.positions.values(),
        breaker_level=lambda: breaker.level,
        symbols=lambda: filters,
        latest=feed.latest,
        scheduler=scheduler,
        report_store=ReportStore(out_dir / "state.db"),
        started_ms=START_MS,
    )
    symbols = sorted(p.symbol for p in controller.positions.values() if p.status == "open")
    return Paused(source, symbols, container)
