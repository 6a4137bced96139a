import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.reporting.daily import DailyReporter
from slt.adapters.sqlite_store import SqliteStore
from slt.ports.store import BreakerEvent, LedgerEntry, TradeRecord

DAY = int(datetime(2025, 12, 2, tzinfo=UTC).timestamp() * 1000)


def trade(pid: int, close_ms: int, pnl: str, reason: str) -> TradeRecord:
    return TradeRecord(
        pid,
        "BTCUSDT",
        "LONG",
        Decimal("0.01"),
        Decimal(90000),
        Decimal(91000),
        Decimal("0.9"),
        Decimal(pnl),
        close_ms - 60_000,
        close_ms,
        reason,
    )


def test_report_covers_exactly_the_utc_day_that_ended(tmp_path: Path) -> None:
    store = SqliteStore(":memory:")
    store.add_trade(trade(1, DAY - 1, "5", "stop_loss"))  # the day before
    store.add_trade(trade(2, DAY + 3_600_000, "9.1", "take_profit"))
    store.add_trade(trade(3, DAY + 7_200_000, "-4.5", "stop_loss"))
    store.add_trade(trade(4, DAY + 86_400_000, "100", "take_profit"))  # the next day
    store.add_breaker_event(BreakerEvent(DAY + 60_000, "NORMAL", "WARNING", "SERVER_5XX"))
    clock = SimulatedClock(DAY + 86_400_000)
    reporter = DailyReporter(store, FakeExchange({}, clock), tmp_path)
    path = asyncio.run(reporter.report(DAY + 86_400_000))
    assert path.name == "2025-12-02.md"
    text = path.read_text()
    assert "- trades closed: 2" in text
    assert "- win rate: 50.0%" in text
    assert "- net P&L: 4.6000 USDT" in text
    assert "- stop_loss: 1" in text and "- take_profit: 1" in text
    assert "NORMAL -> WARNING (SERVER_5XX)" in text
    assert "100.0000" not in text


def test_report_shows_the_days_funding_and_fees_left_in_bnb(tmp_path: Path) -> None:
    store = SqliteStore(":memory:")
    store.add_ledger_entry(LedgerEntry(DAY - 1, "FUNDING_FEE", "USDT", Decimal("-9")))
    store.add_ledger_entry(LedgerEntry(DAY + 1, "FUNDING_FEE", "USDT", Decimal("-0.25"), "X", 1))
    store.add_ledger_entry(LedgerEntry(DAY + 2, "FUNDING_FEE", "USDT", Decimal("0.05"), "Y"))
    store.add_ledger_entry(LedgerEntry(DAY + 3, "COMMISSION", "BNB", Decimal("-0.004"), "X", 1))
    reporter = DailyReporter(store, None, tmp_path)
    text = asyncio.run(reporter.report(DAY + 86_400_000)).read_text()
    assert (
        "- funding and other account moves: commission -0.0040 BNB (not in the USDT totals);"
        " funding_fee -0.2000 USDT" in text
    )
