"""OperatorSession on a simulation's components: trades and stops reach the journal (shown
without -v) and the notifiers, and shutdown is told and flushed."""

import asyncio
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from slt.application.notify import Notifications
from slt.config import load_settings
from slt.container import build_container
from slt.data import bundled_filters
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction
from slt.entrypoints.live_operator import OperatorSession
from slt.ports.notifier import Notifier

from factories import quote

START_MS = 1_764_547_200_000


class Recorder(Notifier):
    name = "recorder"

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send(self, text: str) -> None:
        self.texts.append(text)


def test_trades_stops_and_shutdown_reach_the_journal_and_the_notifiers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(overrides={"live.state_dir": str(tmp_path / "state")})
    container = build_container(settings, bundled_filters(), START_MS, tmp_path)
    clock, exchange, controller = container.clock(), container.exchange(), container.controller()
    recorder = Recorder()

    async def go() -> None:
        notifications = Notifications.for_notifiers([recorder], clock)
        notifications.start()
        operator = OperatorSession(container, notifications, None)
        operator.started(["BTCUSDT"])
        exchange.on_quote(quote(90_000.0, 90_000.1, START_MS))
        p = await controller.open_position(
            Candidate("BTCUSDT", Direction.LONG, START_MS, 90_000.0, 500.0, 2.0, 0.0),
            Sizing(Decimal("0.01"), Decimal(900), 3, Decimal(5)),
            Decimal("90000.1"),
        )
        await clock.settle()
        clock.advance(START_MS + 1_000)
        q = quote(91_100.0, 91_100.1, START_MS + 1_000)
        exchange.on_quote(q)
        controller.on_quote(q)  # the take-profit
        await clock.settle()
        assert p.status == "closed"
        await operator.close()

    root = logging.getLogger()
    saved, root.level = root.level, logging.WARNING  # as `slt live` without -v
    try:
        asyncio.run(go())
    finally:
        root.setLevel(saved)
    journal = [r.getMessage() for r in caplog.records if r.name == "slt.application.journal"]
    console = [r for r in caplog.records if r.name != "slt.application.journal"]
    assert all(r.levelno >= logging.WARNING for r in console)  # -v's INFO stays off
    assert [line.split(" ")[0] for line in journal] == [
        "slt", "Opened", "Stop", "Closed", "slt", "slt"]
    assert "Closed LONG 0.01 BTCUSDT @ 91100.0 (take_profit): +" in journal[3]
    assert recorder.texts == journal[:-1]  # all but "slt stopped", sent before closing
    assert "slt stopped (simulate)" in (tmp_path / "state" / "slt.log").read_text()
