"""`slt download --rest` against a fake Binance REST API on 127.0.0.1: klines and funding rates
written in the archive's formats, resumable, and polite (weights, Retry-After, bans)."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from slt.adapters.replay import DataSource, FundingRates, open_replay
from slt.entrypoints.cli import main

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FIVE_MIN = 300_000
H8 = 8 * 3_600_000
BARS = 2_500
FAR_FUTURE = 2**62


def kline(i: int) -> list[object]:
    t = T0 + i * FIVE_MIN
    o = Decimal("42000.10") + i % 17
    c = o + (1 if i % 2 else -1)
    close_ms = t + FIVE_MIN - 1 if i < BARS else FAR_FUTURE  # the last one is still forming
    return [t, str(o), str(max(o, c) + 2), str(min(o, c) - 2), str(c), "12.345", close_ms,
            "518000.5", 100 + i, "6.1", "256000.2", "0"]


class Api:
    def __init__(self) -> None:
        self.klines = [kline(i) for i in range(BARS + 1)]
        self.funding = [
            {"symbol": "BTCUSDT", "fundingTime": T0 + i * H8 + 3, "fundingRate": f"0.000{i % 9}1",
             "markPrice": "42000.00000000"}
            for i in range(1_200)
        ]
        self.requests: list[dict[str, str]] = []
        # Answers to give instead of data, first come first served: (status, headers, body).
        self.refusals: list[tuple[int, dict[str, str], dict[str, object]]] = []
        self.refuse_after: int | None = None  # refuse every request after this many

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, dict[str, str], object]:
        if self.refuse_after is not None and len(self.requests) > self.refuse_after:
            return 418, {}, {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) "
                                                   f"banned until {FAR_FUTURE // 1000}."}
        if self.refusals:
            return self.refusals.pop(0)
        start, end, limit = int(q["startTime"]), int(q["endTime"]), int(q["limit"])
        if path == "/fapi/v1/klines":
            rows = [k for k in self.klines if start <= int(str(k[0])) <= end]
            return 200, {"X-MBX-USED-WEIGHT-1M": "5"}, rows[:limit]
        if path == "/fapi/v1/fundingRate":
            return 200, {}, [f for f in self.funding if start <= int(str(f["fundingTime"])) <= end][
                :limit
            ]
        return 404, {}, {"code": -1, "msg": "no such path"}


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    state = Api()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            state.requests.append({"path": url.path, **q})
            status, headers, body = state.answer(url.path, q)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

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


def download(url: str, out: Path, *args: str) -> int:
    return main(["download", *args, "--rest", "--rest-url", url, "--out", str(out), "--quiet"])


KLINES = ("klines", "--symbols", "BTCUSDT", "--interval", "5m", "--start", "2024-01-01",
          "--end", "2024-01-31")


def test_klines_come_in_weight_5_pages_as_archive_rows_without_the_forming_bar(
    api: tuple[Api, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = api
    assert download(url, tmp_path, *KLINES) == 0
    path = tmp_path / "klines" / "BTCUSDT-5m-rest.csv"
    assert f"{path}: {BARS} rows written" in capsys.readouterr().out
    header, *rows = path.read_text().splitlines()
    assert header.startswith("open_time,open,high,low,close,volume,close_time")
    assert rows[0] == ",".join(str(v) for v in kline(0))  # the exchange's strings, as sent
    assert len(rows) == BARS  # not the forming bar
    assert [r["limit"] for r in state.requests] == ["1000"] * 3  # weight 5 per 1000 rows
    assert [int(r["startTime"]) for r in state.requests][1:] == [
        T0 + 999 * FIVE_MIN + 1, T0 + 1999 * FIVE_MIN + 1
    ]
    replay = open_replay([DataSource(path.parent)], spread_bps=1.0)
    assert sum(1 for _ in replay) == 4 * BARS  # `--data` replays the folder


def test_a_ban_stops_the_run_and_a_rerun_continues_after_the_last_whole_row(
    api: tuple[Api, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = api
    state.refuse_after = 1  # the second request is answered with a 418
    assert download(url, tmp_path, *KLINES) == 1
    assert "banned until" in capsys.readouterr().err
    path = tmp_path / "klines" / "BTCUSDT-5m-rest.csv"
    assert len(path.read_text().splitlines()) == 1 + 1000
    with open(path, "a") as fh:
        fh.write("1704367500000,42")  # a row torn by an interruption
    state.refuse_after, state.requests = None, []
    assert download(url, tmp_path, *KLINES) == 0
    assert "1500 rows written (resumed)" in capsys.readouterr().out
    assert int(state.requests[0]["startTime"]) == T0 + 999 * FIVE_MIN + 1
    fresh = tmp_path / "fresh"
    assert download(url, fresh, *KLINES) == 0
    assert path.read_bytes() == (fresh / "klines" / "BTCUSDT-5m-rest.csv").read_bytes()


def test_a_429_is_retried_after_its_retry_after_and_a_long_wait_stops_the_run(
    api: tuple[Api, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = api
    busy = {"code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."}
    state.refusals = [(429, {"Retry-After": "0"}, busy)]
    assert download(url, tmp_path, *KLINES) == 0
    assert len(state.requests) == 4  # the refused one again, then the rest
    assert state.requests[0]["startTime"] == state.requests[1]["startTime"]

    state.requests = []
    state.refusals = [(429, {"Retry-After": "600"}, busy)]
    assert download(url, tmp_path / "other", *KLINES) == 1
    assert len(state.requests) == 1  # nothing sent during the ten minutes asked for
    assert "resume in" in capsys.readouterr().err


def test_funding_rates_are_written_as_archive_rows_that_the_simulation_reads(
    api: tuple[Api, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = api
    args = ("fundingRate", "--symbols", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-12-31")
    assert download(url, tmp_path, *args) == 0
    path = tmp_path / "fundingRate" / "BTCUSDT-fundingRate-rest.csv"
    header, first, second, *_ = path.read_text().splitlines()
    assert header == "calc_time,funding_interval_hours,last_funding_rate"
    assert (first, second) == (f"{T0 + 3},,0.00001", f"{T0 + H8 + 3},8,0.00011")
    assert [r["limit"] for r in state.requests] == ["1000", "1000"]
    rates = FundingRates.load([path.parent])
    assert len(rates.events("BTCUSDT", 0, FAR_FUTURE)) == 366 * 3  # 2024, not beyond --end
    assert rates.last_rate("BTCUSDT", T0 + H8 + 3) == pytest.approx(0.00011)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bookTicker", "--symbols", "BTCUSDT", "--start", "2024-01"), "klines and fundingRate"),
        (("klines", "--symbols", "BTCUSDT", "--start", "2024-01"), "--interval"),
        (("fundingRate", "--symbols", "BTCUSDT", "--start", "2024-01", "--daily"), "--daily"),
    ],
)
def test_what_rest_cannot_fetch_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert download("http://127.0.0.1:9", tmp_path, *args) == 2
    assert message in capsys.readouterr().err


def test_rest_starts_where_the_archive_files_in_the_folder_end(
    api: tuple[Api, str], tmp_path: Path
) -> None:
    state, url = api
    folder = tmp_path / "klines"
    folder.mkdir()
    (folder / "BTCUSDT-5m-2024-01-02.zip").write_bytes(b"")  # daily archive files, by name
    (folder / "BTCUSDT-5m-2024-01-05.zip").write_bytes(b"")
    (folder / "BTCUSDT-1h-2024-01.zip").write_bytes(b"")  # another interval: not these rows
    assert download(url, tmp_path, *KLINES) == 0
    assert int(state.requests[0]["startTime"]) == T0 + 5 * 86_400_000  # 2024-01-06
    rows = (folder / "BTCUSDT-5m-rest.csv").read_text().splitlines()[1:]
    assert int(rows[0].split(",")[0]) == T0 + 5 * 86_400_000
