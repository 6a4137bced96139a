"""The journal shows at INFO without -v; the log file takes everything at INFO and rotates."""

import logging
from pathlib import Path

import pytest

from slt.application.journal import LogFile, journal


@pytest.fixture
def console() -> logging.Handler:
    """A console handler as `slt` sets one up without -v (root at WARNING)."""
    root = logging.getLogger()
    saved = root.level
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"{record.name}: {record.getMessage()}")

    handler = Lines()
    handler.lines = lines  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved)


def test_the_journal_reaches_the_console_and_everything_the_file(
    console: logging.Handler, tmp_path: Path
) -> None:
    log_file = LogFile(tmp_path / "state" / "slt.log", 10_000, 2)
    log_file.open()
    try:
        journal.info("Opened LONG 0.01 BTCUSDT")
        logging.getLogger("slt.adapters.binance").info("reconnected")
        logging.getLogger("slt.application.live").warning("feed stale")
    finally:
        log_file.close()
    assert console.lines == [  # type: ignore[attr-defined]
        "slt.application.journal: Opened LONG 0.01 BTCUSDT", "slt.application.live: feed stale"]
    text = (tmp_path / "state" / "slt.log").read_text()
    assert "INFO slt.application.journal: Opened LONG" in text
    assert "INFO slt.adapters.binance: reconnected" in text
    # closed: the set-up it found is back
    assert logging.getLogger().level == logging.WARNING and not console.filters
    logging.getLogger("slt.adapters.binance").info("after")
    assert "after" not in (tmp_path / "state" / "slt.log").read_text()


def test_the_file_rotates_at_its_size_keeping_its_backups(
    console: logging.Handler, tmp_path: Path
) -> None:
    log_file = LogFile(tmp_path / "slt.log", 2_000, 2)
    log_file.open()
    try:
        for i in range(200):
            logging.getLogger("slt.application.trader").info("line %03d %s", i, "x" * 40)
    finally:
        log_file.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["slt.log", "slt.log.1", "slt.log.2"]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.iterdir())
    assert "line 199" in (tmp_path / "slt.log").read_text()


def test_without_a_file_only_the_journal_is_added(console: logging.Handler, tmp_path: Path) -> None:
    log_file = LogFile(tmp_path / "slt.log", 0, 0)
    log_file.open()
    try:
        journal.info("Closed LONG")
        logging.getLogger("slt.application.trader").info("noise")
    finally:
        log_file.close()
    assert console.lines == ["slt.application.journal: Closed LONG"]  # type: ignore[attr-defined]
    assert not (tmp_path / "slt.log").exists()
