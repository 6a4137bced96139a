"""Replaying market data into the emulator, and the `slt emulator` entry point."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from pathlib import Path

import aiohttp

from slt.adapters.replay import DataSource
from slt.domain.values import DAY_MS, HOUR_MS, MINUTE_MS
from slt.emulator import Emulator, EmulatorConfig, replay_into
from slt.emulator.cli import market_time_funding, plan_session, run_emulator, serve

from emu_helpers import BTC, CONFIG, START_MS, ManualClock, async_test, quote, running


@async_test
async def test_replay_keeps_the_pace_on_the_emulator_clock() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emu, _):
        data = [quote(100.0, 100.1, 1_000), quote(101.0, 101.1, 2_000), quote(99.0, 99.1, 4_000)]
        pump = asyncio.ensure_future(replay_into(emu, data, speed=2.0, offset_ms=START_MS))
        start = clock.now_ms()
        await clock.wait_for_sleeper(start + 500)
        assert emu.market.update_id == 1
        assert emu.market.quotes[BTC].ts_ms == START_MS + 1_000  # moved by the offset
        clock.advance(500)
        await clock.wait_for_sleeper(start + 1_500)
        assert emu.market.update_id == 2
        clock.advance(1_000)
        assert await pump == 3
        assert emu.market.quotes[BTC].bid == 99.0


@async_test
async def test_quotes_due_before_the_origin_are_pushed_at_once() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (emu, _):
        data = [quote(100.0, 100.1, t) for t in (1_000, 2_000, 3_000, 9_000)]
        pump = asyncio.ensure_future(replay_into(emu, data, speed=1.0, origin_ms=3_000))
        await clock.wait_for_sleeper(clock.now_ms() + 6_000)
        assert emu.market.update_id == 3
        clock.advance(6_000)
        assert await pump == 4
        assert await replay_into(emu, data, speed=math.inf) == 4


def write_klines(path: Path, n: int, start_ms: int) -> None:
    rows = [
        f"{start_ms + i * MINUTE_MS},{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}"
        for i in range(n)
    ]
    path.write_text("open_time_ms,open,high,low,close,volume\n" + "\n".join(rows) + "\n")


def test_a_session_splits_klines_into_history_and_replay(tmp_path: Path) -> None:
    data = tmp_path / "BTCUSDT-1m-sample.csv"
    write_klines(data, 40, START_MS)
    session = plan_session([DataSource(data)], warmup_bars=30)
    assert session.start_ms == START_MS + 30 * MINUTE_MS
    ((symbol, interval, history),) = session.history
    assert (symbol, interval, len(history), session.grid_ms) == (BTC, MINUTE_MS, 30, MINUTE_MS)
    assert session.filters[BTC].tick_size > 0


def test_funding_files_in_a_data_folder_are_charged_in_market_time(tmp_path: Path) -> None:
    write_klines(tmp_path / "BTCUSDT-1m-sample.csv", 40, START_MS)
    (tmp_path / "BTCUSDT-fundingRate-2026-01.csv").write_text(
        "calc_time,funding_interval_hours,last_funding_rate\n"
        f"{START_MS + 8 * HOUR_MS},8,0.00025\n{START_MS + 16 * HOUR_MS},8,-0.0001\n"
    )
    session = plan_session([DataSource(tmp_path)], warmup_bars=30)
    offset = 3 * DAY_MS
    funding = market_time_funding(session.funding, offset, Decimal("0.0001"))
    at = START_MS + offset + 8 * HOUR_MS
    assert funding.rate_at(BTC, at) == Decimal("0.00025")
    assert funding.rate_at(BTC, at + 8 * HOUR_MS) == Decimal("-0.0001")
    assert funding.rate_at(BTC, at + 16 * HOUR_MS) == Decimal("0.0001")  # no record: default
    assert funding.rate_at("ETHUSDT", at) == Decimal("0.0001")


@async_test
async def test_serve_answers_with_history_and_replayed_quotes(tmp_path: Path) -> None:
    data = tmp_path / "BTCUSDT-1m-sample.csv"
    write_klines(data, 40, START_MS)
    session = plan_session([DataSource(data)], warmup_bars=30)
    stop = asyncio.Event()
    ready: asyncio.Future[Emulator] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(
        serve(
            session,
            EmulatorConfig(filters=session.filters),
            speed=math.inf,
            spread_bps=1.0,
            stop=stop,
            ready=ready.set_result,
        )
    )
    emulator = await ready
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{emulator.rest_url}/fapi/v1/klines",
            params={"symbol": BTC, "interval": "1m", "limit": 30},
        ) as r,
    ):
        rows = await r.json()
    assert len(rows) == 30
    assert all(row[0] % MINUTE_MS == 0 for row in rows)  # still on the minute grid
    assert rows[0][0] <= emulator.clock.now_ms()
    stop.set()
    assert await server == 10 * 4  # four quotes for each of the 10 replayed bars


def test_bad_arguments_exit_with_2(tmp_path: Path) -> None:
    assert run_emulator(["--speed", "0"]) == 2
    assert run_emulator(["--data", str(tmp_path / "missing.csv")]) == 2
