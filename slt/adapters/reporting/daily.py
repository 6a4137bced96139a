"""Daily report, written at 00:00 UTC for the day that just ended.

Files in `out_dir`, per day: `YYYY-MM-DD.md`, and with the "html"/"png" formats
`YYYY-MM-DD.html` (self-contained, the chart embedded) and `YYYY-MM-DD.png` (the chart the
Markdown links to). With a ReportStore each report also leaves a row in the `reports` table,
which is how `catch_up` knows which days a stopped bot still owes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from slt.adapters.reporting.chart import equity_png
from slt.adapters.reporting.render import html_page, markdown
from slt.adapters.reporting.store import ReportRow, ReportStore
from slt.application.reporting.analysis import ZERO, DayReport, build_day_report, day_name
from slt.application.reporting.runtime import RuntimeStats, RuntimeStatsProvider, RuntimeWindow
from slt.domain.values import DAY_MS
from slt.ports.order_gateway import GatewayError, OrderGateway
from slt.ports.store import BreakerEvent, Store

log = logging.getLogger(__name__)

FORMATS = frozenset({"md", "html", "png"})
ReportListener = Callable[[DayReport], None]
# (the store, the day's end) -> each candidate family's permission, one line; reads only the
# families' recent outcomes (Store.recent_outcomes), so a report's cost does not grow with history
PermissionLines = Callable[[Store, int], Sequence[str]]


@dataclass(frozen=True, slots=True)
class WrittenReport:
    report: DayReport
    markdown: Path | None
    html: Path | None
    png: Path | None


class DailyReporter:
    """Reports from the store; `gateway` (optional) adds the wallet and open positions.

    `formats`: any of "md", "html", "png". `runtime_stats` reads the live components'
    connection counters; without it (simulation) those lines say "n/a". `on_report` is called
    with each report written (e.g. to send its summary as a notification); an error there is
    logged and does not fail the report.
    """

    def __init__(
        self,
        store: Store,
        gateway: OrderGateway | None,
        out_dir: Path,
        *,
        formats: Collection[str] = ("md",),
        report_store: ReportStore | None = None,
        runtime_stats: RuntimeStatsProvider | None = None,
        on_report: ReportListener | None = None,
        catch_up_days: int = 30,
        permissions: PermissionLines | None = None,
    ) -> None:
        unknown = set(formats) - FORMATS
        if unknown or not formats:
            raise ValueError(f"report formats must be some of {sorted(FORMATS)}, got {formats}")
        self._store = store
        self._gateway = gateway
        self._dir = out_dir
        self._formats = frozenset(formats)
        self._reports = report_store
        self._runtime = runtime_stats
        self._on_report = on_report
        self._catch_up_days = catch_up_days
        self._permissions = permissions
        # (when read, reading): the runtime counters at the previous report of this process
        self._last_reading: tuple[int, RuntimeStats] | None = None
        self.written: list[Path] = []  # the Markdown (else first) file of each report
        self.last: WrittenReport | None = None

    async def report(self, now_ms: int) -> Path:
        """Write the report of the UTC day that ended at the last midnight (the scheduler's
        job: it runs at 00:00, so the wallet, open positions and counters are the day's)."""
        day_end = now_ms - now_ms % DAY_MS
        return await self._write(day_end - DAY_MS, day_end, now_ms, at_day_end=True)

    async def report_day(self, day_start: int, day_end: int) -> Path:
        """Write the report of [day_start, day_end): a whole day, or the part of one that a
        simulation covered."""
        return await self._write(day_start, day_end, day_end, at_day_end=True)

    async def regenerate(self, day_start: int, now_ms: int) -> Path:
        """Write a past day's report again from the store. What only the day's end could
        measure (wallet, open positions, connection counters) is taken from the day's report
        row when there is one, and a complete row is left as it was."""
        return await self._write(day_start, day_start + DAY_MS, now_ms, at_day_end=False)

    async def catch_up(self, now_ms: int) -> list[Path]:
        """Write every whole day of the last `catch_up_days` that has no report row yet,
        starting from the first reported day (or the first activity in the store); call it at
        start-up so the days the bot was down are reported. Needs a ReportStore."""
        if self._reports is None:
            return []
        today = now_ms - now_ms % DAY_MS
        anchor = _day_ms(self._reports.first_complete_day()) or self._store.first_activity_ms()
        if anchor is None:
            return []
        start = max(today - self._catch_up_days * DAY_MS, anchor - anchor % DAY_MS)
        done = self._reports.complete_days()
        paths = []
        for day_start in range(start, today, DAY_MS):
            if day_name(day_start) not in done:
                paths.append(await self.regenerate(day_start, now_ms))
        return paths

    # --- the work ---

    async def _write(self, day_start: int, day_end: int, now_ms: int, *, at_day_end: bool) -> Path:
        stored = None
        if self._reports is not None and not at_day_end:
            stored = self._reports.report(day_name(day_start))
        report = await self._build(
            day_start,
            day_end,
            now_ms,
            at_day_end=at_day_end,
            measured=stored.summary if stored is not None and stored.complete else None,
        )
        # Drawing the chart takes a tenth of a second or more: off the event loop, which has
        # positions to watch. Store reads and writes stay on the loop's thread.
        written = await asyncio.to_thread(self._write_files, report)
        if self._reports is not None and (stored is None or not stored.complete):
            self._reports.save_report(_row(written, now_ms))
        path = written.markdown or written.html or written.png
        assert path is not None  # formats is never empty
        self.written.append(path)
        self.last = written
        if self._on_report is not None:
            try:
                self._on_report(report)
            except Exception:
                log.exception("report listener failed for %s", report.day)
        return path

    async def _build(
        self,
        day_start: int,
        day_end: int,
        now_ms: int,
        *,
        at_day_end: bool,
        measured: dict[str, Any] | None = None,
    ) -> DayReport:
        """`measured`: a stored summary of the day, whose day-end figures are kept."""
        # Only the day's rows (and, for the wallet, the trades closed since): a report costs
        # the same however long the bot has run.
        trades = self._store.trades_closed_between(day_start, day_end)
        wallet_end: Decimal | None = None
        open_positions: int | None = None
        runtime = self._read_runtime(now_ms) if at_day_end else None
        if measured is not None:
            wallet = measured.get("wallet_end")
            wallet_end = None if wallet is None else Decimal(wallet)
            open_positions = measured.get("open_positions")
            saved = measured.get("runtime")
            runtime = None if saved is None else _runtime_window(saved)
        if self._gateway is not None and wallet_end is None:
            try:
                balance = await self._gateway.balance()
                positions = await self._gateway.positions() if at_day_end else None
            except GatewayError as exc:
                log.warning("report %s without wallet figures: %s", day_name(day_start), exc)
            else:
                # Back from today's wallet to the day's end through the P&L realised since.
                later = sum((t.pnl for t in self._store.trades_closed_between(day_end)), ZERO)
                wallet_end = balance.wallet - later
                if positions is not None:
                    open_positions = len(positions)
        model = self._reports.model_at(day_end - 1) if self._reports is not None else None
        permissions = (
            () if self._permissions is None
            else self._permissions(self._store, day_end)
        )
        return build_day_report(
            day_start,
            day_end,
            trades=trades,
            breaker_events=self._breaker_events(day_start, day_end),
            samples=self._store.outcomes_ended_between(day_start, day_end),
            permissions=tuple(permissions),
            wallet_end=wallet_end,
            open_positions=open_positions,
            model=model,
            runtime=runtime,
            ledger=self._store.ledger(day_start),
        )

    def _read_runtime(self, now_ms: int) -> RuntimeWindow | None:
        if self._runtime is None:
            return None
        try:
            reading = self._runtime()
        except Exception:
            log.exception("runtime counters unavailable")
            return None
        previous = self._last_reading
        self._last_reading = (now_ms, reading)
        if previous is not None and previous[1].since_ms == reading.since_ms:
            return RuntimeWindow(previous[0], reading.minus(previous[1]))
        return RuntimeWindow(reading.since_ms, reading)

    def _write_files(self, report: DayReport) -> WrittenReport:
        self._dir.mkdir(parents=True, exist_ok=True)
        stem = self._dir / report.day
        wants_chart = bool(self._formats & {"html", "png"})
        chart = (
            equity_png(report.day, report.day_start_ms, report.day_end_ms, report.equity_points)
            if wants_chart
            else None
        )
        png = md = page = None
        if "png" in self._formats and chart is not None:
            png = _replace(stem.with_suffix(".png"), chart)
        if "md" in self._formats:
            text = markdown(report, png.name if png else None)
            md = _replace(stem.with_suffix(".md"), text.encode())
        if "html" in self._formats:
            page = _replace(stem.with_suffix(".html"), html_page(report, chart).encode())
        return WrittenReport(report, md, page, png)

    def _breaker_events(self, day_start: int, day_end: int) -> list[BreakerEvent]:
        """The day's level changes, after the last one before it (the level at 00:00)."""
        before = self._store.breaker_event_before(day_start)
        within = self._store.breaker_events(day_start, day_end)
        return within if before is None else [before, *within]


def _replace(path: Path, data: bytes) -> Path:
    """Write through a temporary file, so a crash mid-write never leaves half a report (a
    regenerated report replaces the old one only once it is whole)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path


def _runtime_window(saved: dict[str, Any]) -> RuntimeWindow:
    counts = {k: v for k, v in saved.items() if k != "counted_from_ms"}
    return RuntimeWindow(saved["counted_from_ms"], RuntimeStats(since_ms=0, **counts))


def _day_ms(day: str | None) -> int | None:
    if day is None:
        return None
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


def _row(written: WrittenReport, now_ms: int) -> ReportRow:
    r = written.report
    return ReportRow(
        day=r.day,
        day_start_ms=r.day_start_ms,
        day_end_ms=r.day_end_ms,
        complete=r.complete,
        written_ms=now_ms,
        trades=r.count,
        wins=r.wins,
        net_pnl=r.net_pnl,
        fees=r.fees,
        max_drawdown=r.max_drawdown,
        expectancy_r=r.expectancy_r,
        model_version=None if r.model is None else r.model.version,
        markdown_path=None if written.markdown is None else str(written.markdown),
        html_path=None if written.html is None else str(written.html),
        summary=r.to_dict(),
    )
