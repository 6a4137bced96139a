"""BinanceFundingHistory (the live `funding` feature's source) against the emulator's
GET /fapi/v1/fundingRate: settled rates, known from their settlement time on."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from slt.adapters.binance.funding import BinanceFundingHistory
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.filters import SymbolFilters
from slt.domain.values import Bar

emulator = pytest.importorskip("slt.emulator")

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
H8 = 8 * 3_600_000
FIVE_MIN = 300_000
BTC, ETH = "BTCUSDT", "ETHUSDT"
FILTERS = {
    s: SymbolFilters(s, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(1000),
                     Decimal(5))
    for s in (BTC, ETH)
}


def test_the_latest_settled_rates_are_known_from_their_time_on_and_failures_keep_them() -> None:
    async def main() -> None:
        clock = SimulatedClock(START_MS)
        config = emulator.EmulatorConfig(filters=FILTERS, funding_rate=Decimal("0.00025"))
        emu = emulator.Emulator(config, clock)
        emu.load_bars(BTC, FIVE_MIN, [
            Bar(START_MS - 86_400_000 + i * FIVE_MIN, 100.0, 101.0, 99.0, 100.5, 10.0)
            for i in range(288)
        ])
        await emu.start()
        try:
            async with BinanceHttpClient(RestConfig(base_url=emu.rest_url), clock) as client:
                funding = BinanceFundingHistory(client)
                assert funding.last_rate(BTC, START_MS) is None  # nothing fetched yet
                await funding.refresh([BTC, ETH])  # ETH: no bars, so no settlements
                assert funding.last_rate(BTC, START_MS) == pytest.approx(0.00025)
                assert funding.last_rate(BTC, START_MS - H8 - 1) == pytest.approx(0.00025)
                assert funding.last_rate(BTC, START_MS - 3 * H8) is None  # before the first
                assert funding.last_rate(BTC, START_MS + 25 * 3_600_000) is None  # a day stale
                assert funding.last_rate(ETH, START_MS) is None
        finally:
            await emu.stop()
        async with BinanceHttpClient(RestConfig(base_url=emu.rest_url), clock) as client:
            gone = BinanceFundingHistory(client)
            await gone.refresh([BTC])  # the server is down: logged, nothing known, no raise
            assert gone.last_rate(BTC, START_MS) is None

    asyncio.run(asyncio.wait_for(main(), 30))
