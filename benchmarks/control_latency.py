"""How long an operator's command takes from request to answer, over the status server.

A PositionController on the FakeExchange with a few open positions, its Commands service
behind a StatusServer on 127.0.0.1, and an aiohttp client sending, in turn, /status,
/positions, /balance, /stopentry and /start (each audited in an on-disk SQLite store, as
live). Prints the median and 99th percentile round trip per command, and the status page's
render time with its controls.

Usage: python benchmarks/control_latency.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.sqlite_store import SqliteStore
from slt.adapters.status.page import render
from slt.adapters.status.server import StatusServer, StatusToken
from slt.application.control import Cockpit, Commands
from slt.application.position_controller import ExitSettings, PositionController
from slt.application.status import ComponentsSource
from slt.data import bundled_filters
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Quote

TOKEN = "benchmark-token-0123456789"
START_MS = 1_764_547_200_000
PRICES = {"BTCUSDT": 90_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 130.0}


async def bot(db: Path) -> tuple[SimulatedClock, FakeExchange, PositionController, SqliteStore]:
    clock = SimulatedClock(START_MS)
    filters = bundled_filters()
    exchange = FakeExchange(filters, clock)
    store = SqliteStore(db)
    controller = PositionController(clock, exchange, store, filters, ExitSettings())
    for symbol, price in PRICES.items():
        exchange.on_quote(Quote(symbol, START_MS, price, 1.0, price * 1.0001, 1.0))
        qty = (Decimal(1000) / Decimal(repr(price))).quantize(filters[symbol].step_size)
        await controller.open_position(
            Candidate(symbol, Direction.LONG, START_MS, price, price * 0.01, 2.0, 0.0),
            Sizing(qty, Decimal(1000), 2, Decimal(10)),
            Decimal(repr(price * 1.0001)).quantize(filters[symbol].tick_size),
        )
    await clock.settle()
    return clock, exchange, controller, store


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock, exchange, controller, store = await bot(Path(tmp) / "state.db")
        commands = Commands(clock, Cockpit(
            mode="paper", controller=controller, store=store, balance=exchange.balance,
            latest=lambda s: None, breaker_level=lambda: "NORMAL"))
        source = ComponentsSource(
            clock=clock, mode="paper", store=store,
            positions=lambda: controller.positions.values(), breaker_level=lambda: "NORMAL",
            symbols=lambda: list(PRICES), latest=lambda s: None,
            halted=lambda: controller.halted,
        )
        server = StatusServer(source, StatusToken(TOKEN, False), port=0, commands=commands.run)
        url = await server.start()
        took: dict[str, list[float]] = {}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(rounds):
                    for name in ("status", "positions", "balance", "stopentry", "start"):
                        began = time.perf_counter()
                        async with http.post(f"{url}/api/control/{name}", headers=headers) as r:
                            assert r.status == 200, await r.text()
                            await r.read()
                        took.setdefault(name, []).append((time.perf_counter() - began) * 1000)
        finally:
            await server.stop()
        snapshot = source()
        began = time.perf_counter()
        for _ in range(rounds):
            render(snapshot, controls=True)
        page_ms = (time.perf_counter() - began) * 1000 / rounds
        audited = len(store.commands(10_000))
        store.close()
    print(f"control round trips over HTTP, {rounds} rounds, {len(PRICES)} open positions:")
    for name, times in took.items():
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"  /{name:<10} median {statistics.median(times):6.2f} ms   p99 {p99:6.2f} ms")
    print(f"commands audited: {audited}")
    print(f"status page render with controls: {page_ms:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    asyncio.run(main(parser.parse_args().rounds))
