"""What the bot tells its operator: events (past tense, frozen) that render their own text.

Texts are plain (no Markdown or HTML parse mode), one or two lines, so that every service
shows them as they are and no symbol or reason needs escaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from slt.application.reporting.analysis import DayReport
from slt.domain.position import Position


class Notice(Protocol):
    def text(self) -> str: ...


class LevelChange(Protocol):
    """A breaker level change: the domain's BreakerLevelChanged or the store's BreakerEvent."""

    @property
    def ts_ms(self) -> int: ...
    @property
    def source(self) -> object: ...
    @property
    def target(self) -> object: ...
    @property
    def cause(self) -> str: ...


def _hhmm(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral() else format(d, "f")


def _trade(p: Position) -> tuple[int, str, str, Decimal, Decimal]:
    """The fields every trade notice starts with: id, symbol, side, qty, entry price."""
    return p.id, p.symbol, p.direction.value, p.qty, p.entry_price


@dataclass(frozen=True, slots=True)
class TradeOpened:
    position_id: int
    symbol: str
    side: str  # LONG or SHORT
    qty: Decimal
    entry_price: Decimal
    stop: Decimal
    take_profit: Decimal
    ts_ms: int

    @classmethod
    def from_position(cls, p: Position) -> TradeOpened:
        return cls(*_trade(p), p.stop, p.take_profit, p.opened_ms)

    def text(self) -> str:
        return (
            f"Opened {self.side} {_num(self.qty)} {self.symbol} @ {_num(self.entry_price)}"
            f" (stop {_num(self.stop)}, target {_num(self.take_profit)}) #{self.position_id}"
        )


@dataclass(frozen=True, slots=True)
class TradeClosed:
    position_id: int
    symbol: str
    side: str
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal  # net of fees
    exit_reason: str
    ts_ms: int

    @classmethod
    def from_position(cls, p: Position) -> TradeClosed:
        return cls(*_trade(p), p.exit_price, p.net_pnl, p.exit_reason, p.closed_ms)

    def text(self) -> str:
        return (
            f"Closed {self.side} {_num(self.qty)} {self.symbol} @ {self.exit_price:.8g}"
            f" ({self.exit_reason}): {self.pnl:+.2f} USDT net, entry"
            f" {_num(self.entry_price)} #{self.position_id}"
        )


@dataclass(frozen=True, slots=True)
class ProtectiveStopPlaced:
    position_id: int
    symbol: str
    stop_price: Decimal

    def text(self) -> str:
        return f"Stop placed for {self.symbol} #{self.position_id} at {_num(self.stop_price)}"


@dataclass(frozen=True, slots=True)
class ProtectiveStopFailed:
    """The position is open without its exchange-side stop: the bot alone protects it."""

    position_id: int
    symbol: str
    stop_price: Decimal
    reason: str

    def text(self) -> str:
        return (
            f"WARNING: stop for {self.symbol} #{self.position_id} at {_num(self.stop_price)}"
            f" NOT placed ({self.reason}); the position is watched by the bot only"
        )


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    ts_ms: int
    source: str
    target: str
    cause: str

    @classmethod
    def from_event(cls, event: LevelChange) -> BreakerChanged:
        return cls(event.ts_ms, str(event.source), str(event.target), event.cause)

    def text(self) -> str:
        return (
            f"Circuit breaker {self.source} -> {self.target} ({self.cause}) at {_hhmm(self.ts_ms)}"
        )


def _symbols(symbols: tuple[str, ...], shown: int = 5) -> str:
    more = len(symbols) - shown
    return ", ".join(symbols[:shown]) + (f" (+{more} more)" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class FeedStale:
    """Symbols whose quotes stopped (a dropped connection stops many at once: one message)."""

    symbols: tuple[str, ...]
    age_ms: int  # the oldest of their last quotes, at `ts_ms`
    ts_ms: int

    def text(self) -> str:
        return (
            f"Feed stale: no fresh quote for {self.age_ms / 1000:.1f} s: {_symbols(self.symbols)}"
        )


@dataclass(frozen=True, slots=True)
class FeedRestored:
    symbols: tuple[str, ...]
    stale_ms: int  # the longest of their stale periods
    ts_ms: int

    def text(self) -> str:
        return f"Feed restored after {self.stale_ms / 1000:.1f} s: {_symbols(self.symbols)}"


@dataclass(frozen=True, slots=True)
class DailyReportReady:
    day: str
    trades: int
    win_rate: float
    net_pnl: Decimal
    fees: Decimal
    max_drawdown: Decimal
    expectancy_r: float | None

    @classmethod
    def from_report(cls, report: DayReport) -> DailyReportReady:
        return cls(
            day=report.day,
            trades=report.count,
            win_rate=report.win_rate,
            net_pnl=report.net_pnl,
            fees=report.fees,
            max_drawdown=report.max_drawdown,
            expectancy_r=report.expectancy_r,
        )

    def text(self) -> str:
        expectancy = "n/a" if self.expectancy_r is None else f"{self.expectancy_r:+.2f} R"
        return (
            f"Daily report {self.day}: {self.trades} trades, win rate {self.win_rate:.0%},"
            f" net {self.net_pnl:+.2f} USDT (fees {self.fees:.2f}),"
            f" max drawdown {self.max_drawdown:.2f}, expectancy {expectancy}"
        )


@dataclass(frozen=True, slots=True)
class BotStarted:
    mode: str  # paper or live
    symbols: tuple[str, ...]
    halted: str  # why entries are halted from the start ('' if they are on)

    def text(self) -> str:
        entries = f"entries HALTED ({self.halted})" if self.halted else "entries on"
        return f"slt started ({self.mode}): {_symbols(self.symbols)}; {entries}"


@dataclass(frozen=True, slots=True)
class BotStopping:
    mode: str
    open_positions: int

    def text(self) -> str:
        return (
            f"slt stopping ({self.mode}): new entries halted; {self.open_positions} open"
            " position(s) keep their protective stops on the exchange"
        )
