"""WebSocket market and user-data streams on Binance's routes (BINANCE.md §7, §8).

Routes: `/public/...` delivers bookTicker, trade (and depth) streams, `/market/...` klines,
aggregate trades, tickers and mark prices, `/private/...` user data. Each serves raw
`/ws/<stream>[/<stream>...]` and combined `/stream?streams=a/b` connections, and takes
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY frames. A stream
subscribed on the wrong route is accepted and stays silent, as on Binance; the legacy root
`/ws` and `/stream` deliver only `/public` streams, and `/ws/<listenKey>` user data. A path
segment that names no stream (`/market/ws/0`) is the client's own connection id: accepted, as
Binance accepts it, and ignored.

Limits as Binance's: at most `ws_max_streams` streams per connection, `ws_max_incoming_per_s`
incoming frames per second (more closes the connection with 1008), server pings every
`ws_heartbeat_s` (no pong within half of that closes it). aiohttp answers pings itself, so
only text and binary frames count towards the message rate.

Fault switches live here because they act on what is sent: `silent` (nothing is sent, nothing
closes), `malform_next` and `duplicate_next_user_event`.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from slt.emulator import errors
from slt.emulator.config import EmulatorConfig
from slt.emulator.listen_keys import LISTEN_KEY_LENGTH, ListenKeys
from slt.emulator.payloads import Json
from slt.ports.clock import Clock

_STREAM_NAME = re.compile(r"(![A-Za-z]+|[a-z0-9_]+@[A-Za-z0-9_]+)(@[A-Za-z0-9_]+)*")
_PUBLIC_STREAM = re.compile(r"bookTicker|@depth|@rpiDepth|@trade$")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class Route(StrEnum):
    PUBLIC = "public"
    MARKET = "market"
    PRIVATE = "private"
    ROOT = "root"  # the legacy unrouted URLs


class Channel(StrEnum):
    MARKET = "market"
    USER = "user"


class Malformed(StrEnum):
    TRUNCATED = "truncated"  # the message cut in half: invalid JSON
    WRONG_TYPES = "wrong_types"  # decimal strings sent as numbers, integers as strings
    NAN = "nan"  # every decimal string replaced by "NaN"
    UNKNOWN_EVENT = "unknown_event"  # an extra event of an unknown type before the message


def _looks_like_stream(segment: str) -> bool:
    return "@" in segment or segment.startswith("!")


def delivered_on(route: Route, stream: str) -> bool:
    public = _PUBLIC_STREAM.search(stream) is not None
    return route in (Route.PUBLIC, Route.ROOT) if public else route is Route.MARKET


@dataclass(eq=False)
class Connection:
    request: web.Request
    ws: web.WebSocketResponse
    route: Route
    combined: bool
    streams: dict[str, None] = field(default_factory=dict)  # an ordered set
    listen_keys: dict[str, None] = field(default_factory=dict)
    events: frozenset[str] | None = None  # user events wanted; None: all
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    window_s: int = -1
    received: int = 0


class StreamHub:
    def __init__(self, config: EmulatorConfig, clock: Clock, listen_keys: ListenKeys) -> None:
        self.silent = False
        self.opened = 0  # connections accepted since start (reconnections show here)
        self._config = config
        self._clock = clock
        self._keys = listen_keys
        self._connections: set[Connection] = set()
        self._by_stream: dict[str, set[Connection]] = {}
        self._malformed: dict[Channel, deque[Malformed]] = {c: deque() for c in Channel}
        self._duplicates = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def connections(self) -> int:
        return len(self._connections)

    # -- faults ----------------------------------------------------------------------------

    def malform_next(self, kind: Malformed, count: int, channel: Channel) -> None:
        self._malformed[channel].extend([kind] * count)

    def duplicate_next_user_event(self, count: int) -> None:
        self._duplicates += count

    def clear_faults(self) -> None:
        self.silent = False
        self._duplicates = 0
        for pending in self._malformed.values():
            pending.clear()

    async def drop_all(self, *, abrupt: bool) -> None:
        """Close every connection: `abrupt` cuts TCP (the client sees 1006), else 1001."""
        for conn in list(self._connections):
            if abrupt and conn.request.transport is not None:
                conn.request.transport.abort()
            else:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator: dropped")

    # -- publishing ------------------------------------------------------------------------

    def subscribed(self, prefix: str) -> list[str]:
        return [s for s, conns in self._by_stream.items() if conns and s.startswith(prefix)]

    def publish(self, stream: str, build: Callable[[], Json]) -> None:
        """Send a market message to its subscribers; `build` runs only if there are some."""
        targets = [c for c in self._by_stream.get(stream, ()) if delivered_on(c.route, stream)]
        if not targets or self.silent:
            return
        frames = self._frames(Channel.MARKET, build())
        for conn in targets:
            for payload, truncate in frames:
                self._send(conn, self._text(conn, stream, payload, truncate))

    def publish_user(self, event: Json) -> None:
        targets = [
            (conn, key)
            for conn in self._connections
            for key in conn.listen_keys
            if self._keys.is_active(key) and (conn.events is None or event["e"] in conn.events)
        ]
        if not targets or self.silent:
            return
        copies = 1
        if self._duplicates:
            self._duplicates -= 1
            copies = 2
        frames = self._frames(Channel.USER, event)
        for conn, key in targets:
            for _ in range(copies):
                for payload, truncate in frames:
                    self._send(conn, self._text(conn, key, payload, truncate))

    def announce_expiry(self, key: str, event: Json) -> None:
        """listenKeyExpired to the connections that used `key` (no longer active by now)."""
        if self.silent:
            return
        for conn in [c for c in self._connections if key in c.listen_keys]:
            self._send(conn, self._text(conn, key, event, False))

    def _frames(self, channel: Channel, payload: Json) -> list[tuple[Json, bool]]:
        pending = self._malformed[channel]
        if not pending:
            return [(payload, False)]
        kind = pending.popleft()
        if kind is Malformed.TRUNCATED:
            return [(payload, True)]
        if kind is Malformed.WRONG_TYPES:
            return [(_retyped(payload), False)]
        if kind is Malformed.NAN:
            return [(_nan(payload), False)]
        unknown = {"e": "EMULATOR_UNKNOWN_EVENT", "E": self._clock.now_ms()}
        return [(unknown, False), (payload, False)]

    def _text(self, conn: Connection, stream: str, payload: Json, truncate: bool) -> str:
        body = {"stream": stream, "data": payload} if conn.combined else payload
        text = orjson.dumps(body).decode()
        return text[: len(text) // 2] if truncate else text

    def _send(self, conn: Connection, text: str) -> None:
        if conn.outbox.qsize() >= self._config.ws_outbox_max:
            self._close_later(conn, WSCloseCode.POLICY_VIOLATION, b"client too slow")
            return
        conn.outbox.put_nowait(text)

    # -- connections -----------------------------------------------------------------------

    async def handle(
        self, request: web.Request, route: Route, combined: bool
    ) -> web.StreamResponse:
        try:
            streams, keys, events = self._url_subscriptions(request, route, combined)
        except errors.ApiError as refused:
            return web.json_response(refused.body(), status=refused.status)
        ws = web.WebSocketResponse(heartbeat=self._config.ws_heartbeat_s)
        await ws.prepare(request)
        conn = Connection(request, ws, route, combined, events=events)
        self._connections.add(conn)
        self.opened += 1
        self._subscribe(conn, streams)
        conn.listen_keys.update(dict.fromkeys(keys))
        writer = asyncio.get_running_loop().create_task(self._write(conn))
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                if not self._within_rate(conn):
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Too many messages")
                    break
                if msg.type is WSMsgType.TEXT:
                    reply = self._control(conn, msg.data)
                    if not self.silent:
                        self._send(conn, orjson.dumps(reply).decode())
        finally:
            self._connections.discard(conn)
            self._unsubscribe(conn, list(conn.streams))
            writer.cancel()
        return ws

    async def close_all(self) -> None:
        await self.drop_all(abrupt=False)
        for task in list(self._tasks):
            await task

    def _url_subscriptions(
        self, request: web.Request, route: Route, combined: bool
    ) -> tuple[list[str], list[str], frozenset[str] | None]:
        tail = [s for s in request.match_info.get("tail", "").split("/") if s]
        keys = request.query.getall("listenKey", [])
        if route is Route.PRIVATE:
            keys, tail = keys + tail, []
        names = [s for s in tail if _looks_like_stream(s)]
        others = [s for s in tail if not _looks_like_stream(s)]
        if route is Route.ROOT:
            keys += [s for s in others if len(s) == LISTEN_KEY_LENGTH]
        # Any other path segment is a client's own connection id (ccxt opens `/ws/0`, `/ws/1`,
        # ... and subscribes by frame): Binance accepts it and streams nothing for it.
        if combined:
            names += [s for s in request.query.get("streams", "").split("/") if s]
        for key in keys:
            if not self._keys.is_active(key):
                raise errors.api_error(errors.INVALID_LISTEN_KEY)
        self._check_names(names, 0)
        wanted = request.query.get("events")
        return names, keys, frozenset(wanted.split("/")) if wanted else None

    def _check_names(self, names: Iterable[str], already: int) -> None:
        names = list(names)
        bad = next((n for n in names if not _STREAM_NAME.fullmatch(n)), None)
        if bad is not None:
            raise errors.ApiError(2, f"Invalid request: invalid stream name '{bad}'")
        if already + len(names) > self._config.ws_max_streams:
            raise errors.ApiError(
                2, f"Invalid request: at most {self._config.ws_max_streams} streams per connection"
            )

    def _control(self, conn: Connection, text: str) -> Json:
        """Answer one control frame: {"result": ..., "id": n} or {"code", "msg", "id"}."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"code": 3, "msg": "Invalid JSON: expected a JSON object", "id": None}
        if not isinstance(msg, dict):
            return {"code": 3, "msg": "Invalid JSON: expected a JSON object", "id": None}
        ident = msg.get("id")
        if not (isinstance(ident, int) and not isinstance(ident, bool) and ident >= 0):
            return {
                "code": 2,
                "msg": "Invalid request: request ID must be an unsigned integer",
                "id": ident,
            }
        try:
            return {"result": self._method(conn, msg.get("method"), msg.get("params")), "id": ident}
        except errors.ApiError as refused:
            return {**refused.body(), "id": ident}

    def _method(self, conn: Connection, method: object, params: object) -> object:
        if method == "LIST_SUBSCRIPTIONS":
            return list(conn.listen_keys) if conn.route is Route.PRIVATE else list(conn.streams)
        if method == "SET_PROPERTY":
            if params not in (["combined", True], ["combined", False]):
                raise errors.ApiError(1, "Invalid value type: expected ['combined', true|false]")
            conn.combined = params == ["combined", True]
            return None
        if method == "GET_PROPERTY":
            if params != ["combined"]:
                raise errors.ApiError(0, "Unknown property")
            return conn.combined
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            raise errors.ApiError(2, f"Invalid request: unknown method {method!r}")
        if not (isinstance(params, list) and all(isinstance(p, str) for p in params)):
            raise errors.ApiError(2, "Invalid request: 'params' must be a list of strings")
        if conn.route is Route.PRIVATE:
            self._private_subscription(conn, method, params)
        elif method == "SUBSCRIBE":
            new = [p for p in params if p not in conn.streams]
            self._check_names(new, len(conn.streams))
            self._subscribe(conn, new)
        else:
            self._unsubscribe(conn, params)
        return None

    def _private_subscription(self, conn: Connection, method: object, keys: list[str]) -> None:
        if method == "UNSUBSCRIBE":
            for key in keys:
                conn.listen_keys.pop(key, None)
            return
        for key in keys:
            if not self._keys.is_active(key):
                raise errors.api_error(errors.INVALID_LISTEN_KEY)
        conn.listen_keys.update(dict.fromkeys(keys))

    def _subscribe(self, conn: Connection, streams: Iterable[str]) -> None:
        for stream in streams:
            conn.streams[stream] = None
            self._by_stream.setdefault(stream, set()).add(conn)

    def _unsubscribe(self, conn: Connection, streams: Iterable[str]) -> None:
        for stream in streams:
            conn.streams.pop(stream, None)
            self._by_stream.get(stream, set()).discard(conn)

    def _within_rate(self, conn: Connection) -> bool:
        second = self._clock.now_ms() // 1000
        if second != conn.window_s:
            conn.window_s, conn.received = second, 0
        conn.received += 1
        return conn.received <= self._config.ws_max_incoming_per_s

    async def _write(self, conn: Connection) -> None:
        try:
            while True:
                await conn.ws.send_str(await conn.outbox.get())
        except (ConnectionError, RuntimeError):
            return  # the peer is gone; the reader ends the connection

    def _close_later(self, conn: Connection, code: int, message: bytes) -> None:
        task = asyncio.get_running_loop().create_task(conn.ws.close(code=code, message=message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _retyped(payload: Json) -> Json:
    def flip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: flip(v) for k, v in value.items()}
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            return float(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    return {k: flip(v) for k, v in payload.items()}


def _nan(payload: Json) -> Json:
    def spoil(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: spoil(v) for k, v in value.items()}
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            return "NaN"
        return value

    return {k: spoil(v) for k, v in payload.items()}
