"""`slt report`, `slt show-trades` and `slt show-config`: output, secrets and exit codes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.reporting.store import ReportStore
from slt.adapters.sqlite_store import SqliteStore
from slt.entrypoints.read_commands import run_report, run_show_config, run_show_trades
from slt.ports.store import TradeRecord

H = 3_600_000
D = 24 * H
DAY = int(datetime(2025, 12, 2, tzinfo=UTC).timestamp() * 1000)
Capsys = pytest.CaptureFixture[str]


def trade(pid: int, symbol: str, close_ms: int, pnl: str) -> TradeRecord:
    return TradeRecord(pid, symbol, "LONG", Decimal("0.5"), Decimal(100), Decimal(102),
                       Decimal("0.1"), Decimal(pnl), close_ms - H, close_ms, "take_profit")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        store.add_trade(trade(1, "BTCUSDT", DAY + H, "3.5"))
        store.add_trade(trade(2, "ETHUSDT", DAY + 2 * H, "-1.25"))
        store.add_trade(trade(3, "BTCUSDT", DAY + D + H, "2"))
    return path


def test_show_trades_json_and_filters(db: Path, capsys: Capsys) -> None:
    assert run_show_trades(["--db", str(db), "--json"]) == 0
    trades = json.loads(capsys.readouterr().out)
    assert [t["position_id"] for t in trades] == [1, 2, 3]
    assert trades[0] == {
        "position_id": 1, "symbol": "BTCUSDT", "side": "LONG", "qty": "0.5",
        "entry_price": "100", "exit_price": "102", "fees": "0.1", "pnl": "3.5",
        "open_ms": DAY, "close_ms": DAY + H, "open_time": "2025-12-02 00:00:00",
        "close_time": "2025-12-02 01:00:00", "exit_reason": "take_profit"}
    assert run_show_trades(["--db", str(db), "--json", "--symbol", "btcusdt"]) == 0
    assert [t["position_id"] for t in json.loads(capsys.readouterr().out)] == [1, 3]
    assert run_show_trades(["--db", str(db), "--json", "--since", "2025-12-03"]) == 0
    assert [t["position_id"] for t in json.loads(capsys.readouterr().out)] == [3]
    assert run_show_trades(["--db", str(db), "--json", "--limit", "2"]) == 0
    assert [t["position_id"] for t in json.loads(capsys.readouterr().out)] == [2, 3]


def test_show_trades_table(db: Path, capsys: Capsys) -> None:
    assert run_show_trades(["--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["closed", "(UTC)", "symbol", "side", "qty", "entry", "exit",
                                "fees", "net", "P&L", "reason", "id"]
    assert lines[2].split() == ["2025-12-02", "02:00:00", "ETHUSDT", "LONG", "0.5", "100",
                                "102", "0.1000", "-1.2500", "take_profit", "2"]
    assert lines[-1] == "3 trades, 2 wins (66.7%), net P&L 4.2500 USDT"


def test_exit_codes(tmp_path: Path, db: Path, capsys: Capsys) -> None:
    assert run_show_trades(["--help"]) == 0
    assert "2  usage or configuration error" in capsys.readouterr().out
    assert run_show_trades(["--db", str(tmp_path / "none.db")]) == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # a typo creates no empty database
    assert run_show_trades(["--bogus"]) == 2
    assert run_show_trades(["--db", str(db), "--limit", "-1"]) == 2
    assert run_report(["--db", str(db), "--date", "2025-13-01"]) == 2
    assert "not a date" in capsys.readouterr().err
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    assert run_show_trades(["--db", str(garbage)]) == 2
    assert run_report(["--db", str(garbage), "--date", "2025-12-02"]) == 2
    assert "not an SQLite database" in capsys.readouterr().err


def test_empty_or_foreign_database_is_refused_and_left_untouched(
    tmp_path: Path, capsys: Capsys
) -> None:
    empty = tmp_path / "state.db"
    empty.touch()
    assert run_show_trades(["--db", str(empty)]) == 2
    assert "empty file, not an slt database" in capsys.readouterr().err
    assert empty.stat().st_size == 0  # opening it would have written the store's schema
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    assert run_report(["--db", str(foreign), "--date", "2025-12-02"]) == 2
    assert "not an slt store (no trades table)" in capsys.readouterr().err
    with sqlite3.connect(foreign) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"notes"}


def test_show_trades_on_a_store_without_trades(tmp_path: Path, capsys: Capsys) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    assert run_show_trades(["--db", str(path)]) == 0
    assert capsys.readouterr().out == "no closed trades\n"
    assert run_show_trades(["--db", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_report_regenerates_a_day(db: Path, tmp_path: Path, capsys: Capsys) -> None:
    out = tmp_path / "out"
    code = run_report(["--db", str(db), "--date", "2025-12-02", "--out", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == {"md": str(out / "2025-12-02.md"),
                               "html": str(out / "2025-12-02.html"),
                               "png": str(out / "2025-12-02.png")}
    assert (result["report"]["trades"], result["report"]["net_pnl"]) == (2, "2.25")
    assert all(Path(p).is_file() for p in result["files"].values())
    row = ReportStore(db).report("2025-12-02")
    assert row is not None and row.complete and row.net_pnl == Decimal("2.25")


def test_report_defaults_to_yesterday_beside_the_database(db: Path, capsys: Capsys) -> None:
    clock = SimulatedClock(DAY + D + 5 * H)  # 2025-12-03 05:00
    assert run_report(["--db", str(db), "--format", "md"], clock=clock) == 0
    text = capsys.readouterr().out
    assert text.startswith("slt daily report 2025-12-02 (UTC)")
    assert "  net P&L: 2.2500 USDT (fees 0.2000)" in text.splitlines()
    assert (db.parent / "reports" / "2025-12-02.md").is_file()
    assert not (db.parent / "reports" / "2025-12-02.html").exists()
    # today: the day so far, not a whole day; tomorrow: refused
    assert run_report(["--db", str(db), "--date", "2025-12-03"], clock=clock) == 0
    assert "00:00 to 05:00 only" in (db.parent / "reports" / "2025-12-03.md").read_text()
    assert not ReportStore(db).report("2025-12-03").complete  # type: ignore[union-attr]
    assert run_report(["--db", str(db), "--date", "2025-12-04"], clock=clock) == 2


def test_regenerating_keeps_what_the_day_end_measured(db: Path, tmp_path: Path) -> None:
    """A live report row knows the wallet at 00:00; regenerating later keeps it and the row."""
    reports = ReportStore(db)
    run_report(["--db", str(db), "--date", "2025-12-02", "--out", str(tmp_path / "a")])
    row = reports.report("2025-12-02")
    assert row is not None
    summary = dict(row.summary, wallet_end="10002.25", open_positions=1)
    reports.save_report(type(row)(**{**_fields(row), "summary": summary, "written_ms": 7}))
    assert run_report(["--db", str(db), "--date", "2025-12-02", "--out", str(tmp_path / "b")]) == 0
    text = (tmp_path / "b" / "2025-12-02.md").read_text().splitlines()
    assert "- wallet at day end: 10002.2500 USDT" in text
    assert "- open positions at report: 1" in text
    assert reports.report("2025-12-02").written_ms == 7  # type: ignore[union-attr]


def _fields(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}  # type: ignore[attr-defined]


SECRET_ENV = {
    "BINANCE_API_KEY": "binance-KEY-secret",
    "BINANCE_API_SECRET": "binance-SECRET-value",
    "SLT_TELEGRAM_TOKEN": "123:telegram-SECRET",
    "SLT_TELEGRAM_CHAT_ID": "-100555",
    "SLT_DISCORD_WEBHOOK_URL": "https://discord.example/api/webhooks/1/hook-SECRET",
    "SLT_STATUS_TOKEN": "status-SECRET-token-123456",
}


def test_show_config_hides_secrets_unless_asked(capsys: Capsys) -> None:
    assert run_show_config([], env=SECRET_ENV) == 0
    text = capsys.readouterr().out
    assert "SECRET" not in text and "binance-KEY" not in text
    assert "binance.api_key = <hidden>" in text.splitlines()
    assert "SLT_TELEGRAM_CHAT_ID = -100555" in text.splitlines()
    assert 'mode = "simulate"' in text.splitlines()
    assert run_show_config(["--json"], env=SECRET_ENV) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "SECRET" not in json.dumps(doc)
    assert doc["settings"]["risk"]["max_leverage"] == 5
    assert doc["secrets"]["SLT_DISCORD_WEBHOOK_URL"] == "<hidden>"
    assert run_show_config(["--json"], env={}) == 0
    assert json.loads(capsys.readouterr().out)["secrets"]["binance"]["api_key"] == "<not set>"
    assert run_show_config(["--json", "--show-secrets"], env=SECRET_ENV) == 0
    shown = json.loads(capsys.readouterr().out)["secrets"]
    assert shown["binance"]["api_secret"] == "binance-SECRET-value"
    assert shown["SLT_TELEGRAM_TOKEN"] == "123:telegram-SECRET"


def test_show_config_layers_files_then_environment(tmp_path: Path, capsys: Capsys) -> None:
    base = tmp_path / "base.toml"
    base.write_text('interval = "5m"\n[risk]\nmax_leverage = 3\nrisk_per_trade = 0.02\n'
                    '[live]\nrest_url = "https://base.example"\n')
    site = tmp_path / "site.toml"
    site.write_text('[risk]\nmax_leverage = 4\n[live]\nrest_url = "https://site.example"\n')
    env = {"SLT_BINANCE_REST_URL": "http://127.0.0.1:9000"}
    assert run_show_config(["--config", str(base), "--config", str(site), "--json"], env=env) == 0
    doc = json.loads(capsys.readouterr().out)
    assert run_show_config(["--json", "--config", str(base), str(site)], env=env) == 0
    assert json.loads(capsys.readouterr().out) == doc
    s = doc["settings"]
    assert (s["interval"], s["risk"]["max_leverage"], s["risk"]["risk_per_trade"]) == (
        "5m", 4, "0.02")
    assert s["live"]["rest_url"] == "http://127.0.0.1:9000"  # the environment wins
    assert doc["sources"] == {"config_files": [str(base), str(site)],
                              "environment": ["SLT_BINANCE_REST_URL"]}


def test_show_config_errors_name_the_key(tmp_path: Path, capsys: Capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nmax_levrage = 5\n")
    assert run_show_config(["--config", str(bad)], env={}) == 2
    assert "risk.max_levrage: unknown setting" in capsys.readouterr().err
    ok = tmp_path / "ok.toml"
    ok.write_text("")
    assert run_show_config(["--config", str(ok), "--config", str(bad)], env={}) == 2
    assert "risk.max_levrage" in capsys.readouterr().err
    key_file = tmp_path / "keys.toml"
    key_file.write_text('api_key = "file-KEY"\napi_secret = "file-SECRET"\n')
    key_file.chmod(0o644)
    assert run_show_config(["--key-file", str(key_file)], env={}) == 2
    assert "chmod 600" in capsys.readouterr().err
    key_file.chmod(0o600)
    assert run_show_config(["--key-file", str(key_file), "--json"], env={}) == 0
    out = capsys.readouterr().out
    assert "SECRET" not in out and json.loads(out)["secrets"]["binance"]["source"].startswith(
        "key file")


def test_report_without_date_after_a_simulation_reports_the_stores_last_day(
    db: Path, capsys: Capsys
) -> None:
    clock = SimulatedClock(DAY + 365 * D)  # a year after the simulated days
    assert run_report(["--db", str(db), "--format", "md"], clock=clock) == 0
    assert capsys.readouterr().out.startswith("slt daily report 2025-12-03 (UTC)")
    assert "- trades closed: 1" in (db.parent / "reports" / "2025-12-03.md").read_text()


def test_report_accepts_today_and_yesterday(db: Path, capsys: Capsys) -> None:
    clock = SimulatedClock(DAY + D + 5 * H)  # 2025-12-03 05:00
    assert run_report(["--db", str(db), "--date", "today", "--format", "md"], clock=clock) == 0
    assert capsys.readouterr().out.startswith("slt daily report 2025-12-03 (UTC)")
    assert run_report(["--db", str(db), "--date", "yesterday", "--format", "md"], clock=clock) == 0
    assert capsys.readouterr().out.startswith("slt daily report 2025-12-02 (UTC)")
    assert run_report(["--db", str(db), "--date", "tomorrow"], clock=clock) == 2
    assert "not a date" in capsys.readouterr().err
