"""Pushing a replay into a running emulator at a pace."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable

from slt.domain.values import Quote
from slt.emulator.server import Emulator

# While behind schedule, hand the loop over this often so requests are still answered.
_YIELD_EVERY = 200


async def replay_into(
    emulator: Emulator,
    replay: Iterable[Quote],
    speed: float,
    *,
    offset_ms: int = 0,
    origin_ms: int | None = None,
) -> int:
    """Push every quote of `replay` into `emulator`; return how many were pushed.

    Quote times are moved by `offset_ms` (the market time the emulator shows). A quote whose
    moved time is t is pushed when the emulator's clock reads
    `start + (t - origin) / speed`, where start is the clock when this begins and `origin`
    defaults to the first quote's moved time: `speed` 1 is the recorded pace, 60 one minute per
    second, `math.inf` as fast as possible. Quotes already due are pushed at once, so an
    `origin_ms` after the first quote replays the data before it as a burst.
    """
    if not speed > 0:
        raise ValueError(f"speed {speed} must be positive")
    clock = emulator.clock
    start = clock.now_ms()
    origin = origin_ms
    behind = pushed = 0
    for quote in replay:
        at = quote.ts_ms + offset_ms
        if origin is None:
            origin = at
        due = start + (at - origin) / speed if not math.isinf(speed) else start
        if due > clock.now_ms():
            await clock.sleep_until(math.ceil(due))
            behind = 0
        else:
            behind += 1
            if behind % _YIELD_EVERY == 0:
                await _yield_to_loop()
        emulator.push_quote(quote._replace(ts_ms=at) if offset_ms else quote)
        pushed += 1
    return pushed


async def _yield_to_loop() -> None:
    """A zero-length pause: lets other tasks run during a catch-up burst. Not a timed wait."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done
