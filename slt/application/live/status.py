"""The status line `slt live` prints every few seconds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from slt.ports.price_feed import QuoteAge


def status_line(
    now_ms: int,
    feed: Iterable[tuple[str, QuoteAge | None]],
    breaker: str,
    open_positions: int,
    pnl_today: Decimal,
    halted: str,
    permissions: str = "",
) -> str:
    ages = " ".join(
        f"{symbol}:{'-' if age is None else f'{age.age_ms / 1000:.1f}s'}"
        + ("!" if age is not None and age.stale else "")
        for symbol, age in feed
    )
    clock = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%H:%M:%S")
    entries = f"entries halted ({halted})" if halted else "entries on"
    return (
        f"{clock} | feed {ages} | breaker {breaker} | positions {open_positions} "
        f"| P&L today {pnl_today:+.2f} USDT | {entries}"
        + (f" | families: {permissions}" if permissions else "")
    )
