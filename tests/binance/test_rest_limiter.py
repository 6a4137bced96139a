"""The weight-aware limiter on a simulated clock: accounting, waits, refusals, header correction."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from slt.adapters.binance.common import weights
from slt.adapters.binance.common.schemas import RateLimit
from slt.adapters.binance.common.weights import ORDERS_1M, ORDERS_10S, REQUEST_WEIGHT
from slt.adapters.binance.http.limiter import Limiter, Reservation
from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Side
from slt.ports.order_gateway import GatewayUnavailable

from test_rest_support import BinanceStub, Reply, payload, stub_gateway

MINUTE = 60_000
T0 = 1_700_000_040_000  # 40 s into a minute (1_700_000_000_000 is 20 s past a minute boundary)
NEXT_MINUTE = T0 - T0 % MINUTE + MINUTE


def limiter(clock: SimulatedClock, offset: int = 0, margin: int = 0) -> Limiter:
    return Limiter(clock, server_offset_ms=lambda: offset, margin_ms=margin)


def test_weight_accumulates_within_a_minute_and_resets_at_the_boundary() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    for _ in range(24):
        assert isinstance(lim.try_reserve({REQUEST_WEIGHT: 100}), Reservation)
    assert lim.used(REQUEST_WEIGHT) == 2400
    assert lim.try_reserve({REQUEST_WEIGHT: 1}) == NEXT_MINUTE
    clock.advance(NEXT_MINUTE)
    assert lim.used(REQUEST_WEIGHT) == 0
    assert isinstance(lim.try_reserve({REQUEST_WEIGHT: 1}), Reservation)


def test_the_retry_instant_follows_the_server_clock_and_the_margin() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock, offset=700, margin=250)
    lim.try_reserve({REQUEST_WEIGHT: 2400})
    # The server's minute ends 700 ms earlier on our clock; we wait 250 ms longer than that.
    assert lim.try_reserve({REQUEST_WEIGHT: 1}) == NEXT_MINUTE - 700 + 250


def test_a_data_request_waits_on_the_clock_for_the_next_window() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        lim = limiter(clock)
        await lim.acquire({REQUEST_WEIGHT: 2400}, max_wait_ms=MINUTE)
        waiting = asyncio.ensure_future(lim.acquire({REQUEST_WEIGHT: 40}, max_wait_ms=MINUTE))
        for _ in range(5):
            await asyncio.sleep(0)  # a loop turn: the task reaches its timer (no time passes)
        assert not waiting.done()
        assert clock.next_due_ms == NEXT_MINUTE
        clock.fire_due()
        reservation = await waiting
        assert reservation.windows[REQUEST_WEIGHT] == NEXT_MINUTE
        assert clock.now_ms() == NEXT_MINUTE and lim.used(REQUEST_WEIGHT) == 40

    asyncio.run(main())


def test_a_wait_longer_than_allowed_is_refused() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        lim = limiter(clock)
        await lim.acquire({REQUEST_WEIGHT: 2400}, max_wait_ms=0)
        with pytest.raises(GatewayUnavailable, match="REQUEST_WEIGHT_1M 2400"):
            await lim.acquire({REQUEST_WEIGHT: 1}, max_wait_ms=(NEXT_MINUTE - T0) - 1)
        assert lim.used(REQUEST_WEIGHT) == 2400  # nothing reserved by the refusal

    asyncio.run(main())


def test_orders_are_limited_per_10_seconds_and_per_minute() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    order = weights.NEW_ORDER.costs({})
    assert order == {REQUEST_WEIGHT: 0, ORDERS_10S: 1, ORDERS_1M: 1}
    for _ in range(300):
        assert isinstance(lim.try_reserve(order), Reservation)
    assert lim.try_reserve(order) == T0 + 10_000  # T0 is on a 10 s boundary
    for step in range(1, 4):
        clock.advance(T0 + step * 10_000)
        for _ in range(300):
            lim.try_reserve(order)
    assert lim.used(ORDERS_1M) == 1200
    clock.advance(T0 + 40_000)  # a fresh 10 s window, but the minute is spent
    assert lim.try_reserve(order) == NEXT_MINUTE


def test_a_cost_above_the_limit_can_never_fit() -> None:
    lim = limiter(SimulatedClock(T0))
    with pytest.raises(GatewayUnavailable, match="exceeds"):
        lim.try_reserve({REQUEST_WEIGHT: 2401})


def test_headers_raise_the_count_but_never_lower_it() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    reservation = lim.try_reserve({REQUEST_WEIGHT: 5})
    assert isinstance(reservation, Reservation)
    lim.adopt(reservation, {"X-MBX-USED-WEIGHT-1M": "1800", "X-MBX-ORDER-COUNT-10S": "12"})
    assert lim.used(REQUEST_WEIGHT) == 1800 and lim.used(ORDERS_10S) == 12
    lim.adopt(reservation, {"X-MBX-USED-WEIGHT-1M": "3"})
    assert lim.used(REQUEST_WEIGHT) == 1800
    lim.adopt(reservation, {"X-MBX-USED-WEIGHT-1M": "garbage", "X-MBX-ORDER-COUNT-1M": "-4"})
    assert lim.used(REQUEST_WEIGHT) == 1800 and lim.used(ORDERS_1M) == 0


def test_a_header_counted_in_a_closed_window_is_ignored() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    reservation = lim.try_reserve({REQUEST_WEIGHT: 5})
    assert isinstance(reservation, Reservation)
    clock.advance(NEXT_MINUTE + 5)  # the answer arrives after the boundary
    lim.adopt(reservation, {"X-MBX-USED-WEIGHT-1M": "2300"})
    assert lim.used(REQUEST_WEIGHT) == 0


def test_an_untrusted_weight_header_is_ignored_but_order_counts_are_not() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    reservation = lim.try_reserve(weights.BOOK_TICKER.costs({"symbol": "BTCUSDT"}))
    assert isinstance(reservation, Reservation)
    lim.adopt(reservation, {"X-MBX-USED-WEIGHT-1M": "2000", "X-MBX-ORDER-COUNT-1M": "9"},
              trust_weight=weights.BOOK_TICKER.trusts_weight_header)
    assert lim.used(REQUEST_WEIGHT) == 2 and lim.used(ORDERS_1M) == 9


def test_exchange_info_limits_replace_the_defaults() -> None:
    lim = limiter(SimulatedClock(T0))
    lim.set_limits([RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
                    RateLimit("ORDERS", "SECOND", 10, 600),
                    RateLimit("RAW_REQUESTS", "MINUTE", 5, 61000)])
    assert (lim.limit(REQUEST_WEIGHT), lim.limit(ORDERS_10S), lim.limit(ORDERS_1M)) == (
        6000, 600, 1200)


@pytest.mark.parametrize(
    ("endpoint", "params", "weight"),
    [
        (weights.KLINES, {"limit": 99}, 1),
        (weights.KLINES, {"limit": 100}, 2),
        (weights.KLINES, {"limit": 499}, 2),
        (weights.KLINES, {"limit": 500}, 5),
        (weights.KLINES, {"limit": 1000}, 5),
        (weights.KLINES, {"limit": 1001}, 10),
        (weights.KLINES, {}, 5),  # Binance's default limit is 500
        (weights.BOOK_TICKER, {"symbol": "BTCUSDT"}, 2),
        (weights.BOOK_TICKER, {}, 5),
        (weights.TICKER_24H, {}, 40),
        (weights.OPEN_ORDERS, {}, 40),
        (weights.OPEN_ALGO_ORDERS, {"symbol": "BTCUSDT"}, 1),
        (weights.POSITION_MODE, {}, 30),
        (weights.NEW_ALGO_ORDER, {}, 0),
    ],
)
def test_endpoint_weights(endpoint: weights.Endpoint, params: dict[str, object],
                          weight: int) -> None:
    assert endpoint.costs(params)[REQUEST_WEIGHT] == weight


def test_an_order_write_never_waits_and_is_not_sent_when_the_budget_is_spent() -> None:
    async def main() -> None:
        stub = BinanceStub()
        # The server says the 10 s order budget is gone (another process on the account).
        stub.queue("GET", "/fapi/v1/openOrders", Reply(
            body=[], headers={"X-MBX-ORDER-COUNT-10S": "300", "X-MBX-USED-WEIGHT-1M": "12"}))
        async with stub_gateway(stub) as gateway:
            await gateway.open_orders("BTCUSDT")
            with pytest.raises(GatewayUnavailable, match="ORDERS_10S"):
                await gateway.place(OrderRequest(
                    "c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
        assert not stub.requests("POST", "/fapi/v1/order")

    asyncio.run(main())


def test_a_data_request_refuses_rather_than_wait_beyond_max_wait() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/exchangeInfo", Reply(
            body=payload("live/exchangeInfo__2022-02-19__BTCUSDT_ETHUSDT_BTCUSDT_220325__trimmed"
                         ".json"),
            headers={"X-MBX-USED-WEIGHT-1M": "5999"}))
        async with stub_gateway(stub, max_wait_ms=0) as gateway:
            await gateway.symbol_filters()
            # That recording's account had a 6000-weight tier, which the limiter adopts.
            with pytest.raises(GatewayUnavailable, match="5999"):
                await gateway.ticker_24h()
        assert not stub.requests("GET", "/fapi/v1/ticker/24hr")

    asyncio.run(main())


def test_a_429_holds_only_the_pools_its_request_drew_on() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    lim.back_off({REQUEST_WEIGHT: 5, ORDERS_10S: 0}, retry_after_ms=7_000)
    assert lim.try_reserve({REQUEST_WEIGHT: 1}) == T0 + 7_000
    # an order costs no IP weight: an exit still fits while the weight pool is held
    assert isinstance(lim.try_reserve({REQUEST_WEIGHT: 0, ORDERS_10S: 1}), Reservation)
    clock.advance(T0 + 7_000)
    assert isinstance(lim.try_reserve({REQUEST_WEIGHT: 1}), Reservation)


def test_a_429_without_retry_after_fills_the_window() -> None:
    clock = SimulatedClock(T0)
    lim = limiter(clock)
    lim.back_off({ORDERS_10S: 1, ORDERS_1M: 1}, retry_after_ms=None)
    assert lim.used(ORDERS_10S) == lim.limit(ORDERS_10S)
    # which pool ran out is not said: both count as full, the later window decides
    assert lim.try_reserve({ORDERS_10S: 1, ORDERS_1M: 1}) == NEXT_MINUTE
    assert isinstance(lim.try_reserve({REQUEST_WEIGHT: 1}), Reservation)


def test_a_ban_holds_everything_and_a_data_request_waits_it_out() -> None:
    async def main() -> None:
        clock = SimulatedClock(T0)
        lim = limiter(clock)
        lim.hold(T0 + 30_000)
        with pytest.raises(GatewayUnavailable, match="Retry-After or ban") as refused:
            await lim.acquire({ORDERS_10S: 1}, max_wait_ms=0)
        assert refused.value.retry_at_ms == T0 + 30_000  # when asking again is worth it
        waiting = asyncio.ensure_future(lim.acquire({REQUEST_WEIGHT: 1}, max_wait_ms=60_000))
        await asyncio.sleep(0)
        assert not waiting.done()
        assert clock.fire_due() == T0 + 30_000
        assert isinstance(await waiting, Reservation)

    asyncio.run(main())
