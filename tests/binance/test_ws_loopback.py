"""The feed and the user stream against a small Binance-like websockets server on 127.0.0.1
(ephemeral port) that the tests can drop, silence and inspect. Live clock, no fixed sleeps: every
wait is for a condition, with a generous timeout."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.transport import TransportConfig, WsConnection, fixed_url
from slt.adapters.binance.ws.user import (
    ListenKeyCalls,
    UserDataStream,
    UserSinks,
    UserStreamConfig,
)
from slt.adapters.clocks.live import LiveClock
from slt.domain.orders import Fill, OrderState, OrderStatus
from slt.domain.values import Quote

TIMEOUT_S = 15.0

FAST = TransportConfig(backoff_first_ms=50, backoff_cap_ms=400, silence_ms=None,
                       watchdog_tick_ms=20, close_timeout_s=0.5, max_sends_per_s=8)


class FakeBinance:
    """Combined streams (`/<route>/stream?streams=...` plus SUBSCRIBE/UNSUBSCRIBE) and the
    user-data path (`/private/ws?listenKey=...`)."""

    def __init__(self) -> None:
        self.subs: dict[ServerConnection, set[str]] = {}
        self.paths: list[str] = []
        self.controls: list[dict[str, Any]] = []
        self.closed: list[str] = []
        self.silent = False
        self.changed = asyncio.Event()
        self._server: Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_all()  # a connection whose reading was paused would hold close() for 10 s
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def notify(self) -> None:
        self.changed.set()

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path  # type: ignore[union-attr]
        query = parse_qs(urlsplit(path).query)
        self.paths.append(path)
        self.subs[ws] = set(query["streams"][0].split("/")) if "streams" in query else set()
        self.notify()
        try:
            async for raw in ws:
                msg = orjson.loads(raw)
                self.controls.append(msg)
                method, params = msg.get("method"), msg.get("params", [])
                if method == "SUBSCRIBE":
                    self.subs[ws].update(params)
                elif method == "UNSUBSCRIBE":
                    self.subs[ws].difference_update(params)
                if not self.silent:
                    await ws.send(orjson.dumps({"result": None, "id": msg.get("id")}).decode())
                self.notify()
        except ConnectionClosed:
            pass
        finally:
            self.subs.pop(ws, None)
            self.closed.append(path)
            self.notify()

    def open_streams(self) -> list[set[str]]:
        return [set(s) for s in self.subs.values()]

    async def push(self, stream: str, data: dict[str, Any]) -> int:
        """Send to every connection carrying `stream`; returns how many got it."""
        frame = orjson.dumps({"stream": stream, "data": data}).decode()
        sent = 0
        for ws, streams in list(self.subs.items()):
            if stream in streams and not self.silent:
                try:
                    await ws.send(frame)
                    sent += 1
                except ConnectionClosed:
                    pass
        return sent

    async def push_user(self, data: dict[str, Any]) -> None:
        for ws in list(self.subs):
            if "/private/" in ws.request.path:  # type: ignore[union-attr]
                await ws.send(orjson.dumps(data).decode())

    def drop_all(self) -> None:
        for ws in list(self.subs):
            ws.transport.abort()

    async def until(self, pred: Callable[[], bool], what: str) -> None:
        """Wait until `pred()` holds: re-checked on every server event, and every 20 ms for
        client-side state the server cannot signal."""
        async def loop() -> None:
            while not pred():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.02)
        try:
            await asyncio.wait_for(loop(), TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for: {what}") from None


def ticker(symbol: str, u: int, bid: float) -> dict[str, Any]:
    return {"e": "bookTicker", "u": u, "s": symbol, "b": f"{bid:.2f}", "B": "1.000",
            "a": f"{bid + 0.1:.2f}", "A": "2.000", "T": 1_767_225_600_000 + u,
            "E": 1_767_225_600_001 + u}


def run(test: Callable[[FakeBinance], Awaitable[None]]) -> None:
    async def main() -> None:
        server = FakeBinance()
        await server.start()
        try:
            await test(server)
        finally:
            await server.stop()
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftover, f"tasks left running after stop(): {leftover}"

    asyncio.run(main())


def feed_for(server: FakeBinance, transport: TransportConfig = FAST, **streams: Any
             ) -> BinanceQuoteFeed:
    config = QuoteFeedConfig(streams=StreamsConfig(base_url=server.url, transport=transport,
                                                   **streams))
    return BinanceQuoteFeed(LiveClock(), config, rng=random.Random(7))


# -- market data ------------------------------------------------------------------------------


def test_quotes_arrive_subscriptions_follow_the_symbol_set_and_survive_a_drop() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server, url_streams_max=1)  # the second stream needs a SUBSCRIBE
        heard: list[Quote] = []
        feed.add_listener(heard.append)
        await feed.subscribe(["BTCUSDT", "ETHUSDT"])
        await feed.start()
        both = {"btcusdt@bookTicker", "ethusdt@bookTicker"}
        await server.until(lambda: server.open_streams() == [both], "subscribed to BTC and ETH")
        assert server.paths[0] == "/public/stream?streams=btcusdt@bookTicker"
        assert server.controls[0]["method"] == "SUBSCRIBE"
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 1, 100.0))
        await server.push("ethusdt@bookTicker", ticker("ETHUSDT", 1, 10.0))
        await server.until(lambda: len(heard) == 2, "two quotes at the listener")
        btc = feed.latest("BTCUSDT")
        assert btc is not None and btc.quote.bid == 100.0 and not btc.stale
        t = feed.ticker("ETHUSDT")
        assert t is not None and (t.u, t.T) == (1, 1_767_225_600_001)

        # runtime changes: SOL added, ETH removed, on the same connection
        await feed.set_symbols(["BTCUSDT", "SOLUSDT"])
        after = {"btcusdt@bookTicker", "solusdt@bookTicker"}
        await server.until(lambda: server.open_streams() == [after], "SOL in, ETH out")
        assert [c["method"] for c in server.controls[-2:]] == ["SUBSCRIBE", "UNSUBSCRIBE"]

        # the server drops us: reconnect, resubscribe, quotes flow again
        server.drop_all()
        await server.until(lambda: len(server.paths) == 2 and server.open_streams() == [after],
                           "reconnected and resubscribed")
        await server.push("solusdt@bookTicker", ticker("SOLUSDT", 5, 150.0))
        await server.until(lambda: feed.latest("SOLUSDT") is not None, "SOL quote after drop")
        stats = feed.stats()
        assert stats.reconnects == 1 and stats.connections[0].drops == 1
        assert stats.control_replies >= 3 and stats.control_errors == 0
        await feed.stop()
        await server.until(lambda: not server.subs, "socket closed on stop")

    run(main)


def test_a_silent_connection_is_torn_down_and_reopened() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server, replace(FAST, silence_ms=300))
        await feed.subscribe(["BTCUSDT"])
        await feed.start()
        await server.until(lambda: len(server.subs) == 1, "connected")
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 1, 100.0))
        await server.until(lambda: feed.latest("BTCUSDT") is not None, "first quote")
        server.silent = True  # the socket stays open, nothing more comes
        await server.until(lambda: len(server.paths) >= 2, "watchdog reconnect")
        server.silent = False
        await server.until(lambda: len(server.subs) == 1, "one live connection")
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 2, 101.0))
        await server.until(lambda: feed.ticker("BTCUSDT").u == 2,  # type: ignore[union-attr]
                           "quote on the new connection")
        conn = feed.stats().connections[0]
        assert conn.silent_teardowns >= 1 and conn.reconnects >= 1
        await feed.stop()

    run(main)


def test_streams_over_the_cap_are_spread_over_several_connections() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server, max_streams_per_connection=2)
        symbols = ["AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT"]
        await feed.subscribe(symbols)
        await feed.start()
        await server.until(lambda: sorted(map(len, server.open_streams())) == [1, 2, 2],
                           "three connections carrying 2+2+1")
        for u, s in enumerate(symbols, 1):
            assert await server.push(f"{s.lower()}@bookTicker", ticker(s, u, 10.0 * u)) == 1
        await server.until(lambda: all(feed.latest(s) for s in symbols), "every quote cached")
        assert len(feed.stats().connections) == 3
        await feed.stop()

    run(main)


def test_rotation_opens_the_replacement_before_closing_the_old_socket() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server, replace(FAST, rotate_after_ms=400))
        await feed.subscribe(["BTCUSDT"])
        await feed.start()
        await server.until(lambda: len(server.closed) >= 1, "first rotation done")
        assert len(server.paths) >= 2  # the new socket was open before the old one closed
        await server.until(lambda: len(server.subs) == 1, "one live connection")
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 9, 100.0))
        await server.until(lambda: feed.latest("BTCUSDT") is not None, "quote after rotation")
        conn = feed.stats().connections[0]
        assert conn.rotations >= 1 and conn.drops == 0 and conn.reconnects == 0
        await feed.stop()

    run(main)


def test_the_server_speaks_garbage_and_the_feed_shrugs() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server)
        await feed.subscribe(["BTCUSDT"])
        await feed.start()
        await server.until(lambda: len(server.subs) == 1, "connected")
        ws = next(iter(server.subs))
        for junk in ("not json", '{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker"',
                     b"\x00\x01binary", '{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker",'
                     '"u":3,"s":"BTCUSDT","b":"NaN","B":"1","a":"1","A":"1"}}'):
            await ws.send(junk)
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 4, 100.0))
        await server.until(lambda: feed.latest("BTCUSDT") is not None, "good quote after junk")
        stats = feed.stats()
        assert dict(stats.dropped) == {"not_json": 2, "truncated": 1, "non_finite": 1}
        assert stats.reconnects == 0
        await feed.stop()

    run(main)


def test_fragmented_frames_are_joined_and_a_failing_listener_loses_nothing_else() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server)
        failures = iter([True, False, False])
        seen: list[float] = []

        def listener(q: Quote) -> None:
            seen.append(q.bid)
            if next(failures, False):
                raise RuntimeError("listener bug")

        feed.add_listener(listener)
        await feed.subscribe(["BTCUSDT"])
        await feed.start()
        await server.until(lambda: len(server.subs) == 1, "connected")
        ws = next(iter(server.subs))
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 1, 100.0))
        frame = orjson.dumps({"stream": "btcusdt@bookTicker",
                              "data": ticker("BTCUSDT", 2, 101.0)}).decode()
        await ws.send([frame[:7], frame[7:40], frame[40:]])  # one message in three frames
        await server.push("btcusdt@bookTicker", ticker("BTCUSDT", 3, 102.0))
        await server.until(lambda: len(seen) == 3, "three quotes")
        assert seen == [100.0, 101.0, 102.0]
        stats = feed.stats()
        assert stats.listener_errors == 1 and not stats.dropped and stats.reconnects == 0
        assert stats.connections[0].messages == 3
        await feed.stop()

    run(main)


def test_a_failing_frame_handler_is_counted_and_the_connection_keeps_reading() -> None:
    async def main(server: FakeBinance) -> None:
        got: list[bytes] = []

        def handler(raw: bytes, recv_ms: int) -> None:
            got.append(raw)
            if len(got) == 1:
                raise ValueError("handler bug")

        conn = WsConnection("t", LiveClock(), fixed_url(
            f"{server.url}/public/stream?streams=btcusdt@bookTicker"), handler, FAST,
            rng=random.Random(1))
        conn.start()
        await server.until(lambda: len(server.subs) == 1, "connected")
        for u in (1, 2):
            await server.push("btcusdt@bookTicker", ticker("BTCUSDT", u, 100.0))
        await server.until(lambda: len(got) == 2, "both frames")
        stats = conn.stats()
        assert (stats.handler_errors, stats.messages, stats.drops) == (1, 2, 0)
        assert orjson.loads(got[1])["data"]["u"] == 2
        await conn.stop()

    run(main)


# -- user data --------------------------------------------------------------------------------


class Rest:
    """The gateway's listenKey calls and the bot's reconcile, recorded."""

    def __init__(self) -> None:
        self.keys = 0
        self.keepalives = 0
        self.reconciles = 0
        self.fail_keepalive_with: BaseException | None = None
        self.key = "key0"

    async def create(self) -> str:
        self.keys += 1
        return self.key

    async def keepalive(self) -> None:
        self.keepalives += 1
        if self.fail_keepalive_with is not None:
            exc, self.fail_keepalive_with = self.fail_keepalive_with, None
            raise exc

    async def reconcile(self) -> None:
        self.reconciles += 1


class ListenKeyGone(Exception):
    code = -1125


def trade(t: int, status: str = "FILLED", asset: str = "USDT") -> dict[str, Any]:
    return {"e": "ORDER_TRADE_UPDATE", "E": 1_767_225_601_002, "T": 1_767_225_601_000,
            "o": {"s": "BTCUSDT", "c": "slt-1", "S": "BUY", "o": "MARKET", "f": "GTC",
                  "q": "0.010", "p": "0", "ap": "94000.0", "sp": "0", "x": "TRADE", "X": status,
                  "i": 77, "l": "0.010", "z": "0.010", "L": "94000.0", "N": asset,
                  "n": "0.37600000", "T": 1_767_225_601_000, "t": t, "m": False, "R": False,
                  "ps": "BOTH", "rp": "0", "er": 0}}


def user_stream(server: FakeBinance, rest: Rest, sinks: UserSinks, **config: Any
                ) -> UserDataStream:
    cfg = UserStreamConfig(base_url=server.url, transport=replace(FAST, silence_ms=None),
                           **config)
    keys = ListenKeyCalls(create=rest.create, keepalive=rest.keepalive)
    return UserDataStream(LiveClock(), keys, sinks, rest.reconcile, cfg, rng=random.Random(3),
                          fee_to_usdt=lambda asset, fee: fee * 600 if asset == "BNB" else None)


def test_user_stream_fills_once_states_reconcile_and_listen_key_expiry() -> None:
    async def main(server: FakeBinance) -> None:
        rest = Rest()
        fills: list[Fill] = []
        states: list[OrderState] = []
        stream = user_stream(server, rest, UserSinks(fill=fills.append, order=states.append),
                             events=("ORDER_TRADE_UPDATE", "listenKeyExpired"))
        await stream.start()
        await server.until(lambda: rest.reconciles == 1 and len(server.subs) == 1, "connected")
        assert server.paths == [
            "/private/ws?listenKey=key0&events=ORDER_TRADE_UPDATE/listenKeyExpired"]

        await server.push_user(trade(1001))
        await server.push_user(trade(1001))  # the same event twice
        await server.push_user(trade(1002, asset="BNB"))
        await server.until(lambda: len(states) == 3, "three order updates")
        assert [f.trade_id for f in fills] == [1001, 1002]
        assert fills[0].fee == Decimal("0.37600000") and fills[0].qty == Decimal("0.010")
        assert fills[1].fee == Decimal("0.37600000") * 600  # BNB converted by the hook
        assert states[0].status is OrderStatus.FILLED

        rest.key = "key1"
        await server.push_user({"e": "listenKeyExpired", "E": 1, "listenKey": "key0"})
        await server.until(lambda: rest.reconciles == 2 and len(server.subs) == 1
                           and "key1" in server.paths[-1], "new key, reconnected, reconciled")
        await server.push_user(trade(1001))  # replayed after the reconnect: still once
        await server.push_user(trade(1003))
        await server.until(lambda: len(states) == 5, "more order updates")
        assert [f.trade_id for f in fills] == [1001, 1002, 1003]
        stats = stream.stats()
        assert (stats.fills, stats.duplicate_fills, stats.key_expiries) == (3, 2, 1)
        assert (stats.non_usdt_fees, stats.unconverted_fees) == (1, 0)
        assert stats.connection.requested_reconnects == 1 and rest.keys == 2
        await stream.stop()
        await server.until(lambda: not server.subs, "closed on stop")

    run(main)


def test_keepalive_failure_with_1125_creates_a_new_key_and_reconnects() -> None:
    async def main(server: FakeBinance) -> None:
        rest = Rest()
        stream = user_stream(server, rest, UserSinks(fill=lambda f: None), keepalive_ms=100,
                             keepalive_retry_ms=100)
        await stream.start()
        await server.until(lambda: rest.keepalives >= 1, "a keepalive went out")
        rest.fail_keepalive_with = ConnectionError("503")
        await server.until(lambda: stream.stats().keepalive_failures == 1, "transient failure")
        assert len(server.paths) == 1  # a transient failure does not reconnect
        rest.key = "key2"
        rest.fail_keepalive_with = ListenKeyGone("This listenKey does not exist.")
        await server.until(lambda: len(server.paths) == 2 and rest.reconciles == 2,
                           "reconnected with a new key")
        assert server.paths[-1] == "/private/ws?listenKey=key2"
        assert stream.stats().key_expiries == 1
        await stream.stop()

    run(main)


def test_user_stream_survives_a_drop_and_a_broken_sink() -> None:
    async def main(server: FakeBinance) -> None:
        rest = Rest()
        got: list[int] = []

        def sink(fill: Fill) -> None:
            got.append(fill.trade_id)
            if fill.trade_id == 1:
                raise RuntimeError("bug downstream")

        stream = user_stream(server, rest, UserSinks(fill=sink))
        await stream.start()
        await server.until(lambda: len(server.subs) == 1, "connected")
        await server.push_user(trade(1))
        await server.push_user({"e": "ORDER_TRADE_UPDATE", "E": 1, "fs": "UM"})  # no `o`
        await server.push_user(trade(2))
        await server.until(lambda: got == [1, 2], "both fills")
        server.drop_all()
        await server.until(lambda: rest.reconciles == 2 and len(server.subs) == 1,
                           "reconnected and reconciled")
        await server.push_user(trade(3))
        await server.until(lambda: got == [1, 2, 3], "fill after the drop")
        stats = stream.stats()
        assert stats.sink_errors == 1 and dict(stats.dropped) == {"missing_field": 1}
        assert stats.connection.reconnects == 1 and rest.keys == 2
        await stream.stop()

    run(main)


def test_a_quiet_user_stream_is_probed_not_dropped_and_a_dead_one_is_replaced() -> None:
    async def main(server: FakeBinance) -> None:
        rest = Rest()
        probing = replace(FAST, silence_ms=100, silence_probe=True, probe_timeout_ms=300)
        stream = UserDataStream(
            LiveClock(), ListenKeyCalls(create=rest.create, keepalive=rest.keepalive),
            UserSinks(fill=lambda f: None), rest.reconcile,
            UserStreamConfig(base_url=server.url, transport=probing), rng=random.Random(3))
        await stream.start()
        await server.until(lambda: stream.stats().connection.probes >= 3, "answered probes")
        assert len(server.paths) == 1  # quiet but alive: kept
        for ws in server.subs:
            ws.transport.pause_reading()  # the peer stops answering pings
        await server.until(lambda: len(server.paths) == 2, "dead connection replaced")
        assert stream.stats().connection.silent_teardowns == 1
        await stream.stop()

    run(main)


def test_server_pings_are_answered_without_client_keepalive_pings() -> None:
    async def main(server: FakeBinance) -> None:
        feed = feed_for(server)  # ping_interval None: no pings of our own
        await feed.subscribe(["BTCUSDT"])
        await feed.start()
        await server.until(lambda: len(server.subs) == 1, "connected")
        ws = next(iter(server.subs))
        for _ in range(3):  # as Binance does every 3 minutes
            latency = await asyncio.wait_for(await ws.ping(), TIMEOUT_S)
            assert latency >= 0
        assert feed.stats().connections[0].sent == 0  # nothing sent but pongs
        await feed.stop()

    run(main)
