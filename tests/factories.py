"""Builders for test values (shared by several test modules)."""

from __future__ import annotations

from decimal import Decimal

from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.position import Position
from slt.domain.values import Direction, Quote


def open_position(
    direction: Direction = Direction.LONG,
    *,
    entry: str = "100",
    qty: str = "2",
    stop: str = "95",
    take_profit: str = "110",
    trail_distance: str = "0",
    trail_activation: str = "0",
    max_hold_ms: int = 0,
    hard_loss_fraction: str = "0",
    leverage: int = 5,
    opened_ms: int = 1_000,
    best: str | None = None,
    symbol: str = "BTCUSDT",
) -> Position:
    return Position(
        id=1,
        symbol=symbol,
        direction=direction,
        planned_qty=Decimal(qty),
        stop=Decimal(stop),
        take_profit=Decimal(take_profit),
        trail_distance=Decimal(trail_distance),
        trail_activation=Decimal(trail_activation),
        max_hold_ms=max_hold_ms,
        leverage=leverage,
        created_ms=opened_ms,
        hard_loss_fraction=Decimal(hard_loss_fraction),
        status="open",
        qty=Decimal(qty),
        entry_price=Decimal(entry),
        opened_ms=opened_ms,
        best_price=Decimal(best if best is not None else entry),
    )


def quote(bid: float, ask: float, ts_ms: int = 2_000, symbol: str = "BTCUSDT") -> Quote:
    return Quote(symbol, ts_ms, bid, 1.0, ask, 1.0)


async def run_clock(clock: SimulatedClock, until_ms: int) -> None:
    """Let simulated time pass to `until_ms`, waking every timer due on the way."""
    await clock.settle()  # tasks spawned just before start their timers first
    while clock.next_due_ms <= until_ms:
        clock.fire_due()
        await clock.settle()
    clock.advance(until_ms)
    await clock.settle()
