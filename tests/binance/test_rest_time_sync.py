"""Server-time offset (median of samples, lazy refresh) and the -1021 resync-and-retry rule."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator
from decimal import Decimal

import pytest

from slt.adapters.binance.common import weights
from slt.adapters.binance.common.errors import ClockSkewRejected
from slt.adapters.binance.http.time_sync import TimeSync
from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.breaker import FailureKind
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Side
from slt.ports.order_gateway import ExchangeDown

from test_rest_support import (
    LOCAL_MS,
    BinanceStub,
    Reply,
    error,
    payload,
    stub_client,
    stub_gateway,
)

SKEW = error(-1021, "Timestamp for this request is outside of the recvWindow.")


@types.coroutine
def _other_tasks_run() -> Generator[None, None, None]:
    """Give the event loop one turn, as a real round trip would (no timing involved)."""
    yield


class ScriptedServer:
    """Answers /time with `local + offset`, after a round trip of `rtt` ms on the clock."""

    def __init__(self, clock: SimulatedClock, samples: list[tuple[int, int]]) -> None:
        self.clock = clock
        self.samples = list(samples)  # (offset, round trip)
        self.calls = 0

    async def fetch(self) -> int:
        offset, rtt = self.samples[self.calls % len(self.samples)]
        self.calls += 1
        await _other_tasks_run()
        sent = self.clock.now_ms()
        self.clock.advance(sent + rtt)
        return sent + rtt // 2 + offset


def test_offset_is_the_median_of_the_samples() -> None:
    async def main() -> None:
        clock = SimulatedClock(LOCAL_MS)
        # One sample met a 4 s stall on the way back: its offset is way off, the median is not.
        server = ScriptedServer(clock, [(300, 20), (310, 40), (-1700, 4000), (290, 10), (305, 30)])
        sync = TimeSync(clock, server.fetch, samples=5)
        await sync.sync()
        assert sync.offset_ms == 300
        assert sync.server_now_ms() == clock.now_ms() + 300

    asyncio.run(main())


def test_offset_is_refreshed_only_when_stale() -> None:
    async def main() -> None:
        clock = SimulatedClock(LOCAL_MS)
        server = ScriptedServer(clock, [(500, 0)])
        sync = TimeSync(clock, server.fetch, samples=3, refresh_ms=60_000)
        await sync.ensure_fresh()
        assert (server.calls, sync.offset_ms) == (3, 500)
        clock.advance(LOCAL_MS + 59_000)
        await sync.ensure_fresh()
        assert server.calls == 3
        server.samples = [(-200, 0)]
        clock.advance(LOCAL_MS + 60_000)
        await sync.ensure_fresh()
        assert sync.offset_ms == 500  # the caller does not wait: the refresh runs beside it
        await clock.settle()
        assert (server.calls, sync.offset_ms) == (6, -200)

    asyncio.run(main())


def test_concurrent_syncs_share_one_measurement() -> None:
    async def main() -> None:
        clock = SimulatedClock(LOCAL_MS)
        server = ScriptedServer(clock, [(40, 2)])
        sync = TimeSync(clock, server.fetch, samples=3)
        await asyncio.gather(sync.sync(), sync.sync(), sync.ensure_fresh())
        assert server.calls == 3 and sync.offset_ms == 40

    asyncio.run(main())


def test_a_failed_sync_raises_and_keeps_the_old_offset() -> None:
    async def main() -> None:
        clock = SimulatedClock(LOCAL_MS)

        async def down() -> int:
            raise ExchangeDown(FailureKind.NETWORK, "down")

        sync = TimeSync(clock, down)
        with pytest.raises(ExchangeDown):
            await sync.sync()
        assert not sync.synced and sync.offset_ms == 0

    asyncio.run(main())


def test_a_get_is_retried_once_after_minus_1021_with_a_fresh_offset() -> None:
    async def main() -> None:
        stub = BinanceStub(server_ahead_ms=1_000)
        stub.queue("GET", "/fapi/v2/balance", SKEW, Reply(body=payload(
            "docs/balance__docs-example.json")))
        async with stub_client(stub) as client:
            result = await client.send(weights.BALANCE_V2)
        assert result[0]["asset"] == "USDT"
        assert len(stub.requests("GET", "/fapi/v2/balance")) == 2
        # 3 samples before the first signed request, 3 more after the -1021.
        assert len(stub.requests("GET", "/fapi/v1/time")) == 6
        paths = [s.path for s in stub.seen]
        assert paths[3] == "/fapi/v2/balance" and paths[-1] == "/fapi/v2/balance"
        assert paths[4:7] == ["/fapi/v1/time"] * 3

    asyncio.run(main())


def test_a_get_is_retried_only_once() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.always("GET", "/fapi/v2/balance", SKEW)
        async with stub_client(stub) as client:
            with pytest.raises(ClockSkewRejected) as raised:
                await client.send(weights.BALANCE_V2)
        assert raised.value.code == -1021
        assert len(stub.requests("GET", "/fapi/v2/balance")) == 2

    asyncio.run(main())


def test_an_order_write_is_never_retried_but_time_is_resynced() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("POST", "/fapi/v1/order", SKEW)
        stub.queue("POST", "/fapi/v1/algoOrder", SKEW)
        async def time_requests(n: int) -> None:
            # the resync runs in the background: wait for it (bounded), do not assume timing
            for _ in range(500):
                if len(stub.requests("GET", "/fapi/v1/time")) >= n:
                    return
                await asyncio.sleep(0.01)

        async with stub_gateway(stub) as gateway:
            with pytest.raises(ClockSkewRejected):
                await gateway.place(OrderRequest(
                    "c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
            await time_requests(6)
            with pytest.raises(ClockSkewRejected):
                await gateway.place(OrderRequest(
                    "c2", "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, Decimal("0.01"),
                    stop_price=Decimal(60000), reduce_only=True))
            await time_requests(9)
        assert len(stub.requests("POST", "/fapi/v1/order")) == 1
        assert len(stub.requests("POST", "/fapi/v1/algoOrder")) == 1
        assert len(stub.requests("GET", "/fapi/v1/time")) == 3 + 3 + 3

    asyncio.run(main())
