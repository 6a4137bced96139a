"""The WebSocket adapter against the team's Binance-protocol emulator (slt.emulator), with the
real REST gateway for the listenKey and for orders. Live clock; every wait is for a condition,
with a generous timeout."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.transport import TransportConfig
from slt.adapters.binance.ws.user import (
    ListenKeyCalls,
    UserDataStream,
    UserSinks,
    UserStreamConfig,
)
from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.domain.account_events import PositionUpdate
from slt.domain.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.values import Quote, Side

emulator_mod = pytest.importorskip("slt.emulator")
Emulator, EmulatorConfig = emulator_mod.Emulator, emulator_mod.EmulatorConfig
Channel, MalformedKind = emulator_mod.Channel, emulator_mod.Malformed

TIMEOUT_S = 15.0
BTC, ETH = "BTCUSDT", "ETHUSDT"
FAST = TransportConfig(backoff_first_ms=50, backoff_cap_ms=400, silence_ms=None,
                       watchdog_tick_ms=20, close_timeout_s=0.5)


async def eventually(pred: Callable[[], bool], what: str) -> None:
    """Poll `pred` until it holds (the emulator has no hook to wait on), or fail."""
    async def loop() -> None:
        while not pred():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(loop(), TIMEOUT_S)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


def run(test: Callable[[Any, LiveClock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = LiveClock()
        emulator = Emulator(EmulatorConfig(), clock)
        await emulator.start()
        try:
            await asyncio.wait_for(test(emulator, clock), 4 * TIMEOUT_S)
        finally:
            await emulator.stop()

    asyncio.run(main())


def quote(clock: LiveClock, symbol: str, bid: float, spread: float = 0.1) -> Quote:
    return Quote(symbol, clock.now_ms(), bid, 1.5, bid + spread, 2.5)


def subscribed(emulator: Any, *symbols: str) -> bool:
    return all(emulator.streams.subscribed(f"{s.lower()}@bookTicker") for s in symbols)


def new_feed(emulator: Any, clock: LiveClock, transport: TransportConfig = FAST
             ) -> tuple[BinanceQuoteFeed, list[Quote]]:
    config = QuoteFeedConfig(streams=StreamsConfig(
        base_url=emulator.ws_url, transport=transport, url_streams_max=1))
    feed = BinanceQuoteFeed(clock, config, rng=random.Random(11))
    heard: list[Quote] = []
    feed.add_listener(heard.append)
    return feed, heard


# -- market data ------------------------------------------------------------------------------


def test_pushed_quotes_reach_the_cache_and_the_listeners_and_survive_a_drop() -> None:
    async def main(emulator: Any, clock: LiveClock) -> None:
        feed, heard = new_feed(emulator, clock)
        await feed.subscribe([BTC, ETH])  # ETH goes by SUBSCRIBE (one stream in the URL)
        await feed.start()
        await eventually(lambda: subscribed(emulator, BTC, ETH), "both streams subscribed")
        q = quote(clock, BTC, 50_000.0)
        emulator.push_quote(q)
        emulator.push_quote(quote(clock, ETH, 3_000.0, 0.01))
        await eventually(lambda: len(heard) == 2, "two quotes at the listener")
        assert heard[0] == q
        cached = feed.latest(BTC)
        assert cached is not None and cached.quote == q and not cached.stale
        t = feed.ticker(ETH)
        assert t is not None and t.u > feed.ticker(BTC).u  # type: ignore[union-attr]

        await emulator.faults.drop_connections()
        await eventually(lambda: feed.stats().reconnects == 1 and subscribed(emulator, BTC, ETH),
                         "reconnected and resubscribed")
        emulator.push_quote(quote(clock, ETH, 3_001.0, 0.01))
        await eventually(lambda: len(heard) == 3, "a quote after the drop")
        assert feed.latest(ETH).quote.bid == 3_001.0  # type: ignore[union-attr]
        stats = feed.stats()
        assert stats.connections[0].drops == 1 and not stats.dropped
        assert stats.control_replies >= 2 and stats.control_errors == 0
        await feed.stop()
        await eventually(lambda: emulator.streams.connections == 0, "closed on stop")

    run(main)


def test_a_silent_emulator_is_noticed_by_the_watchdog() -> None:
    async def main(emulator: Any, clock: LiveClock) -> None:
        feed, heard = new_feed(emulator, clock, replace(FAST, silence_ms=300))
        await feed.subscribe([BTC])
        await feed.start()
        await eventually(lambda: subscribed(emulator, BTC), "subscribed")
        emulator.push_quote(quote(clock, BTC, 50_000.0))
        await eventually(lambda: len(heard) == 1, "first quote")
        emulator.faults.silent = True
        await eventually(lambda: feed.stats().connections[0].silent_teardowns >= 1,
                         "watchdog tore the silent connection down")
        emulator.faults.silent = False
        await eventually(lambda: feed.stats().connections[0].connected
                         and subscribed(emulator, BTC), "reconnected")
        emulator.push_quote(quote(clock, BTC, 50_010.0))
        await eventually(lambda: heard[-1].bid == 50_010.0, "a quote on the new connection")
        assert feed.stats().reconnects >= 1
        await feed.stop()

    run(main)


def test_malformed_messages_from_the_emulator_are_counted_and_dropped() -> None:
    async def main(emulator: Any, clock: LiveClock) -> None:
        feed, heard = new_feed(emulator, clock)
        await feed.subscribe([BTC])
        await feed.start()
        await eventually(lambda: subscribed(emulator, BTC), "subscribed")
        good = quote(clock, BTC, 50_000.0)
        emulator.push_quote(good)
        await eventually(lambda: len(heard) == 1, "a good quote")
        for kind in (MalformedKind.TRUNCATED, MalformedKind.WRONG_TYPES, MalformedKind.NAN):
            emulator.faults.malform_next(kind, 1, Channel.MARKET)
            emulator.push_quote(quote(clock, BTC, 40_000.0))
        emulator.faults.malform_next(MalformedKind.UNKNOWN_EVENT, 1, Channel.MARKET)
        emulator.push_quote(quote(clock, BTC, 50_001.0))  # preceded by an unknown event
        await eventually(lambda: len(heard) == 2, "the good quote after the junk")
        assert [q.bid for q in heard] == [50_000.0, 50_001.0]
        assert dict(feed.stats().dropped) == {
            "truncated": 1, "wrong_type": 1, "non_finite": 1, "unknown_event": 1}
        await feed.stop()

    run(main)


# -- user data with the REST gateway ----------------------------------------------------------


class Rig:
    def __init__(self, emulator: Any, clock: LiveClock, http: BinanceHttpClient,
                 keepalive_ms: int = 30 * 60_000) -> None:
        self.gateway = BinanceGateway(http)
        self.fills: list[Fill] = []
        self.states: list[OrderState] = []
        self.accounts: list[Any] = []
        self.reconciles = 0
        self.gateway.add_fill_listener(self.fills.append)
        gw = self.gateway
        self.stream = UserDataStream(
            clock,
            ListenKeyCalls(gw.create_listen_key, gw.keepalive_listen_key, gw.close_listen_key),
            UserSinks(fill=gw.deliver_fill, order=self.states.append,
                      account=self.accounts.append),
            reconcile=self.reconcile,
            config=UserStreamConfig(base_url=emulator.ws_url, keepalive_ms=keepalive_ms,
                                    transport=FAST),
            rng=random.Random(5),
        )

    async def reconcile(self) -> None:
        self.reconciles += 1
        await self.gateway.positions()  # a real REST round trip, as the bot's reconcile does

    async def buy(self, client_id: str, qty: str = "0.010") -> OrderState:
        return await self.gateway.place(OrderRequest(client_id, BTC, Side.BUY, OrderType.MARKET,
                                                     Decimal(qty)))


def run_user(test: Callable[[Any, LiveClock, Rig], Awaitable[None]], **rig: Any) -> None:
    async def main(emulator: Any, clock: LiveClock) -> None:
        creds = Credentials(emulator.config.api_key, emulator.config.api_secret)
        async with BinanceHttpClient(RestConfig(base_url=emulator.rest_url), clock, creds) as http:
            r = Rig(emulator, clock, http, **rig)
            emulator.push_quote(quote(clock, BTC, 50_000.0))
            await r.stream.start()
            await eventually(lambda: r.reconciles == 1 and r.stream.connection.connected,
                             "user stream connected and reconciled")
            try:
                await test(emulator, clock, r)
            finally:
                await r.stream.stop()

    run(main)


def test_a_fill_on_the_emulator_arrives_once_though_the_event_is_duplicated() -> None:
    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        emulator.faults.duplicate_next_user_event(3)  # NEW, TRADE, ACCOUNT_UPDATE each twice
        state = await r.buy("emu-1")
        assert state.status is OrderStatus.FILLED
        await eventually(lambda: len(r.states) == 4 and len(r.accounts) == 2,
                         "every event, twice")
        assert len(r.fills) == 1
        fill = r.fills[0]
        assert (fill.symbol, fill.client_id, fill.side, fill.qty) == (
            BTC, "emu-1", Side.BUY, Decimal("0.010"))
        assert fill.price == Decimal("50000.1") and fill.fee == Decimal("0.25000050")
        assert fill.order_status is OrderStatus.FILLED and not fill.is_maker
        stats = r.stream.stats()
        assert (stats.fills, stats.duplicate_fills) == (1, 1)
        assert r.accounts[0] == PositionUpdate(BTC, Decimal("0.010"), Decimal("50000.1"), "ORDER",
                                               r.accounts[0].ts_ms)

    run_user(main)


def test_listen_key_expiry_brings_a_new_key_a_reconnect_and_a_reconcile() -> None:
    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        first = r.stream.listen_key
        emulator.faults.expire_listen_key()  # listenKeyExpired goes out on the stream
        await eventually(lambda: r.stream.listen_key not in (None, first) and r.reconciles == 2
                         and r.stream.connection.connected, "new key, reconnected, reconciled")
        await r.buy("emu-2")
        await eventually(lambda: len(r.fills) == 1, "a fill through the new key")
        stats = r.stream.stats()
        assert stats.key_expiries == 1 and stats.connection.requested_reconnects == 1

    run_user(main)


def test_keepalive_refused_with_1125_brings_a_new_key() -> None:
    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        first = r.stream.listen_key
        emulator.faults.silent = True  # the listenKeyExpired event is lost...
        emulator.faults.expire_listen_key()
        emulator.faults.silent = False
        # ...so the next keepalive (PUT) meets -1125 and the stream moves to a new key
        await eventually(lambda: r.stream.listen_key not in (None, first)
                         and r.stream.connection.connected and r.reconciles == 2,
                         "new key after -1125")
        stats = r.stream.stats()
        assert stats.key_expiries == 1 and "listenKeyExpired" not in stats.events
        await r.buy("emu-3")
        await eventually(lambda: len(r.fills) == 1, "a fill through the new key")

    run_user(main, keepalive_ms=200)


def test_a_dropped_user_stream_reconnects_and_reconciles() -> None:
    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        await emulator.faults.drop_connections()
        await eventually(lambda: r.reconciles == 2 and r.stream.connection.connected,
                         "reconnected and reconciled")
        await r.buy("emu-4")
        await eventually(lambda: len(r.fills) == 1, "a fill after the drop")
        assert r.stream.stats().connection.reconnects == 1

    run_user(main)


def test_a_liquidation_on_the_emulator_arrives_as_a_liquidation_fill_and_a_flat_position() -> None:
    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        await r.buy("emu-7")
        await eventually(lambda: len(r.fills) == 1 and len(r.accounts) == 1, "the entry")
        emulator.venue.close_by_exchange(BTC, "autoclose-1767232800100")
        await eventually(lambda: len(r.fills) == 2 and len(r.accounts) == 2, "the liquidation")
        liquidation = r.fills[1]
        assert (liquidation.exec_type, liquidation.side, liquidation.qty) == (
            "LIQUIDATION", Side.SELL, Decimal("0.010"))
        assert (r.accounts[1].symbol, r.accounts[1].amount) == (BTC, Decimal(0))

    run_user(main)


def test_a_stop_expired_by_the_exchange_arrives_as_an_algo_update_that_no_longer_protects() -> None:
    from slt.domain.account_events import AlgoOrderUpdate, AlgoStatus
    from slt.emulator.orders import AlgoStatus as EmulatorAlgoStatus

    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        await r.buy("emu-8")
        await r.gateway.place(OrderRequest("emu-8-s", BTC, Side.SELL, OrderType.STOP_MARKET,
                                           Decimal("0.010"), stop_price=Decimal("45000"),
                                           reduce_only=True))
        algos = lambda: [a for a in r.accounts if isinstance(a, AlgoOrderUpdate)]  # noqa: E731
        await eventually(lambda: len(algos()) == 1, "the stop's NEW")
        emulator.venue.end_algo_outside("emu-8-s", EmulatorAlgoStatus.EXPIRED, "Reduce only")
        await eventually(lambda: len(algos()) == 2, "the stop's EXPIRED")
        expired = algos()[1]
        assert (expired.client_algo_id, expired.status, expired.reason) == (
            "emu-8-s", AlgoStatus.EXPIRED, "Reduce only")
        assert not expired.status.protects and algos()[0].status.protects

    run_user(main)


def test_a_funding_fee_on_the_emulator_arrives_as_a_balance_change_and_moves_the_wallet() -> None:
    from slt.domain.account_events import BalanceChange

    async def main(emulator: Any, clock: LiveClock, r: Rig) -> None:
        before = (await r.gateway.balance()).wallet
        emulator.venue.charge_funding(BTC, Decimal("-0.42"))
        await eventually(lambda: len(r.accounts) == 1, "the FUNDING_FEE update")
        change = r.accounts[0]
        assert isinstance(change, BalanceChange)
        assert (change.asset, change.amount, change.kind, change.symbol) == (
            "USDT", Decimal("-0.42"), "FUNDING_FEE", BTC)
        assert (await r.gateway.balance()).wallet == before - Decimal("0.42")

    run_user(main)
