"""slt's own Binance adapter on its v3 account paths against the emulator: v3 positionRisk
rows carry no leverage, so the gateway reads it from GET /fapi/v1/symbolConfig (a 404 on the
emulator before it served that path)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from slt.adapters.binance.common import weights
from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.credentials import Credentials
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Side
from slt.emulator import Emulator

from emu_helpers import BTC, CONFIG, START_MS, TIMEOUT_S, quote


def test_v3_positions_take_their_leverage_from_symbol_config() -> None:
    async def main() -> None:
        clock = SimulatedClock(START_MS)
        async with Emulator(CONFIG, clock) as emu:
            emu.push_quote(quote(50_000.0, 50_000.1))
            credentials = Credentials(CONFIG.api_key, CONFIG.api_secret)
            rest = RestConfig(base_url=emu.rest_url, time_samples=3)
            async with BinanceHttpClient(rest, clock, credentials) as client:
                gateway = BinanceGateway(
                    client,
                    position_endpoint=weights.POSITION_RISK_V3,
                    balance_endpoint=weights.BALANCE_V3,
                )
                assert await gateway.set_leverage(BTC, 7) == 7
                await gateway.place(
                    OrderRequest("v3-entry", BTC, Side.BUY, OrderType.MARKET, Decimal("0.010"))
                )
                (position,) = await gateway.positions()
                balance = await gateway.balance()
            calls = emu.requests
        assert (position.symbol, position.qty, position.leverage) == (BTC, Decimal("0.010"), 7)
        assert balance.wallet < CONFIG.wallet  # the entry's fee
        assert calls[("GET", "/fapi/v1/symbolConfig")] == 1

    asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))
