"""The command line answers bad input with a message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest

from slt.adapters.out_dir import LOCK_NAME, claimed_out_dir
from slt.adapters.sqlite_store import SqliteStore
from slt.entrypoints import cli
from slt.entrypoints.cli import main
from slt.ports.store import TradeRecord

Capsys = pytest.CaptureFixture[str]
ONE_DAY = ["--start", "2025-12-01T00:00", "--end", "2025-12-02T00:00"]
HOLD_LOCK = """
import sys
from pathlib import Path
from slt.adapters.out_dir import claimed_out_dir
with claimed_out_dir(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_version(capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"slt {version('slt')}\n"


def test_missing_data_file_is_named(tmp_path: Path, capsys: Capsys) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["simulate", "--data", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"slt simulate: {missing}: no such file\n"


@pytest.mark.parametrize(
    ("out", "message"),
    [("file", "exists and is not a folder"), ("file/below", "cannot write there")],
)
def test_unusable_out_folder_is_refused(
    tmp_path: Path, capsys: Capsys, out: str, message: str
) -> None:
    (tmp_path / "file").write_text("mine")
    assert main(["simulate", "--out", str(tmp_path / out), *ONE_DAY]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"slt simulate: --out {tmp_path / out}: {message}"), err
    assert (tmp_path / "file").read_text() == "mine"


def test_a_second_run_into_a_locked_folder_names_the_other_pid(
    tmp_path: Path, capsys: Capsys
) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert main(["simulate", "--out", str(out), *ONE_DAY]) == 2
        err = capsys.readouterr().err
        assert f"another run (pid {holder.pid}) is writing there" in err
        assert not (out / "state.db").exists()
    finally:
        holder.communicate("")  # closing stdin lets the holder leave and release the lock
    assert holder.returncode == 0
    with claimed_out_dir(out):  # free again once the other process is gone
        assert (out / LOCK_NAME).read_text() == f"{os.getpid()}\n"


def test_rerun_removes_only_the_previous_runs_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = ["state.db", "state.db-wal", "trades.csv", "report.html", "report.md",
           "reports/2025-12-01.md", "reports/2025-12-01.png", "models/model-0001.pkl",
           "models/model-0001.json", "models/registry.json"]
    mine = ["notes.txt", "reports/my-notes.md", "state.db.backup"]
    for name in old + mine:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(name)
    with claimed_out_dir(out):
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == sorted([LOCK_NAME, *mine])
    assert not (out / "models").exists()  # emptied, so removed


def test_keep_models_keeps_the_learners_registry(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    (out / "models" / "registry.json").write_text("{}")
    (out / "trades.csv").write_text("old")
    with claimed_out_dir(out, keep_models=True):
        assert (out / "models" / "registry.json").is_file()
        assert not (out / "trades.csv").exists()


def test_rerunning_a_simulation_leaves_only_the_new_runs_reports(
    tmp_path: Path, capsys: Capsys
) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), *ONE_DAY]) == 0
    assert main(["simulate", "--out", str(out), "--start", "2025-12-05T00:00", "--end",
                 "2025-12-06T00:00"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["2025-12-05.md"]
    with SqliteStore(out / "state.db") as store:
        assert all(t.open_ms >= 1764892800000 for t in store.trades())  # 2025-12-05


def test_piped_into_head_exits_quietly(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with SqliteStore(db) as store:
        for pid in range(1, 3001):  # far more output than a pipe buffers
            store.add_trade(TradeRecord(pid, "BTCUSDT", "LONG", Decimal("0.01"),
                                        Decimal(90000), Decimal(90100), Decimal("0.9"),
                                        Decimal("0.1"), pid * 1000, pid * 1000 + 500, "x"))
    slt = Path(sys.executable).with_name("slt")
    proc = subprocess.Popen(
        [str(slt), "show-trades", "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"closed (UTC)")
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read()
    assert proc.wait() == 0
    assert err == b""


def test_ctrl_c_ends_with_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_main", interrupted)
    assert cli.main(["simulate"]) == 130
    assert capsys.readouterr().err == "slt: interrupted\n"


def test_a_live_bots_state_folder_is_never_cleared(tmp_path: Path, capsys: Capsys) -> None:
    state = tmp_path / "slt-state"
    (state / "reports").mkdir(parents=True)
    (state / "paper.db").write_bytes(b"")
    (state / "reports" / "2025-12-01.md").write_text("the bot's report")
    assert main(["simulate", "--out", str(state), *ONE_DAY]) == 2
    assert "holds a bot's state (paper.db)" in capsys.readouterr().err
    assert (state / "reports" / "2025-12-01.md").read_text() == "the bot's report"
