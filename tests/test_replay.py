"""Market-data replay: formats, ordering, kline expansion, malformed data, real files."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from slt.adapters.replay import (
    REORDER_WINDOW_MS,
    DataSource,
    ReplayError,
    columnar,
    inspect_sources,
    open_replay,
    parse_data_arg,
    read_bars,
    time_span,
)
from slt.adapters.replay import klines as klines_module
from slt.adapters.replay import quotes as quotes_module
from slt.adapters.replay.klines import Spreader
from slt.domain.filters import filters_from_exchange_info
from slt.domain.values import Bar, Quote

FIXTURES = Path(__file__).parent / "fixtures" / "replay"
MARKET = Path(str(resources.files("slt") / "data" / "market"))
BUNDLED = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC, a multiple of 5 minutes
FIVE_MIN = 300_000
QUOTES_HEADER = "ts_ms,bid_price,bid_qty,ask_price,ask_qty"
KLINES_HEADER = "open_time_ms,open,high,low,close,volume"


def write(directory: Path, name: str, text: str, *, gz: bool = False) -> Path:
    path = directory / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def quotes_csv(*rows: str, header: str = QUOTES_HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def replay_all(*sources: DataSource, **kwargs: object) -> list[Quote]:
    return list(open_replay(list(sources), **kwargs))  # type: ignore[arg-type]


# --- DataSource and symbols -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data/x.csv", DataSource(Path("data/x.csv"), None)),
        ("BTCUSDT=data/x.csv", DataSource(Path("data/x.csv"), "BTCUSDT")),
        ("1000PEPEUSDT=p.csv.gz", DataSource(Path("p.csv.gz"), "1000PEPEUSDT")),
        ("btcusdt=x.csv", DataSource(Path("btcusdt=x.csv"), None)),
        ("runs/spread=1/x.csv", DataSource(Path("runs/spread=1/x.csv"), None)),
        ("ETHUSDT=a=b.csv", DataSource(Path("a=b.csv"), "ETHUSDT")),
    ],
)
def test_parse_data_arg(text: str, expected: DataSource) -> None:
    assert parse_data_arg(text) == expected


@pytest.mark.parametrize("text", ["", "BTCUSDT="])
def test_parse_data_arg_rejects_missing_path(text: str) -> None:
    with pytest.raises(ValueError, match="--data"):
        parse_data_arg(text)


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("BTCUSDT-quotes.csv.gz", "BTCUSDT"),
        ("ETHUSDT-5m-20251130-20260129.csv.gz", "ETHUSDT"),
        ("1000PEPEUSDT_quotes.csv", "1000PEPEUSDT"),
        ("SOLUSDT.csv", "SOLUSDT"),
    ],
)
def test_symbol_comes_from_the_file_name(tmp_path: Path, name: str, symbol: str) -> None:
    path = write(tmp_path, name, quotes_csv(f"{T0},1.0,1,1.1,1"))
    assert [q.symbol for q in replay_all(DataSource(path))] == [symbol]


def test_symbol_given_by_the_user_wins_over_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-quotes.csv", quotes_csv(f"{T0},1.0,1,1.1,1"))
    assert replay_all(DataSource(path, "ETHUSDT"))[0].symbol == "ETHUSDT"


@pytest.mark.parametrize("name", ["btcusdt-quotes.csv", "20240718-quotes.csv", "quotes.csv"])
def test_no_symbol_anywhere_is_an_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, quotes_csv(f"{T0},1.0,1,1.1,1"))
    with pytest.raises(ReplayError, match="no symbol") as info:
        open_replay([DataSource(path)])
    assert str(path) in str(info.value)


# --- quotes files ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", ["BTCUSDT-q.csv", "BTCUSDT-q.csv.gz"])
def test_quotes_plain_or_gzip_whatever_the_name(tmp_path: Path, gz: bool, name: str) -> None:
    path = write(
        tmp_path,
        name,
        quotes_csv(f"{T0},100.5,2,100.6,3", f"{T0 + 5},100.4,1.5,100.5,0"),
        gz=gz,
    )
    assert replay_all(DataSource(path)) == [
        Quote("BTCUSDT", T0, 100.5, 2.0, 100.6, 3.0),
        Quote("BTCUSDT", T0 + 5, 100.4, 1.5, 100.5, 0.0),
    ]


def test_quotes_with_symbol_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.csv",
        quotes_csv(
            f"ETHUSDT,{T0},2000.1,1,2000.2,1",
            f"BTCUSDT,{T0 + 1},90000.0,1,90000.1,1",
            f"ETHUSDT,{T0 + 2},2000.0,1,2000.1,1",
            header="symbol," + QUOTES_HEADER,
        ),
    )
    quotes = replay_all(DataSource(path))
    assert [(q.symbol, q.ts_ms) for q in quotes] == [
        ("ETHUSDT", T0),
        ("BTCUSDT", T0 + 1),
        ("ETHUSDT", T0 + 2),
    ]
    selected = open_replay([DataSource(path, "ETHUSDT")])
    assert [q.ts_ms for q in selected] == [T0, T0 + 2]
    assert selected.stats[0].filtered_out == 1


def test_columns_by_name_with_bom_crlf_extra_columns_and_blank_lines(tmp_path: Path) -> None:
    text = (
        "\ufeffts_ms,ask_qty,ask_price,note,bid_qty,bid_price,update_id\r\n"
        f"{T0},3,100.6,,2,100.5,7\r\n"
        "\r\n"
        f"{T0 + 1},4,100.7,x,1,100.6,8\r\n"
        "\r\n"
    )
    path = write(tmp_path, "BTCUSDT.csv", text)
    assert replay_all(DataSource(path)) == [
        Quote("BTCUSDT", T0, 100.5, 2.0, 100.6, 3.0),
        Quote("BTCUSDT", T0 + 1, 100.6, 1.0, 100.7, 4.0),
    ]


def test_quoted_fields_are_read_with_the_csv_module(tmp_path: Path) -> None:
    text = (
        '"symbol","ts_ms","bid_price","bid_qty","ask_price","ask_qty","note"\n'
        f'"BTCUSDT",{T0},"100.5",2,100.6,3,"a, b"\n'
    )
    path = write(tmp_path, "q.csv", text)
    assert replay_all(DataSource(path)) == [Quote("BTCUSDT", T0, 100.5, 2.0, 100.6, 3.0)]


def test_binance_bookticker_dump_columns_are_understood(tmp_path: Path) -> None:
    text = (
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,"
        "event_time\n"
        f"1,100.5,2,100.6,3,{T0},{T0 + 3}\n"
    )
    path = write(tmp_path, "BTCUSDT-bookTicker-2023-11-14.csv", text)
    assert replay_all(DataSource(path)) == [Quote("BTCUSDT", T0, 100.5, 2.0, 100.6, 3.0)]


def test_timestamps_written_as_whole_floats_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(f"{T0}.0,1.0,1,1.1,1"))
    assert replay_all(DataSource(path))[0].ts_ms == T0


def test_crossed_quotes_are_counted_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "BTCUSDT.csv",
        quotes_csv(
            f"{T0},100.5,1,100.6,1",
            f"{T0 + 1},100.7,1,100.6,1",
            f"{T0 + 2},100.6,1,100.6,1",
            f"{T0 + 3},101.0,1,100.0,1",
        ),
    )
    replay = open_replay([DataSource(path)])
    assert [q.ts_ms for q in replay] == [T0, T0 + 2]
    (stats,) = replay.stats
    assert (stats.rows_read, stats.quotes_emitted, stats.crossed_skipped) == (4, 2, 2)


# --- merging ------------------------------------------------------------------------------


def test_merge_orders_by_time_then_symbol_then_file(tmp_path: Path) -> None:
    eth = write(tmp_path, "ETHUSDT.csv", quotes_csv(f"{T0},2.0,1,2.1,1", f"{T0 + 2},2.0,1,2.1,1"))
    btc = write(tmp_path, "BTCUSDT.csv", quotes_csv(f"{T0},1.0,1,1.1,1", f"{T0 + 1},1.0,1,1.1,1"))
    btc_again = write(tmp_path, "b2.csv", quotes_csv(f"{T0},1.0,2,1.1,2"))
    sources = [DataSource(eth), DataSource(btc_again, "BTCUSDT"), DataSource(btc)]
    quotes = replay_all(*sources)
    assert [(q.ts_ms - T0, q.symbol, q.bid_qty) for q in quotes] == [
        (0, "BTCUSDT", 2.0),  # file order among equal time and symbol: b2.csv came first
        (0, "BTCUSDT", 1.0),
        (0, "ETHUSDT", 1.0),
        (1, "BTCUSDT", 1.0),
        (2, "ETHUSDT", 1.0),
    ]
    assert replay_all(*sources) == quotes


def test_merge_of_many_interleaved_files_is_time_ordered(tmp_path: Path) -> None:
    sources = []
    for k, symbol in enumerate(("AUSDT", "BUSDT", "CUSDT")):
        rows = [f"{T0 + 3 * i + k % 2},1.0,1,1.1,1" for i in range(50)]
        sources.append(DataSource(write(tmp_path, f"{symbol}.csv", quotes_csv(*rows), gz=k == 1)))
    quotes = replay_all(*sources)
    assert len(quotes) == 150
    assert [(q.ts_ms, q.symbol) for q in quotes] == sorted((q.ts_ms, q.symbol) for q in quotes)


def test_multi_symbol_rows_slightly_out_of_order_are_put_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.csv",
        quotes_csv(
            f"AUSDT,{T0 + 10},1.0,1,1.1,1",
            f"BUSDT,{T0 + 9},2.0,1,2.1,1",
            f"AUSDT,{T0 + 9 + REORDER_WINDOW_MS},1.0,2,1.1,1",
            f"BUSDT,{T0 + 10},2.0,2,2.1,1",
            header="symbol," + QUOTES_HEADER,
        ),
    )
    quotes = replay_all(DataSource(path))
    assert [(q.symbol, q.ts_ms - T0) for q in quotes] == [
        ("BUSDT", 9),
        ("AUSDT", 10),
        ("BUSDT", 10),
        ("AUSDT", 9 + REORDER_WINDOW_MS),
    ]


# --- malformed data -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"{T0 + 9},1.0,1,1.1", "has 4 fields, the header has 5"),
        (f"{T0 + 9},1.0,1,1.1,1,7", "has 6 fields"),
        (f"{T0 + 9},abc,1,1.1,1", "bid_price 'abc' is not a number"),
        (f"{T0 + 9},1.0,1,,1", "ask_price '' is not a number"),
        (f"x{T0},1.0,1,1.1,1", "ts_ms 'x1700000000000' is not a number"),
        (f"{T0 + 9},nan,1,1.1,1", "bid_price 'nan' is not a finite number"),
        (f"{T0 + 9},1.0,1,inf,1", "ask_price 'inf' is not a finite number"),
        (f"{T0 + 9},0,1,1.1,1", "bid_price '0' is not positive"),
        (f"{T0 + 9},-1.0,1,1.1,1", "bid_price '-1.0' is not positive"),
        (f"{T0 + 9},1.0,-1,1.1,1", "bid_qty '-1' is negative"),
        (f"{T0 + 9},1.0,1,1.1,nan", "ask_qty 'nan' is not a finite number"),
        (f"{T0 - 1},1.0,1,1.1,1", f"ts_ms {T0 - 1} goes back in time"),
        (f"{T0 * 1000},1.0,1,1.1,1", "is not a millisecond Unix time"),
    ],
)
def test_malformed_row_stops_with_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(f"{T0},1.0,1,1.1,1", "", row))
    replay = open_replay([DataSource(path)])
    with pytest.raises(ReplayError) as info:
        list(replay)
    assert str(info.value).startswith(f"{path} line 4: ")
    assert message in str(info.value)
    assert info.value.line == 4


def test_seconds_instead_of_milliseconds_fail_on_the_first_row(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(f"{T0 // 1000},1.0,1,1.1,1"))
    with pytest.raises(ReplayError, match="line 2: ts_ms 1700000000 is not a millisecond"):
        replay_all(DataSource(path))


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (
            [f"AUSDT,{T0 + 5},1.0,1,1.1,1", f"AUSDT,{T0 + 4},1.0,1,1.1,1"],
            3,
            "goes back in time: AUSDT's last row was at",
        ),
        (
            [f"AUSDT,{T0 + 5000},1.0,1,1.1,1", f"BUSDT,{T0},1.0,1,1.1,1"],
            3,
            f"more than {REORDER_WINDOW_MS} ms behind",
        ),
        ([f"AUSDT,{T0},1.0,1,1.1,1", f"btc usdt,{T0},1.0,1,1.1,1"], 3, "'btc usdt' is not"),
    ],
)
def test_multi_symbol_file_faults(tmp_path: Path, rows: list[str], line: int, message: str) -> None:
    path = write(tmp_path, "mixed.csv", quotes_csv(*rows, header="symbol," + QUOTES_HEADER))
    with pytest.raises(ReplayError, match=message) as info:
        replay_all(DataSource(path))
    assert str(info.value).startswith(f"{path} line {line}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("ts_ms,trade_id,price,qty,is_buyer_maker\n", "lacks bid_price,bid_qty,ask_price,ask_qty"),
        ("symbol," + KLINES_HEADER + "\n", "klines with a symbol column are not supported"),
        ("1,2,3,4,5\n", "not a header"),
    ],
)
def test_unusable_header_fails_when_the_replay_is_opened(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "BTCUSDT.csv", text)
    with pytest.raises(ReplayError, match=message) as info:
        open_replay([DataSource(path)])
    assert str(path) in str(info.value)


def test_missing_file_is_a_replay_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no such file"):
        open_replay([DataSource(tmp_path / "BTCUSDT.csv")])


def test_truncated_gzip_is_a_replay_error(tmp_path: Path) -> None:
    rows = [f"{T0 + i},1.{i * 7919 % 10007},1,2.{i * 104729 % 10007},1" for i in range(50_000)]
    data = gzip.compress(quotes_csv(*rows).encode())
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(data[: len(data) * 9 // 10])
    replay = open_replay([DataSource(path)])
    with pytest.raises(ReplayError, match="cannot be read after line 4"):
        list(replay)
    assert replay.stats[0].rows_read > 40_000


def test_files_are_read_lazily(tmp_path: Path) -> None:
    rows = [f"{T0 + i},1.0,1,1.1,1" for i in range(10_000)]
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(*rows, "garbage"))
    replay = open_replay([DataSource(path)])
    first = next(iter(replay))
    assert first.ts_ms == T0
    assert replay.stats[0].rows_read < 10_000
    replay.close()
    assert [q.ts_ms for q in open_replay([DataSource(path)], end_ms=T0 + 3)] == [
        T0,
        T0 + 1,
        T0 + 2,
    ]


# --- time window ---------------------------------------------------------------------------


def test_start_is_inclusive_and_end_exclusive(tmp_path: Path) -> None:
    rows = [f"{T0 + i},1.0,1,1.1,1" for i in range(10)]
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(*rows))
    replay = open_replay([DataSource(path)], start_ms=T0 + 3, end_ms=T0 + 7)
    assert [q.ts_ms - T0 for q in replay] == [3, 4, 5, 6]
    assert replay.stats[0].filtered_out == 3


def test_window_on_multi_symbol_file(tmp_path: Path) -> None:
    rows = [f"{'AUSDT' if i % 2 else 'BUSDT'},{T0 + i},1.0,1,1.1,1" for i in range(10)]
    path = write(tmp_path, "m.csv", quotes_csv(*rows, header="symbol," + QUOTES_HEADER))
    quotes = replay_all(DataSource(path), start_ms=T0 + 3, end_ms=T0 + 7)
    assert [q.ts_ms - T0 for q in quotes] == [3, 4, 5, 6]


def test_empty_window_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(f"{T0},1.0,1,1.1,1"))
    with pytest.raises(ValueError, match="not after"):
        open_replay([DataSource(path)], start_ms=T0, end_ms=T0)


# --- klines ---------------------------------------------------------------------------------


def klines_csv(*rows: str, header: str = KLINES_HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


UP_BAR = f"{T0},100.0,110.0,95.0,105.0,8"
DOWN_BAR = f"{T0 + FIVE_MIN},105.0,110.0,95.0,100.0,4"


def test_up_bar_goes_open_low_high_close_and_down_bar_open_high_low_close(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(UP_BAR, DOWN_BAR))
    quotes = replay_all(DataSource(path), spread_bps=10.0, tick_size=lambda s: Decimal("0.01"))
    assert [(q.ts_ms - T0, q.bid, q.ask, q.bid_qty, q.ask_qty) for q in quotes] == [
        (0, 99.95, 100.05, 2.0, 2.0),  # 100 * (1 -/+ 0.0005): already on the tick
        (100_000, 94.95, 95.05, 2.0, 2.0),  # low: 94.9525 down, 95.0475 up
        (200_000, 109.94, 110.06, 2.0, 2.0),  # high: 109.945 down, 110.055 up
        (299_999, 104.94, 105.06, 2.0, 2.0),  # close
        (FIVE_MIN, 104.94, 105.06, 1.0, 1.0),
        (FIVE_MIN + 100_000, 109.94, 110.06, 1.0, 1.0),
        (FIVE_MIN + 200_000, 94.95, 95.05, 1.0, 1.0),
        (FIVE_MIN + 299_999, 99.95, 100.05, 1.0, 1.0),
    ]


def test_kline_spread_without_tick_is_exact_basis_points(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(UP_BAR))
    quotes = replay_all(DataSource(path), spread_bps=2.0)
    assert [q.bid for q in quotes] == pytest.approx([99.99, 94.9905, 109.989, 104.9895])
    assert [q.ask for q in quotes] == pytest.approx([100.01, 95.0095, 110.011, 105.0105])


def test_zero_spread_on_the_tick_grid_still_leaves_one_tick(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(f"{T0},100.2,101.0,99.5,100.5,1"))
    quotes = replay_all(DataSource(path), spread_bps=0.0, tick_size=lambda s: Decimal("0.5"))
    assert [(q.bid, q.ask) for q in quotes] == [
        (100.0, 100.5),
        (99.5, 100.0),
        (101.0, 101.5),
        (100.5, 101.0),
    ]


@pytest.mark.parametrize(
    ("price", "tick", "bid", "ask"),
    [
        ("0.29", "0.01", 0.29, 0.3),  # 0.29 * 100 = 28.999999999999996 in floats
        ("90815.5", "0.1", 90815.5, 90815.6),
    ],
)
def test_prices_on_the_grid_stay_put_despite_float_noise(
    tmp_path: Path, price: str, tick: str, bid: float, ask: float
) -> None:
    bar = f"{T0},{price},{price},{price},{price},1"
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(bar))
    quotes = replay_all(DataSource(path), spread_bps=0.0, tick_size=lambda s: Decimal(tick))
    assert {(q.bid, q.ask) for q in quotes} == {(bid, ask)}


def test_ask_exactly_on_the_grid_is_not_pushed_a_tick_up(tmp_path: Path) -> None:
    # 200 * (1 + 0.00005) * 100 = 20001.000000000004 in floats; the ask is 200.01, not 200.02
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(f"{T0},200,200,200,200,1"))
    quotes = replay_all(DataSource(path), spread_bps=1.0, tick_size=lambda s: Decimal("0.01"))
    assert {(q.bid, q.ask) for q in quotes} == {(199.99, 200.01)}


def test_tick_rounding_lands_on_exact_decimal_prices(tmp_path: Path) -> None:
    path = write(
        tmp_path, "BTCUSDT-5m-x.csv", klines_csv(f"{T0},90815.5,90815.5,90815.5,90815.5,1")
    )
    quotes = replay_all(DataSource(path), spread_bps=0.0, tick_size=lambda s: Decimal("0.1"))
    assert (quotes[0].bid, quotes[0].ask) == (90815.5, 90815.6)
    assert repr(quotes[0].ask) == "90815.6"


@pytest.mark.parametrize(
    ("name", "header", "rows", "interval"),
    [
        # name token: the first step (a gap of 3 bars) would mislead
        ("BTCUSDT-1h-x.csv", KLINES_HEADER, [f"{T0},1,1,1,1,1", f"{T0 + 10_800_000},1,1,1,1,1"],
         3_600_000),
        # close_time column beats the name and the step
        ("BTCUSDT-1h-x.csv", KLINES_HEADER + ",close_time_ms,quote_volume",
         [f"{T0},1,1,1,1,1,{T0 + 59_999},", f"{T0 + 10_800_000},1,1,1,1,1,,"], 60_000),
        # neither: the step between the first two bars
        ("BTCUSDT.csv", KLINES_HEADER, [f"{T0},1,1,1,1,1", f"{T0 + 900_000},1,1,1,1,1"], 900_000),
    ],
)  # fmt: skip
def test_interval_inference(
    tmp_path: Path, name: str, header: str, rows: list[str], interval: int
) -> None:
    path = write(tmp_path, name, klines_csv(*rows, header=header))
    quotes = replay_all(DataSource(path))
    assert [q.ts_ms - T0 for q in quotes[:4]] == [
        0,
        interval // 3,
        2 * interval // 3,
        interval - 1,
    ]


def test_one_bar_without_any_interval_hint_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT.csv", klines_csv(UP_BAR))
    with pytest.raises(ReplayError, match="cannot tell the bar interval"):
        open_replay([DataSource(path)])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"{T0 + 60_000},1,1,1,1,1", "before the bar opened at"),
        (f"{T0},1,1,1,1,1", "repeats the previous bar's"),
        (f"{T0 + FIVE_MIN},1,2,0.5,3,1", "inconsistent bar"),
        (f"{T0 + FIVE_MIN},1,2,0,1,1", "low '0' is not positive"),
        (f"{T0 + FIVE_MIN},1,2,0.5,1,-3", "volume '-3' is negative"),
        (f"{T0 + FIVE_MIN},1,2,0.5,x,1", "close 'x' is not a number"),
    ],
)
def test_malformed_bar(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(UP_BAR, row))
    with pytest.raises(ReplayError, match=message) as info:
        replay_all(DataSource(path))
    assert str(info.value).startswith(f"{path} line 3: ")


def test_kline_window_cuts_inside_a_bar(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(UP_BAR, DOWN_BAR))
    replay = open_replay([DataSource(path)], start_ms=T0 + 100_000, end_ms=T0 + FIVE_MIN + 1)
    assert [q.ts_ms - T0 for q in replay] == [100_000, 200_000, 299_999, FIVE_MIN]
    assert replay.stats[0].quotes_emitted == 4
    assert replay.stats[0].filtered_out == 1


def test_headerless_binance_kline_dump(tmp_path: Path) -> None:
    row = f"{T0},100.0,110.0,95.0,105.0,8,{T0 + FIVE_MIN - 1},840,12,4,420,0"
    path = write(tmp_path, "BTCUSDT-5m-2023-11-14.csv", row + "\n")
    assert [q.ts_ms - T0 for q in replay_all(DataSource(path))] == [0, 100_000, 200_000, 299_999]


def test_read_bars(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(UP_BAR, DOWN_BAR))
    assert list(read_bars(DataSource(path), start_ms=T0 + 1)) == [
        Bar(T0 + FIVE_MIN, 105.0, 110.0, 95.0, 100.0, 4.0)
    ]


# --- stats and passes -----------------------------------------------------------------------


def test_iterating_again_starts_over_with_fresh_stats(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT.csv", quotes_csv(f"{T0},1.0,1,1.1,1", f"{T0 + 1},1.0,1,1.1,1"))
    replay = open_replay([DataSource(path)])
    assert len(list(replay)) == 2
    assert len(list(replay)) == 2
    (stats,) = replay.stats
    assert (stats.rows_read, stats.quotes_emitted, stats.symbol, stats.kind) == (
        2,
        2,
        "BTCUSDT",
        "quotes",
    )


# --- inspection -----------------------------------------------------------------------------


def test_inspect_single_symbol_files(tmp_path: Path) -> None:
    rows = [f"{T0 + i},1.2{i % 3},1,1.30,1" for i in range(5000)]  # beyond the head read
    quotes = write(tmp_path, "BTCUSDT.csv", quotes_csv(*rows))
    quotes_gz = write(tmp_path, "ETHUSDT.csv.gz", quotes_csv(*rows[:10]), gz=True)
    klines = write(
        tmp_path, "SOLUSDT-5m-x.csv", klines_csv(UP_BAR, DOWN_BAR.replace("110.0", "110.50"))
    )
    infos = inspect_sources([DataSource(quotes), DataSource(quotes_gz), DataSource(klines)])
    assert list(infos) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    btc, eth, sol = infos.values()
    assert (btc.first_ts_ms, btc.last_ts_ms, btc.price_decimals) == (T0, T0 + 4999, 2)
    assert btc.reference_price == pytest.approx(1.25)
    assert (eth.first_ts_ms, eth.last_ts_ms) == (T0, T0 + 9)
    assert (sol.first_ts_ms, sol.last_ts_ms, sol.price_decimals) == (T0, T0 + 2 * FIVE_MIN - 1, 1)
    assert sol.tick_guess == Decimal("0.1")  # 110.50: trailing zeros do not count
    assert sol.reference_price == 100.0
    assert time_span(infos) == (T0, T0 + 2 * FIVE_MIN - 1)


def test_inspect_multi_symbol_file_scans_every_row(tmp_path: Path) -> None:
    rows = [f"AUSDT,{T0 + i},1.5,1,1.6,1" for i in range(3000)]
    rows.append(f"BUSDT,{T0 + 3000},2.125,1,2.250,1")
    path = write(tmp_path, "m.csv", quotes_csv(*rows, header="symbol," + QUOTES_HEADER))
    infos = inspect_sources([DataSource(path)])
    assert infos["AUSDT"].last_ts_ms == T0 + 2999
    assert (infos["BUSDT"].first_ts_ms, infos["BUSDT"].price_decimals) == (T0 + 3000, 3)
    assert list(inspect_sources([DataSource(path, "BUSDT")])) == ["BUSDT"]


# --- real data ------------------------------------------------------------------------------


def test_bundled_klines_replay_a_day_of_five_symbols() -> None:
    sources = [DataSource(next(MARKET.glob(f"{s}-5m-*.csv.gz"))) for s in BUNDLED]
    day = 1_765_152_000_000  # 2025-12-08 00:00 UTC
    filters = filters_from_exchange_info(
        json.loads((MARKET.parent / "exchange_info.json").read_bytes())
    )
    replay = open_replay(
        sources,
        start_ms=day,
        end_ms=day + 86_400_000,
        tick_size=lambda s: filters[s].tick_size,
    )
    quotes = list(replay)
    assert len(quotes) == 5 * 288 * 4
    assert [q.ts_ms for q in quotes] == sorted(q.ts_ms for q in quotes)
    assert quotes[:5] == sorted(quotes[:5], key=lambda q: q.symbol)  # ties: by symbol
    assert all(0 < q.bid < q.ask for q in quotes)
    assert {q.symbol for q in quotes} == set(BUNDLED)
    assert all(s.rows_read >= 288 and s.quotes_emitted == 288 * 4 for s in replay.stats)


def test_bundled_btc_first_bar_matches_the_file() -> None:
    path = next(MARKET.glob("BTCUSDT-5m-*.csv.gz"))
    with gzip.open(path, "rt") as fh:
        fh.readline()
        open_ms, o, h, low, c, v = (float(x) for x in fh.readline().split(",")[:6])
    (bar, *_) = read_bars(DataSource(path))
    assert bar == Bar(int(open_ms), o, h, low, c, v)
    first = replay_all(DataSource(path), end_ms=int(open_ms) + FIVE_MIN, spread_bps=0.0)
    expected = [o, low, h, c] if c >= o else [o, h, low, c]
    assert [q.bid for q in first] == expected
    assert [q.ts_ms - int(open_ms) for q in first] == [0, 100_000, 200_000, 299_999]


def test_bundled_data_inspection() -> None:
    infos = inspect_sources([DataSource(p) for p in MARKET.glob("*.csv.gz")])
    assert sorted(infos) == sorted(BUNDLED)
    assert infos["BTCUSDT"].price_decimals == 1
    assert time_span(infos) == (1_764_460_800_000, 1_769_668_499_999)


def test_bundled_exchange_info_knows_every_bundled_symbol() -> None:
    payload = json.loads((MARKET.parent / "exchange_info.json").read_bytes())
    assert set(payload) == {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"}
    assert set(BUNDLED) <= set(filters_from_exchange_info(payload))


def test_real_bookticker_slice() -> None:
    path = FIXTURES / "BTCUSDT-quotes-20240718-head300.csv.gz"
    replay = open_replay([DataSource(path)])
    quotes = list(replay)
    assert len(quotes) == 300
    assert quotes[0] == Quote("BTCUSDT", 1721347022507, 63943.9, 46.371, 63944.0, 0.095)
    assert replay.stats[0].crossed_skipped == 0
    assert [q.ts_ms for q in quotes] == sorted(q.ts_ms for q in quotes)


def test_real_multi_symbol_capture_with_late_rows() -> None:
    path = FIXTURES / "alts-2021-04-05-quotes-head300.csv"
    quotes = replay_all(DataSource(path))
    assert len(quotes) == 300
    assert [q.ts_ms for q in quotes] == sorted(q.ts_ms for q in quotes)
    # line 174 (SANDUSDT at ...440) arrived after NEOUSDT at ...441
    i = next(i for i, q in enumerate(quotes) if q.ts_ms == 1617647802440)
    assert (quotes[i].symbol, quotes[i + 1].symbol, quotes[i + 1].ts_ms) == (
        "SANDUSDT",
        "NEOUSDT",
        1617647802441,
    )
    assert set(inspect_sources([DataSource(path)])) == {
        "BATUSDT",
        "CHRUSDT",
        "CTKUSDT",
        "NEOUSDT",
        "SANDUSDT",
    }


# --- columnar reading -----------------------------------------------------------------------


def test_vectorised_spread_gives_the_scalar_floats() -> None:
    rng = np.random.default_rng(5)
    for tick, spread_bps in ((Decimal("0.1"), 1.0), (Decimal("0.00001"), 0.0), (None, 2.0)):
        spread = Spreader(spread_bps, tick)
        grid = float(tick or Decimal("0.01"))
        prices = np.concatenate(
            (
                rng.uniform(0.01, 100_000, 20_000),
                np.round(rng.uniform(1, 5_000, 20_000) / grid) * grid,  # on the grid, float noise
            )
        )
        bids, asks = spread.many(prices)
        assert [(b, a) for b, a in zip(bids.tolist(), asks.tolist(), strict=True)] == [
            spread(p) for p in prices.tolist()
        ]


def test_many_blocks_replay_like_one_and_a_bad_row_far_in_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 200)  # a few rows per block
    rows = [
        f"{T0 + i * FIVE_MIN},{100 + i}.0,{110 + i}.0,{95 + i}.0,{105 + i}.0,8" for i in range(40)
    ]
    good = write(tmp_path, "BTCUSDT-5m-good.csv", klines_csv(*rows))
    quotes = replay_all(DataSource(good), spread_bps=0.0)
    assert len(quotes) == 160
    assert [q.bid for q in quotes[-4:]] == [139.0, 134.0, 149.0, 144.0]
    blank = write(tmp_path, "BTCUSDT-5m-blank.csv", klines_csv(*rows[:20], "", *rows[20:]))
    assert replay_all(DataSource(blank), spread_bps=0.0) == quotes
    bad_rows = [*rows[:30], f"{T0 + 30 * FIVE_MIN},1,2,0.5,3,1", *rows[31:]]
    bad = write(tmp_path, "BTCUSDT-5m-bad.csv", klines_csv(*bad_rows))
    got: list[Quote] = []
    with pytest.raises(ReplayError, match="inconsistent bar") as info:
        got.extend(open_replay([DataSource(bad)], spread_bps=0.0))
    assert str(info.value).startswith(f"{bad} line 32: ")
    assert got == quotes[: 30 * 4]  # every bar before the bad one was replayed
    # A window that ends before the bad row never reaches it.
    assert len(replay_all(DataSource(bad), end_ms=T0 + 10 * FIVE_MIN)) == 40


def _stats(replay: object) -> list[tuple[int, int, int, int]]:
    return [
        (s.rows_read, s.quotes_emitted, s.crossed_skipped, s.filtered_out)
        for s in replay.stats  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("window", [(None, None), (T0 + 500_000, T0 + 9_000_000)])
def test_block_path_gives_what_the_row_path_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: tuple[int | None, int | None]
) -> None:
    """Quotes with crossed rows and klines, over many small blocks and a window cutting
    through them: the numpy path and the row-by-row path (numpy refusing every block) agree
    on every quote and every count."""
    rng = np.random.default_rng(11)
    quote_rows = []
    t = T0
    for _ in range(3_000):
        t += int(rng.integers(0, 5_000))
        bid = round(float(rng.uniform(100, 101)), 2)
        ask = round(bid + float(rng.choice([0.01, 0.02, -0.01])), 2)  # some crossed
        quote_rows.append(f"{t},{bid},{rng.uniform(0, 3):.3f},{ask},{rng.uniform(0, 3):.3f}")
    quotes = write(tmp_path, "ETHUSDT-quotes.csv.gz", quotes_csv(*quote_rows), gz=True)
    kline_rows = [
        f"{T0 + i * FIVE_MIN},{100 + i % 9}.5,{112 + i % 9}.25,{95 + i % 9}.75,{101 + i % 9},{i}"
        for i in range(300)
    ]
    klines = write(tmp_path, "BTCUSDT-5m-x.csv", klines_csv(*kline_rows))
    start, end = window
    sources = [DataSource(quotes), DataSource(klines)]
    tick = {"BTCUSDT": Decimal("0.1"), "ETHUSDT": None}

    def run() -> tuple[list[Quote], list[tuple[int, int, int, int]]]:
        replay = open_replay(sources, start_ms=start, end_ms=end, tick_size=tick.get)
        return list(replay), _stats(replay)

    monkeypatch.setattr(columnar, "BLOCK_BYTES", 1_000)
    by_block = run()
    assert by_block[1][0][2] > 0  # crossed quotes were met
    monkeypatch.setattr(klines_module, "numeric_columns", lambda *args: None)
    monkeypatch.setattr(quotes_module, "numeric_columns", lambda *args: None)
    assert run() == by_block

