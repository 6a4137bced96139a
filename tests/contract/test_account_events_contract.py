"""What every OrderGateway reports besides fills: the position amount after each change, the
state of conditional (algo) orders, money moved outside a fill, and the orders read back that
explain a position gone flat. The controller converges on these (see PositionController)."""

import asyncio
from decimal import Decimal

from slt.domain.account_events import AlgoOrderUpdate, AlgoStatus, BalanceChange, PositionUpdate
from slt.domain.orders import OrderRequest, OrderStatus, OrderType
from slt.domain.values import Quote, Side

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


def stop(cid: str, price: str) -> OrderRequest:
    return OrderRequest(cid, "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, Decimal("0.010"),
                        stop_price=Decimal(price), reduce_only=True)


def amount_is(qty: str):  # type: ignore[no-untyped-def]
    return lambda e: isinstance(e, PositionUpdate) and e.amount == Decimal(qty)


def test_each_fill_is_followed_by_the_position_amount_it_left(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        await venue.gateway.place(market("a-open", Side.BUY, "0.010"))
        opened = await venue.wait_event(amount_is("0.010"))
        assert opened.symbol == "BTCUSDT" and opened.entry_price == Decimal("50000.1")
        assert opened.cause == "ORDER"
        await venue.gateway.place(market("a-close", Side.SELL, "0.010", reduce_only=True))
        flat = await venue.wait_event(amount_is("0"))
        assert flat.symbol == "BTCUSDT" and flat.ts_ms >= opened.ts_ms

    run(venue_factory, scenario)


def test_a_cancelled_stop_and_a_fired_stop_report_their_algo_status(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        await venue.gateway.place(market("a-entry", Side.BUY, "0.010"))
        await venue.gateway.place(stop("a-stop1", "49000.0"))
        await venue.gateway.cancel("BTCUSDT", "a-stop1")
        cancelled = await venue.wait_event(
            lambda e: isinstance(e, AlgoOrderUpdate) and e.client_algo_id == "a-stop1"
            and not e.status.protects
        )
        assert cancelled.status is AlgoStatus.CANCELED and cancelled.symbol == "BTCUSDT"
        await venue.gateway.place(stop("a-stop2", "49500.0"))
        await venue.push(Quote("BTCUSDT", START_MS + 2_000, 49_499.9, 1.0, 49_500.0, 1.0))
        fired = await venue.wait_event(
            lambda e: isinstance(e, AlgoOrderUpdate) and e.client_algo_id == "a-stop2"
            and e.status is AlgoStatus.FINISHED
        )
        assert fired.symbol == "BTCUSDT"
        await venue.wait_event(amount_is("0"))

    run(venue_factory, scenario)


def test_funding_is_a_balance_change_of_the_symbol(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        await venue.gateway.place(market("a-long", Side.BUY, "0.010"))
        await venue.wait_event(amount_is("0.010"))
        venue.charge_funding("BTCUSDT")
        change = await venue.wait_event(lambda e: isinstance(e, BalanceChange))
        assert (change.kind, change.asset, change.symbol) == ("FUNDING_FEE", "USDT", "BTCUSDT")
        assert change.amount < 0  # the long paid

    run(venue_factory, scenario)


def test_orders_read_back_include_the_exchanges_own_since_a_time(venue_factory) -> None:  # type: ignore[no-untyped-def]
    async def scenario(venue):  # type: ignore[no-untyped-def]
        await venue.gateway.place(market("a-first", Side.BUY, "0.010"))
        await venue.wait_fills(1)
        await venue.push(Quote("BTCUSDT", START_MS + 5_000, 50_010.0, 1.0, 50_010.1, 1.0))
        since = venue.clock.now_ms()
        await venue.gateway.place(market("autoclose-1", Side.SELL, "0.010", reduce_only=True))
        await venue.wait_fills(2)
        orders = await venue.gateway.orders_since("BTCUSDT", since)
        assert [o.client_id for o in orders] == ["autoclose-1"]
        [liquidation] = orders
        assert liquidation.status is OrderStatus.FILLED
        assert liquidation.filled_qty == Decimal("0.010")
        assert liquidation.avg_price == Decimal("50010.0")
        everything = await venue.gateway.orders_since("BTCUSDT", START_MS - 60_000)
        assert [o.client_id for o in everything] == ["a-first", "autoclose-1"]

    run(venue_factory, scenario)
