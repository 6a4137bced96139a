"""DataService: only closed bars reach history and indicators; the forming bar is kept apart."""

from __future__ import annotations

import asyncio

import pytest

from slt.application.data_service import DataService
from slt.domain.values import Bar, Quote

M5 = 300_000
M15 = 900_000
T0 = 1_764_460_800_000  # 2025-11-30 00:00 UTC, a multiple of every interval


def q(ts: int, mid: float, size: float = 2.0, symbol: str = "BTCUSDT") -> Quote:
    return Quote(symbol, ts, mid - 0.5, size, mid + 0.5, size)


def klines(service: DataService, interval: str, symbol: str = "BTCUSDT") -> list[Bar]:
    return list(asyncio.run(service.klines(symbol, interval, 100)))


def test_a_bar_is_served_only_once_closed_and_the_forming_bar_is_apart() -> None:
    ds = DataService(["5m", "15m"])
    for k, mid in enumerate((100, 103, 99, 101)):
        ds.on_quote(q(T0 + k * 60_000, mid))
    assert klines(ds, "5m") == []
    assert ds.forming("BTCUSDT", M5) == Bar(T0, 100, 103, 99, 101, 8.0)
    assert ds.snapshot("BTCUSDT", M5) is None
    assert ds.roll(T0 + M5 - 1) == []  # not over yet
    closed = ds.roll(T0 + M5)
    assert [(c.interval_ms, c.bar) for c in closed] == [(M5, Bar(T0, 100, 103, 99, 101, 8.0))]
    assert closed[0].snapshot.close == 101 and closed[0].snapshot.bars == 1
    assert ds.forming("BTCUSDT", M5) is None
    assert ds.forming("BTCUSDT", M15) is not None  # the 15m bar is still open
    assert klines(ds, "15m") == []


def test_the_first_quote_of_a_later_bar_closes_the_previous_one() -> None:
    ds = DataService(["5m"])
    ds.on_quote(q(T0, 100))
    ds.on_quote(q(T0 + M5 + 10, 105))
    assert klines(ds, "5m") == [Bar(T0, 100, 100, 100, 100, 2.0)]
    assert ds.forming("BTCUSDT", M5) == Bar(T0 + M5, 105, 105, 105, 105, 2.0)
    assert [c.bar.open_ms for c in ds.roll(T0 + M5 + 20)] == [T0]


def test_kline_events_replace_the_forming_bar_and_close_it_on_the_closed_event() -> None:
    ds = DataService(["5m"])
    ds.on_kline("BTCUSDT", "5m", Bar(T0, 100, 101, 99, 100.5, 10), closed=False)
    ds.on_kline("BTCUSDT", "5m", Bar(T0, 100, 102, 98, 101.0, 20), closed=False)
    # Time alone does not close a kline-fed bar: its final update may still be on the way.
    assert ds.roll(T0 + M5 + 1_000) == []
    assert ds.forming("BTCUSDT", M5) == Bar(T0, 100, 102, 98, 101.0, 20)
    ds.on_kline("BTCUSDT", "5m", Bar(T0, 100, 102, 97, 100.0, 25), closed=True)
    assert klines(ds, "5m") == [Bar(T0, 100, 102, 97, 100.0, 25)]
    # A repeat (REST backfill overlapping the stream) changes nothing.
    ds.on_kline("BTCUSDT", "5m", Bar(T0, 1, 1, 1, 1, 1), closed=True)
    # A missed close event: the next bar's first event closes the forming one as it stands.
    ds.on_kline("BTCUSDT", "5m", Bar(T0 + M5, 100, 100, 100, 100, 1), closed=False)
    ds.on_kline("BTCUSDT", "5m", Bar(T0 + 2 * M5, 99, 99, 99, 99, 1), closed=False)
    assert [b.open_ms for b in klines(ds, "5m")] == [T0, T0 + M5]
    assert [c.bar.open_ms for c in ds.roll(T0 + 3 * M5)] == [T0, T0 + M5]


def test_quote_volume_adds_up_to_the_kline_volume_replay_spread_over_its_quotes() -> None:
    ds = DataService(["5m"])
    for k in range(4):  # replay puts volume / 4 on both sides of each of four quotes
        ds.on_quote(q(T0 + k * 75_000, 100 + k, size=123.0 / 4))
    ds.roll(T0 + M5)
    assert klines(ds, "5m")[0].volume == pytest.approx(123.0)


def test_indicators_advance_once_per_closed_bar_and_memory_is_bounded() -> None:
    ds = DataService(["5m", "15m"], max_bars=50)
    for k in range(3 * 200):
        ds.on_quote(q(T0 + k * 100_000, 100 + k % 7))
    ds.roll(T0 + 3 * 200 * 100_000)
    assert len(klines(ds, "5m")) == 50
    assert ds.snapshot("BTCUSDT", M5).bars == 200
    assert ds.snapshot("BTCUSDT", M15).bars == 200 // 3


def test_closed_bars_come_in_close_time_order_then_interval_then_symbol() -> None:
    ds = DataService(["5m", "15m"])
    for symbol in ("XRPUSDT", "BTCUSDT"):
        for k in range(3):
            ds.on_quote(q(T0 + k * M5, 100, symbol=symbol))
    order = [(c.bar.open_ms + c.interval_ms, c.interval_ms, c.symbol) for c in ds.roll(T0 + M15)]
    assert order == sorted(order) and len(order) == 8


def test_an_unknown_interval_is_refused() -> None:
    ds = DataService(["5m"])
    with pytest.raises(ValueError):
        ds.snapshot("BTCUSDT", M15)
    with pytest.raises(ValueError):
        DataService(["5x"])
