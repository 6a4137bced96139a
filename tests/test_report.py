"""DailyReporter: a known day computed by hand, the HTML and PNG, report rows and catch-up."""

from __future__ import annotations

import asyncio
import base64
import re
import struct
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.reporting.chart import equity_png
from slt.adapters.reporting.daily import DailyReporter
from slt.adapters.reporting.store import ModelRecord, ReportStore
from slt.adapters.sqlite_store import SqliteStore
from slt.application.reporting import RuntimeStats
from slt.ports.store import BreakerEvent, TradeRecord

H = 3_600_000
D = 24 * H
DAY = int(datetime(2025, 12, 2, tzinfo=UTC).timestamp() * 1000)
ALL = ("md", "html", "png")


def trade(pid: int, symbol: str, side: str, close_ms: int, pnl: str, fees: str, reason: str):
    return TradeRecord(pid, symbol, side, Decimal("0.01"), Decimal(100), Decimal(101),
                       Decimal(fees), Decimal(pnl), close_ms - H // 2, close_ms, reason)


def outcome(close_ms: int, r: float, *, virtual: bool, version: int = 0,
            not_taken: str = "") -> dict[str, Any]:
    return {"type": "outcome", "ref": 1, "virtual": virtual, "symbol": "BTCUSDT",
            "decision_ms": close_ms - H, "close_ms": close_ms, "hold_ms": H,
            "r_multiple": r, "win": r > 0, "exit_reason": "x", "model_version": version,
            "not_taken": not_taken}


def known_day(path: Path) -> tuple[SqliteStore, ReportStore]:
    """The day by hand: P&L -3, +10, -4, +2 (cumulative -3, 7, 3, 5): net 5, two wins of
    four, fees 2.25, max drawdown 4 (from the peak 7 down to 3)."""
    store = SqliteStore(path)
    store.add_trade(trade(1, "BTCUSDT", "LONG", DAY - 1, "5", "1", "stop_loss"))  # day before
    store.add_trade(trade(2, "BTCUSDT", "LONG", DAY + 1 * H, "-3", "0.5", "stop_loss"))
    store.add_trade(trade(3, "ETHUSDT", "SHORT", DAY + 2 * H, "10", "1", "take_profit"))
    store.add_trade(trade(4, "BTCUSDT", "LONG", DAY + 3 * H, "-4", "0.5", "stop_loss"))
    store.add_trade(trade(5, "ETHUSDT", "LONG", DAY + 5 * H, "2", "0.25", "trailing_stop"))
    store.add_trade(trade(6, "SOLUSDT", "LONG", DAY + D + H, "100", "1", "take_profit"))
    store.add_samples([
        {"type": "entry", "position_id": 9, "decision": {}},  # not an outcome
        outcome(DAY - 1, 5.0, virtual=False),  # the day before
        outcome(DAY + 1 * H, -1.0, virtual=False, version=3),
        outcome(DAY + 2 * H, 2.0, virtual=False, version=3),
        outcome(DAY + 3 * H, -1.0, virtual=False, version=0),
        outcome(DAY + 5 * H, 0.5, virtual=False, version=3),
        outcome(DAY + 4 * H, 2.0, virtual=True, not_taken="cost_too_high"),
        outcome(DAY + 6 * H, -1.0, virtual=True, not_taken="cost_too_high"),
        outcome(DAY + 7 * H, 1.0, virtual=True, not_taken="symbol_already_open"),
    ])
    for ts, source, target, cause in [
        (DAY - 600_000, "NORMAL", "WARNING", "SERVER_5XX"),
        (DAY + H // 2, "WARNING", "NORMAL", "cooldown"),
        (DAY + 6 * H, "NORMAL", "THROTTLED", "RATE_LIMIT_429"),
        (DAY + 6 * H + H // 2, "THROTTLED", "WARNING", "cooldown"),
        (DAY + 7 * H, "WARNING", "NORMAL", "cooldown"),
        (DAY + D + 5, "NORMAL", "BLOCKED", "IP_BAN_418"),  # the next day
    ]:
        store.add_breaker_event(BreakerEvent(ts, source, target, cause))
    reports = ReportStore(path)
    reports.record_model(ModelRecord("3", DAY - D, validation_hit_rate=0.6,
                                     validation_expectancy_r=0.3, validation_samples=40))
    return store, reports


def reporter(store: SqliteStore, reports: ReportStore | None, out: Path, **kw: Any):
    # The wallet now is 10105: the next day's +100 is taken back out, so the day ended at
    # 10005 and began at 10000.
    gateway = FakeExchange({}, SimulatedClock(DAY), wallet=Decimal(10105))
    return DailyReporter(store, gateway, out, formats=ALL, report_store=reports, **kw)


def test_known_day_figures_by_hand(tmp_path: Path) -> None:
    store, reports = known_day(tmp_path / "state.db")
    stats = RuntimeStats(since_ms=DAY - 2 * H, ws_reconnects=3, stale_periods=2,
                         stale_ms=90_000, messages_dropped=7, rest_weight_used=1234)
    rep = reporter(store, reports, tmp_path / "out", runtime_stats=lambda: stats)
    path = asyncio.run(rep.report(DAY + D + 5))
    assert path == tmp_path / "out" / "2025-12-02.md"
    md = path.read_text()
    for line in [
        "# slt daily report 2025-12-02 (UTC)",
        "- trades closed: 4",
        "- win rate: 50.0%",
        "- net P&L: 5.0000 USDT (fees 2.2500)",
        # real outcomes -1, +2, -1, +0.5: mean 0.125
        "- expectancy: +0.125 R over 4 real outcomes",
        # 4 / (10000 opening wallet + 7 peak) = 0.03997 %
        "- max drawdown: 4.0000 USDT (0.04%)",
        "- best / worst trade: 10.0000 / -4.0000",
        "- wallet at day end: 10005.0000 USDT",
        "- open positions at report: 0",
        "![equity curve](2025-12-02.png)",
        "| BTCUSDT | 2 | 0 | 0.0% | -7.0000 | 1.0000 |",
        "| ETHUSDT | 2 | 2 | 100.0% | 12.0000 | 1.2500 |",
        "- stop_loss: 2 (net P&L -7.0000 USDT)",
        "- take_profit: 1 (net P&L 10.0000 USDT)",
        "- trailing_stop: 1 (net P&L 2.0000 USDT)",
        "| real | 4 | 50.0% | +0.125 R | +0.500 |",
        # virtual +2, -1, +1
        "| virtual | 3 | 66.7% | +0.667 R | +2.000 |",
        "| virtual, not taken: cost_too_high | 2 |  |  |  |",
        # version 3's own outcomes: -1, +2, +0.5
        "- live hit rate: 66.7% over 3 real outcomes (validation estimate 60.0%)",
        "- live expectancy: +0.500 R (validation estimate +0.300 R)",
        "- level at day start: WARNING",
        "- 2025-12-02 06:00:00 NORMAL -> THROTTLED (RATE_LIMIT_429)",
        "| NORMAL | 22h30m00s | 93.8% |",
        "| WARNING | 1h00m00s | 4.2% |",
        "| THROTTLED | 0h30m00s | 2.1% |",
        "| BLOCKED | 0h00m00s | 0.0% |",
        "- WebSocket reconnects: 3 (counted from 2025-12-01 22:00:00)",
        "- feed stale periods: 2 (total 0h01m30s)",
        "- market-data messages dropped: 7",
        "- REST weight used: 1234",
    ]:
        assert line in md.splitlines(), line
    assert "IP_BAN_418" not in md and "100.0000" not in md
    row = reports.report("2025-12-02")
    assert row is not None and row.complete and row.trades == 4 and row.wins == 2
    assert (row.net_pnl, row.fees, row.max_drawdown) == (Decimal(5), Decimal("2.25"), Decimal(4))
    assert row.expectancy_r == pytest.approx(0.125) and row.model_version == "3"
    assert row.summary["breaker"]["time_in_level_ms"] == {
        "NORMAL": 22 * H + H // 2, "WARNING": H, "THROTTLED": H // 2, "BLOCKED": 0}
    assert row.summary["max_drawdown_pct"] == pytest.approx(4 / 10007)


def test_runtime_counters_are_the_days_difference_and_na_without_provider(tmp_path: Path) -> None:
    store, reports = known_day(tmp_path / "state.db")
    readings = iter([RuntimeStats(DAY - 2 * H, ws_reconnects=3, rest_weight_used=100),
                     RuntimeStats(DAY - 2 * H, ws_reconnects=5, rest_weight_used=350)])
    rep = reporter(store, reports, tmp_path / "out", runtime_stats=lambda: next(readings))
    asyncio.run(rep.report(DAY + D))
    second = asyncio.run(rep.report(DAY + 2 * D)).read_text()
    assert "- WebSocket reconnects: 2" in second.splitlines()
    assert "- REST weight used: 250" in second.splitlines()
    assert "- feed stale periods: 0 (total n/a)" in second.splitlines()  # time not measured
    plain = DailyReporter(store, None, tmp_path / "plain").report_day(DAY, DAY + D)
    text = asyncio.run(plain).read_text()
    assert "- WebSocket reconnects: n/a" in text and "- wallet at day end: n/a" in text


def test_html_is_self_contained_and_embeds_the_png(tmp_path: Path) -> None:
    store, reports = known_day(tmp_path / "state.db")
    asyncio.run(reporter(store, reports, tmp_path / "out").report(DAY + D))
    page = (tmp_path / "out" / "2025-12-02.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded is not None
    rest = page.replace(embedded.group(1), "")
    assert not re.search(r"(https?:)?//|<script|<link|<iframe|@import|url\(", rest)
    assert re.findall(r'(?:src|href)="([^"]*)"', rest) == ["data:image/png;base64,"]
    png = base64.b64decode(embedded.group(1))
    assert png == (tmp_path / "out" / "2025-12-02.png").read_bytes()
    assert "<td>ETHUSDT</td><td>2</td><td>2</td><td>100.0%</td>" in page
    assert "NORMAL -&gt; THROTTLED (RATE_LIMIT_429)" in page


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(
            kind + body)
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_png_is_deterministic_and_carries_no_software_or_time(tmp_path: Path) -> None:
    points = [(DAY + H, Decimal(-3)), (DAY + 2 * H, Decimal(7)), (DAY + 3 * H, Decimal(3))]
    first = equity_png("2025-12-02", DAY, DAY + D, points)
    assert first == equity_png("2025-12-02", DAY, DAY + D, points)
    assert first != equity_png("2025-12-02", DAY, DAY + D, points[:2])
    kinds = [kind for kind, _ in png_chunks(first)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(kinds)
    width, height = struct.unpack(">II", png_chunks(first)[0][1][:8])
    assert (width, height) == (800, 320)


def test_two_runs_write_identical_files(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        store, reports = known_day(tmp_path / f"{name}.db")
        asyncio.run(reporter(store, reports, tmp_path / name).report(DAY + D))
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())})
    assert list(outputs[0]) == ["2025-12-02.html", "2025-12-02.md", "2025-12-02.png"]
    assert outputs[0] == outputs[1]


def test_catch_up_writes_each_missed_day_exactly_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    reports = ReportStore(tmp_path / "state.db")
    for k in range(5):  # activity on five days, from 2025-12-02
        store.add_trade(trade(k, "BTCUSDT", "LONG", DAY + k * D + H, "1", "0.1", "take_profit"))
    rep = DailyReporter(store, None, tmp_path / "out", report_store=reports)
    asyncio.run(rep.report(DAY + D))  # 2025-12-02 written while the bot ran
    now = DAY + 5 * D + 3 * H  # back up on 2025-12-07 at 03:00
    written = asyncio.run(rep.catch_up(now))
    assert [p.name for p in written] == [
        "2025-12-03.md", "2025-12-04.md", "2025-12-05.md", "2025-12-06.md"]
    assert asyncio.run(rep.catch_up(now)) == []
    assert asyncio.run(rep.catch_up(now + 2 * H)) == []  # still 2025-12-07
    assert [p.name for p in asyncio.run(rep.catch_up(now + D))] == ["2025-12-07.md"]
    assert reports.complete_days() == {f"2025-12-0{d}" for d in range(2, 8)}
    assert "- trades closed: 1" in (tmp_path / "out" / "2025-12-04.md").read_text()


def test_catch_up_is_bounded_and_starts_at_the_first_activity(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    reports = ReportStore(tmp_path / "state.db")
    rep = DailyReporter(store, None, tmp_path / "out", report_store=reports, catch_up_days=30)
    assert asyncio.run(rep.catch_up(DAY)) == []  # a new bot owes nothing
    store.add_breaker_event(BreakerEvent(DAY - 40 * D, "NORMAL", "WARNING", "TIMEOUT"))
    written = asyncio.run(rep.catch_up(DAY + H))
    assert len(written) == 30 and written[-1].name == "2025-12-01.md"
    # A simulation's partial day does not count as reported.
    partial = DailyReporter(store, None, tmp_path / "sim", report_store=reports)
    asyncio.run(partial.report_day(DAY, DAY + 5 * H))
    assert "2025-12-02" not in reports.complete_days()
    assert "only" in (tmp_path / "sim" / "2025-12-02.md").read_text().splitlines()[0]
    assert [p.name for p in asyncio.run(rep.catch_up(DAY + D))] == ["2025-12-02.md"]


def test_a_failing_listener_does_not_fail_the_report(tmp_path: Path) -> None:
    store, reports = known_day(tmp_path / "state.db")
    seen = []

    def listener(report: Any) -> None:
        seen.append(report.day)
        raise RuntimeError("boom")

    rep = reporter(store, reports, tmp_path / "out", on_report=listener)
    assert asyncio.run(rep.report(DAY + D)).exists()
    assert seen == ["2025-12-02"] and rep.written == [tmp_path / "out" / "2025-12-02.md"]
