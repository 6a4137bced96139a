"""Daily report, written at 00:00 UTC for the day that just ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from slt.domain.values import DAY_MS
from slt.ports.order_gateway import OrderGateway
from slt.ports.store import BreakerEvent, Store, TradeRecord


@dataclass(frozen=True, slots=True)
class DaySummary:
    trades: int
    wins: int
    net_pnl: Decimal
    fees: Decimal
    best: Decimal
    worst: Decimal
    exit_reasons: tuple[tuple[str, int], ...]

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else 0.0


def summarize(trades: Sequence[TradeRecord]) -> DaySummary:
    pnls = [t.pnl for t in trades]
    return DaySummary(
        trades=len(trades),
        wins=sum(1 for p in pnls if p > 0),
        net_pnl=sum(pnls, Decimal(0)),
        fees=sum((t.fees for t in trades), Decimal(0)),
        best=max(pnls, default=Decimal(0)),
        worst=min(pnls, default=Decimal(0)),
        exit_reasons=tuple(sorted(Counter(t.exit_reason for t in trades).items())),
    )


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


class DailyReporter:
    def __init__(self, store: Store, gateway: OrderGateway, out_dir: Path) -> None:
        self._store = store
        self._gateway = gateway
        self._dir = out_dir
        self.written: list[Path] = []

    async def report(self, now_ms: int) -> Path:
        """Write `YYYY-MM-DD.md` for the UTC day that ended at the last midnight."""
        day_end = now_ms - now_ms % DAY_MS
        return await self.report_day(day_end - DAY_MS, day_end)

    async def report_day(self, day_start: int, day_end: int) -> Path:
        """Write the report of [day_start, day_end): a whole day, or the part of one that a
        simulation covered."""
        trades = [t for t in self._store.trades() if day_start <= t.close_ms < day_end]
        events = [e for e in self._store.breaker_events(day_start) if e.ts_ms < day_end]
        balance = await self._gateway.balance()
        positions = await self._gateway.positions()
        text = render(day_start, summarize(trades), trades, events, balance.equity, positions)
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{datetime.fromtimestamp(day_start / 1000, tz=UTC):%Y-%m-%d}.md"
        path.write_text(text, encoding="utf-8")
        self.written.append(path)
        return path


def render(
    day_start: int,
    summary: DaySummary,
    trades: Sequence[TradeRecord],
    events: Sequence[BreakerEvent],
    equity: Decimal,
    positions: Sequence[object],
) -> str:
    day = datetime.fromtimestamp(day_start / 1000, tz=UTC).strftime("%Y-%m-%d")
    lines = [
        f"# slt daily report {day} (UTC)",
        "",
        f"- trades closed: {summary.trades}",
        f"- win rate: {summary.win_rate:.1%}",
        f"- net P&L: {summary.net_pnl:.4f} USDT (fees {summary.fees:.4f})",
        f"- best / worst trade: {summary.best:.4f} / {summary.worst:.4f}",
        f"- equity at report: {equity:.4f} USDT",
        f"- open positions: {len(positions)}",
        "",
        "## Exit reasons",
        "",
    ]
    lines += [f"- {reason}: {count}" for reason, count in summary.exit_reasons] or ["- none"]
    lines += ["", "## Trades", ""]
    if trades:
        lines += [
            "| closed | symbol | side | qty | entry | exit | net P&L | reason |",
            "|" + "---|" * 8,
        ]
        lines += [
            f"| {_iso(t.close_ms)} | {t.symbol} | {t.side} | {t.qty} | {t.entry_price} "
            f"| {t.exit_price:.8g} | {t.pnl:.4f} | {t.exit_reason} |"
            for t in trades
        ]
    else:
        lines.append("No trades closed.")
    lines += ["", "## Circuit breaker", ""]
    lines += [f"- {_iso(e.ts_ms)} {e.source} -> {e.target} ({e.cause})" for e in events] or [
        "No level changes."
    ]
    return "\n".join(lines) + "\n"
