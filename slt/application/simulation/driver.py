"""The discrete-event loop of a simulation.

Quotes are pushed synchronously through the feed to its listeners (simulated exchange, bars,
PositionController): no task switch per quote. Tasks (scheduler loops, order sending) run only
when a timer is due or a listener spawned work, and time advances only once they are idle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from slt.domain.values import Quote
from slt.ports.clock import SteppedClock

QuoteSink = Callable[[Quote], None]


async def run_until(clock: SteppedClock, end_ms: int) -> None:
    """Fire every timer due up to and including `end_ms`."""
    while clock.next_due_ms <= end_ms:
        clock.fire_due()
        await clock.settle()
    clock.advance(end_ms)


async def replay(
    quotes: Iterable[Quote],
    clock: SteppedClock,
    publish: QuoteSink,
    progress: Callable[[int], object] | None = None,
    progress_every: int = 50_000,
) -> int:
    """Drive every quote through the system; return how many were replayed.

    Timers due at a quote's timestamp fire before the quote, and work spawned by a listener
    (an exit order, say) runs before the next quote.
    """
    n = 0
    next_due = clock.next_due_ms
    advance = clock.advance
    for q in quotes:
        ts = q[1]
        if ts >= next_due:
            await run_until(clock, ts)
            next_due = clock.next_due_ms
        advance(ts)
        publish(q)
        if clock.awake:
            await clock.settle()
            next_due = clock.next_due_ms
        n += 1
        if progress is not None and n % progress_every == 0:
            progress(progress_every)
    return n
