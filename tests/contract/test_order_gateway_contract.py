"""What every OrderGateway and PriceFeed must do, whatever is behind them."""

import asyncio
from decimal import Decimal

import pytest

from slt.domain.orders import OrderRequest, OrderStatus, OrderType
from slt.domain.values import Quote, Side
from slt.ports.order_gateway import OrderRejected

from .conftest import START_MS


def run(venue_factory, scenario):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        async with venue_factory() as venue:
            await venue.push(Quote("BTCUSDT", START_MS, 50_000.0, 2.0, 50_000.1, 3.0))
            return await scenario(venue)

    return asyncio.run(main())


def market(cid: str, side: Side, qty: str, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        cid, "BTCUSDT", side, OrderType.MARKET, Decimal(qty), reduce_only=reduce_only
    )


def test_feed_serves_the_latest_quote(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        seen = []
        venue.feed.add_listener(seen.append)
        await venue.push(Quote("BTCUSDT", START_MS + 1_000, 50_010.0, 1.0, 50_010.1, 1.0))
        latest = venue.feed.latest("BTCUSDT")
        assert latest is not None and latest.quote.bid == 50_010.0 and not latest.stale
        assert [q.bid for q in seen] == [50_010.0]
        assert venue.feed.latest("ETHUSDT") is None

    run(venue_factory, scenario)


def test_market_order_fills_at_the_touch_and_reports_one_fill(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        state = await venue.gateway.place(market("c-buy-1", Side.BUY, "0.010"))
        assert state.client_id == "c-buy-1"
        fills = await venue.wait_fills(1)
        assert fills[0].client_id == "c-buy-1" and fills[0].price == Decimal("50000.1")
        assert fills[0].qty == Decimal("0.010")
        [position] = await venue.gateway.positions()
        assert position.symbol == "BTCUSDT" and position.qty == Decimal("0.010")
        queried = await venue.gateway.query("BTCUSDT", "c-buy-1")
        assert queried is not None and queried.status is OrderStatus.FILLED
        assert queried.filled_qty == Decimal("0.010")

    run(venue_factory, scenario)


def test_query_of_an_order_never_sent_is_none(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        assert await venue.gateway.query("BTCUSDT", "never-sent") is None

    run(venue_factory, scenario)


def test_reduce_only_without_a_position_is_rejected(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        with pytest.raises(OrderRejected) as info:
            await venue.gateway.place(market("c-ro", Side.SELL, "0.010", reduce_only=True))
        assert info.value.code == -2022

    run(venue_factory, scenario)


def test_filter_violations_are_rejected_with_binance_codes(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        with pytest.raises(OrderRejected) as info:
            await venue.gateway.place(market("c-notional", Side.BUY, "0.0001"))
        assert info.value.code in (-4003, -4004, -4023, -1111)
        with pytest.raises(OrderRejected) as info:
            await venue.gateway.place(
                OrderRequest("c-unknown", "NOPEUSDT", Side.BUY, OrderType.MARKET, Decimal(1))
            )
        assert info.value.code == -1121

    run(venue_factory, scenario)


def test_protective_stop_rests_then_fires_and_closes_the_position(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        await venue.gateway.place(market("c-entry", Side.BUY, "0.010"))
        stop = OrderRequest(
            "c-stop",
            "BTCUSDT",
            Side.SELL,
            OrderType.STOP_MARKET,
            Decimal("0.010"),
            stop_price=Decimal("49500.0"),
            reduce_only=True,
        )
        state = await venue.gateway.place(stop)
        assert state.status is OrderStatus.NEW
        await venue.push(Quote("BTCUSDT", START_MS + 2_000, 49_600.0, 1.0, 49_600.1, 1.0))
        assert len(venue.fills) == 1
        await venue.push(Quote("BTCUSDT", START_MS + 3_000, 49_499.9, 1.0, 49_500.0, 1.0))
        fills = await venue.wait_fills(2)
        assert fills[1].client_id == "c-stop" and fills[1].price == Decimal("49499.9")
        assert fills[1].realized_pnl == (Decimal("49499.9") - Decimal("50000.1")) * Decimal("0.010")
        assert await venue.gateway.positions() == []

    run(venue_factory, scenario)


def test_cancel_removes_a_working_order_and_a_second_cancel_is_rejected(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        limit = OrderRequest(
            "c-limit",
            "BTCUSDT",
            Side.BUY,
            OrderType.LIMIT,
            Decimal("0.010"),
            price=Decimal("49000.0"),
        )
        assert (await venue.gateway.place(limit)).status is OrderStatus.NEW
        canceled = await venue.gateway.cancel("BTCUSDT", "c-limit")
        assert canceled.status is OrderStatus.CANCELED
        with pytest.raises(OrderRejected) as info:
            await venue.gateway.cancel("BTCUSDT", "c-limit")
        assert info.value.code == -2011

    run(venue_factory, scenario)


def test_balance_moves_by_fees_and_realised_pnl(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        before = await venue.gateway.balance()
        await venue.gateway.place(market("c-in", Side.BUY, "0.010"))
        await venue.push(Quote("BTCUSDT", START_MS + 5_000, 50_100.0, 1.0, 50_100.1, 1.0))
        await venue.gateway.place(market("c-out", Side.SELL, "0.010", reduce_only=True))
        fills = await venue.wait_fills(2)
        after = await venue.gateway.balance()
        fees = sum(f.fee for f in fills)
        pnl = (Decimal("50100.0") - Decimal("50000.1")) * Decimal("0.010")
        assert after.wallet - before.wallet == pnl - fees

    run(venue_factory, scenario)


def test_symbol_filters_and_leverage(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        filters = await venue.gateway.symbol_filters()
        assert filters["BTCUSDT"].tick_size == Decimal("0.1")
        assert await venue.gateway.set_leverage("BTCUSDT", 7) == 7

    run(venue_factory, scenario)
