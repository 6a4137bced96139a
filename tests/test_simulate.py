"""`slt simulate` end to end on the bundled real data."""

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from slt.application.scheduler import UnifiedScheduler
from slt.entrypoints.cli import main

TWO_DAYS = ["--start", "2025-12-01T00:00", "--end", "2025-12-03T00:00"]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # These tests are about the trading machinery: with the permission layer on, two days of
    # the bundled data earn no family the right to trade (tests/test_trader_gating.py).
    monkeypatch.setenv("SLT__LEARNER__PERMISSION", "false")

    def go(name: str, *args: str) -> tuple[Path, dict]:
        out = tmp_path / name
        assert main(["simulate", "--out", str(out), "--json", *args]) == 0
        return out, json.loads(capsys.readouterr().out)

    return go


def test_two_days_run_every_loop_and_write_two_daily_reports(run) -> None:  # type: ignore[no-untyped-def]
    out, summary = run("a", *TWO_DAYS)
    cycles = summary["cycles"]
    assert cycles["daily_report"] == 2
    # Idle slots are skipped: a trading cycle at least at every 5-minute bar close, never
    # more than once a minute; virtual cycles only when a followed symbol was quoted.
    assert 2 * 288 <= cycles["trading"] < 2880
    assert 0 < cycles["virtual"] < 17280
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["2025-12-01.md", "2025-12-02.md"]
    # 5 symbols x 2 days x 288 five-minute bars x 4 quotes per bar
    assert summary["quotes"] == 5 * 2 * 288 * 4
    report = (out / "reports" / "2025-12-01.md").read_text()
    assert report.startswith("# slt daily report 2025-12-01 (UTC)")


def test_same_inputs_and_seed_give_a_byte_identical_trades_csv(run) -> None:  # type: ignore[no-untyped-def]
    out1, first = run("a", *TWO_DAYS, "--seed", "3")
    out2, second = run("b", *TWO_DAYS, "--seed", "3")
    assert first["trades"] > 0
    assert (out1 / "trades.csv").read_bytes() == (out2 / "trades.csv").read_bytes()
    assert first["fingerprint"] == second["fingerprint"]


def test_skipping_idle_cycles_changes_no_trade(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The reference: every 10 s and 60 s slot wakes its cycle, as before jobs said when they
    are due. Skipping the idle ones must give the same bytes."""
    out1, skipping = run("a", *TWO_DAYS, "--seed", "3")
    monkeypatch.setattr(UnifiedScheduler, "skip_idle", False)
    out2, every_slot = run("b", *TWO_DAYS, "--seed", "3")
    assert every_slot["cycles"] == {"trading": 2880, "virtual": 17280, "daily_report": 2}
    assert skipping["cycles"]["virtual"] < every_slot["cycles"]["virtual"]
    assert skipping["trades"] > 0
    assert (out1 / "trades.csv").read_bytes() == (out2 / "trades.csv").read_bytes()
    assert skipping["virtual_samples"] == every_slot["virtual_samples"]
    assert skipping["candidates"] == every_slot["candidates"]


def test_real_data_positions_close_by_stop_loss_and_take_profit(run) -> None:  # type: ignore[no-untyped-def]
    out, summary = run("a", "--start", "2025-12-01", "--end", "2025-12-11")
    with (out / "trades.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["open_time", "close_time", "symbol", "side", "qty", "entry_price",
                             "exit_price", "fees", "pnl", "exit_reason"]
    reasons = {r["exit_reason"] for r in rows}
    assert {"stop_loss", "take_profit"} <= reasons
    assert summary["trades"] == len(rows)
    for r in rows:
        assert r["open_time"] < r["close_time"]
        assert float(r["fees"]) > 0
    # a long stopped out sold below its entry, a short above
    for r in rows:
        if r["exit_reason"] == "stop_loss":
            below = float(r["exit_price"]) < float(r["entry_price"])
            assert below == (r["side"] == "LONG")
    db = sqlite3.connect(out / "state.db")
    assert db.execute("select count(*) from trades").fetchone()[0] == len(rows)
    assert db.execute("select count(*) from fills").fetchone()[0] >= 2 * len(rows)
    assert db.execute("select count(*) from samples").fetchone()[0] > 0
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_bad_setting_stops_start_up_naming_the_key(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "slt.toml"
    config.write_text("[risk]\nmax_leverage = 500\n")
    assert main(["simulate", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "risk.max_leverage" in capsys.readouterr().err
    config.write_text("[risk]\nmax_levrage = 5\n")
    assert main(["simulate", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "risk.max_levrage: unknown setting" in capsys.readouterr().err


def test_malformed_data_stops_with_file_and_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "quotes.csv"
    data.write_text("ts_ms,bid_price,bid_qty,ask_price,ask_qty\n"
                    "1764460800000,100.0,1,100.1,1\n"
                    "1764460800100,abc,1,100.1,1\n")
    assert main(["simulate", "--data", f"BTCUSDT={data}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "line 3" in err


def test_quotes_file_with_crossed_quotes_is_replayed_and_counted(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "quotes.csv"
    rows = ["symbol,ts_ms,bid_price,bid_qty,ask_price,ask_qty"]
    for k in range(600):
        bid = 100 + (k % 50) * 0.1
        rows.append(f"ETHUSDT,{1764460800000 + k * 1000},{bid:.2f},1,{bid + 0.01:.2f},1")
    rows.append(f"ETHUSDT,{1764460800000 + 600_000},101.00,1,100.00,1")  # crossed
    data.write_text("\n".join(rows) + "\n")
    _, summary = run("q", "--data", str(data))
    assert summary["quotes"] == 600
    assert summary["crossed_skipped"] == 1


def test_each_trained_model_is_recorded_for_the_reports(run) -> None:  # type: ignore[no-untyped-def]
    out, _ = run("a", "--start", "2025-12-01", "--end", "2025-12-21")
    cards = sorted((out / "models").glob("model-*.json"))
    assert cards, "20 days of outcomes train at least one model"
    db = sqlite3.connect(out / "state.db")
    rows = db.execute("select version, live from model_versions order by version").fetchall()
    assert [str(v) for v, _ in rows] == [str(i + 1) for i in range(len(cards))]
