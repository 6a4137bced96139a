"""`slt download` against a fake archive served on 127.0.0.1, and replaying what it fetched."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from slt.adapters.replay import DataSource, FundingRates, ReplayError, open_replay
from slt.entrypoints.cli import main

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FIVE_MIN = 300_000
KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)


def kline_rows(bars: int, price: float, header: bool) -> str:
    rows = [KLINES_HEADER] if header else []
    for i in range(bars):
        t = T0 + i * FIVE_MIN
        o = price + (i % 7)
        c = o + (1 if i % 2 else -1)
        rows.append(f"{t},{o},{max(o, c) + 2},{min(o, c) - 2},{c},10,{t + FIVE_MIN - 1},0,5,4,0,0")
    return "\n".join(rows) + "\n"


def zipped(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, text)
    return buf.getvalue()


class Archive:
    """The files the fake archive serves, by path, and what it did."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.corrupt: set[str] = set()
        self.throttle = False
        self.requests: list[tuple[str, str | None]] = []

    def add(self, path: str, data: bytes) -> None:
        name = path.rsplit("/", 1)[1]
        self.files[path] = data
        digest = hashlib.sha256(data).hexdigest()
        self.files[path + ".CHECKSUM"] = f"{digest}  {name}\n".encode()


@pytest.fixture
def archive() -> Iterator[tuple[Archive, str]]:
    state = Archive()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            state.requests.append((path, self.headers.get("Range")))
            if state.throttle:
                self.send_response(429)
                self.send_header("Retry-After", "30")
                self.end_headers()
                return
            data = state.files.get(path)
            if data is None:
                self.send_error(404)
                return
            if path in state.corrupt:
                data = data[:-1] + bytes([data[-1] ^ 1])
            start = 0
            ranged = self.headers.get("Range")
            if ranged:
                start = int(ranged.removeprefix("bytes=").rstrip("-"))
                if start >= len(data):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def klines_path(symbol: str, month: str) -> str:
    return f"data/futures/um/monthly/klines/{symbol}/5m/{symbol}-5m-{month}.zip"


def download(base: str, out: Path, *args: str) -> int:
    return main(["download", *args, "--out", str(out), "--base-url", base, "--quiet"])


def test_klines_are_fetched_checked_and_replayed_from_the_folder(
    archive: tuple[Archive, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, base = archive
    # One file with the header row, one without: the archive has shipped both.
    state.add(
        klines_path("BTCUSDT", "2024-01"),
        zipped("BTCUSDT-5m-2024-01.csv", kline_rows(288, 42_000.0, header=True)),
    )
    state.add(
        klines_path("ETHUSDT", "2024-01"),
        zipped("ETHUSDT-5m-2024-01.csv", kline_rows(288, 2_200.0, header=False)),
    )
    out = tmp_path / "data"
    args = ("klines", "--symbols", "BTCUSDT,ETHUSDT", "--interval", "5m", "--start", "2024-01")
    assert download(base, out, *args) == 0
    assert "2 fetched, 0 already there" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "klines").iterdir()) == [
        "BTCUSDT-5m-2024-01.zip",
        "ETHUSDT-5m-2024-01.zip",
    ]
    # A rerun only checks the checksums.
    fetched_before = sum(1 for p, _ in state.requests if not p.endswith(".CHECKSUM"))
    assert download(base, out, *args) == 0
    assert "0 fetched, 2 already there" in capsys.readouterr().out
    assert sum(1 for p, _ in state.requests if not p.endswith(".CHECKSUM")) == fetched_before

    sim = tmp_path / "sim"
    assert main(["simulate", "--data", str(out / "klines"), "--out", str(sim), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert summary["quotes"] == 2 * 288 * 4


def test_a_partial_file_resumes_with_a_range_request(
    archive: tuple[Archive, str], tmp_path: Path
) -> None:
    state, base = archive
    data = zipped("BTCUSDT-5m-2024-02.csv", kline_rows(500, 42_000.0, header=True))
    state.add(klines_path("BTCUSDT", "2024-02"), data)
    part = tmp_path / "klines" / "BTCUSDT-5m-2024-02.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])  # an earlier run stopped here
    args = ("klines", "--symbols", "BTCUSDT", "--interval", "5m", "--start", "2024-02")
    assert download(base, tmp_path, *args) == 0
    assert (tmp_path / "klines" / "BTCUSDT-5m-2024-02.zip").read_bytes() == data
    assert not part.exists()
    assert (klines_path("BTCUSDT", "2024-02"), "bytes=1000-") in state.requests


def test_a_file_that_fails_its_checksum_is_not_kept(
    archive: tuple[Archive, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, base = archive
    path = klines_path("BTCUSDT", "2024-01")
    state.add(path, zipped("BTCUSDT-5m-2024-01.csv", kline_rows(10, 42_000.0, header=True)))
    state.corrupt.add(path)
    args = ("klines", "--symbols", "BTCUSDT", "--interval", "5m", "--start", "2024-01")
    assert download(base, tmp_path, *args) == 1
    assert "sha256 differs" in capsys.readouterr().err
    assert list((tmp_path / "klines").iterdir()) == []


def test_months_missing_from_the_archive_are_reported_and_the_rest_fetched(
    archive: tuple[Archive, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, base = archive
    state.add(
        klines_path("BTCUSDT", "2024-01"),
        zipped("BTCUSDT-5m-2024-01.csv", kline_rows(10, 42_000.0, header=True)),
    )
    args = ("klines", "--symbols", "BTCUSDT", "--interval", "5m")
    assert download(base, tmp_path, *args, "--start", "2024-01", "--end", "2024-02") == 0
    captured = capsys.readouterr()
    assert "BTCUSDT-5m-2024-02.zip: not in the archive" in captured.err
    assert "1 fetched, 0 already there, 1 not in the archive" in captured.out
    assert download(base, tmp_path, *args, "--start", "2023-06") == 1  # nothing at all


def test_throttling_stops_the_run_and_names_the_wait(
    archive: tuple[Archive, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, base = archive
    state.throttle = True
    args = ("klines", "--symbols", "BTCUSDT,ETHUSDT", "--interval", "5m", "--start", "2024-01")
    assert download(base, tmp_path, *args) == 1
    assert "asked to wait 30 s" in capsys.readouterr().err
    assert len(state.requests) == 1  # no hammering after a 429


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["klines", "--symbols", "BTCUSDT", "--start", "2024-01"], "need an interval"),
        (["fundingRate", "--symbols", "BTCUSDT", "--start", "2024-01", "--daily"], "by month"),
        (["klines", "--symbols", "BTCUSDT", "--interval", "5x", "--start", "2024-01"], "5x"),
        (["bookTicker", "--symbols", "BTCUSDT", "--start", "2024-13"], "YYYY-MM"),
        (["aggTrades", "--symbols", "BTCUSDT", "--start", "2024-02", "--end", "2024-01"], "before"),
    ],
)
def test_bad_arguments_are_usage_errors(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["download", *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_daily_book_ticker_and_monthly_funding_paths(
    archive: tuple[Archive, str], tmp_path: Path
) -> None:
    state, base = archive
    for day in ("2024-01-01", "2024-01-02"):
        name = f"BTCUSDT-bookTicker-{day}"
        rows = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,"
        rows += f"transaction_time,event_time\n1,42000.1,1.5,42000.2,2.0,{T0},{T0 + 1}\n"
        state.add(f"data/futures/um/daily/bookTicker/BTCUSDT/{name}.zip", zipped(name, rows))
    funding = "calc_time,funding_interval_hours,last_funding_rate\n"
    funding += f"{T0},8,0.00010000\n{T0 + 8 * 3_600_000},8,-0.00002500\n"
    state.add(
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
        zipped("BTCUSDT-fundingRate-2024-01.csv", funding),
    )
    assert download(
        base, tmp_path, "bookTicker", "--symbols", "BTCUSDT", "--daily",
        "--start", "2024-01-01", "--end", "2024-01-02",
    ) == 0  # fmt: skip
    funding_args = ("fundingRate", "--symbols", "BTCUSDT", "--start", "2024-01")
    assert download(base, tmp_path, *funding_args) == 0
    assert len(list((tmp_path / "bookTicker").iterdir())) == 2
    rates = FundingRates.load([tmp_path / "fundingRate"])
    assert rates.symbols == ("BTCUSDT",)
    assert [e.rate for e in rates.events("BTCUSDT", T0, T0 + 86_400_000)] == [
        Decimal("0.00010000"),
        Decimal("-0.00002500"),
    ]
    assert rates.rate_at("BTCUSDT", T0 + 3_600_000).rate == Decimal("0.00010000")  # type: ignore[union-attr]
    assert rates.rate_at("BTCUSDT", T0 - 1) is None


# --- archive folders and funding files without the network ----------------------------------


def test_funding_files_with_or_without_header_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "ETHUSDT-fundingRate-2024-01.csv").write_text(f"{T0},8,0.0001\n")
    rates = FundingRates.load([tmp_path])
    assert rates.rate_at("ETHUSDT", T0) is not None
    bad = tmp_path / "bad" / "ETHUSDT-fundingRate-2024-02.csv"
    bad.parent.mkdir()
    bad.write_text(f"calc_time,funding_interval_hours,last_funding_rate\n{T0},8,abc\n")
    with pytest.raises(ReplayError, match="line 2: last_funding_rate 'abc' is not a number"):
        FundingRates.load([bad.parent])


def test_a_folder_with_trades_is_refused_by_name_and_funding_is_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "BTCUSDT-5m-2024-01.csv").write_text(kline_rows(20, 100.0, header=True))
    (folder / "BTCUSDT-fundingRate-2024-01.csv").write_text(f"{T0},8,0.0001\n")
    (folder / "BTCUSDT-5m-2024-01.zip.CHECKSUM").write_text("x\n")
    out = tmp_path / "o"
    assert main(["simulate", "--data", str(folder), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["quotes"] == 80
    (folder / "BTCUSDT-trades-2024-01.csv").write_text("1,100.0,1,100.0,1704067200000,true\n")
    assert main(["simulate", "--data", str(folder), "--out", str(out)]) == 2
    assert "individual trades are not replayed" in capsys.readouterr().err


AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"


@pytest.mark.parametrize("header", [True, False])
def test_aggregate_trades_replay_as_quotes_around_each_price(tmp_path: Path, header: bool) -> None:
    rows = [f"{i},{100 + i % 3}.5,{i + 1}.0,{i},{i},{T0 + i * 1_000},{'true' if i % 2 else 'false'}"
            for i in range(10)]  # fmt: skip
    path = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv"
    path.write_text("\n".join(([AGG_HEADER] if header else []) + rows) + "\n")
    replay = open_replay([DataSource(path)], spread_bps=2.0, start_ms=T0 + 2_000)
    quotes = list(replay)
    assert [q.ts_ms - T0 for q in quotes] == [i * 1_000 for i in range(2, 10)]
    assert quotes[0].bid == pytest.approx(102.5 * (1 - 1e-4))
    assert quotes[0].ask == pytest.approx(102.5 * (1 + 1e-4))
    assert quotes[0].bid_qty == quotes[0].ask_qty == 3.0
    assert replay.stats[0].filtered_out == 2


def test_a_trade_going_back_in_time_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv"
    path.write_text(f"{AGG_HEADER}\n1,100,1,1,1,{T0 + 5},true\n2,100,1,2,2,{T0},true\n")
    with pytest.raises(ReplayError, match=r"line 3: transact_time \d+ goes back in time"):
        list(open_replay([DataSource(path)]))
