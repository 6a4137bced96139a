"""One logical WebSocket connection: connect, read, watch, reconnect, rotate.

Transport only: frames go to a handler as they arrive, unparsed. What a connection is for (which
streams, which listenKey) is decided by the URL source and the on-open hook it is given, so the
same class carries market streams and the user-data stream.

Time comes only from the Clock port: backoff pauses, pacing, the silence watchdog and the 24 h
rotation all read `clock.now_ms()` and wait with `clock.sleep*`. The websockets library keeps
its own timeouts for the opening and closing handshakes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

from slt.adapters.binance.ws.backoff import Backoff
from slt.adapters.binance.ws.pacing import Pacer
from slt.domain.values import HOUR_MS
from slt.ports.clock import Clock

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, int], None]  # (raw message, time of the read that carried it)
UrlSource = Callable[[], Awaitable[str]]
OpenHook = Callable[[], Awaitable[None]]
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
# How a DeliveringConnection reads: the HTTP handshake, frames it cuts itself, or all of it
# through the library.
_HANDSHAKE, _FRAMES, _LIBRARY = "handshake", "frames", "library"
_OPCODES = frozenset(int(op) for op in Opcode)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def worth_logging(count: int) -> bool:
    """True for the 1st, 2nd, 4th, 8th... occurrence: a fault repeated at market-data rates
    must not flood the log, nor go unreported."""
    return count & (count - 1) == 0


def fixed_url(url: str) -> UrlSource:
    async def source() -> str:
        return url

    return source


class DeliveringConnection(ClientConnection):
    """A websockets ClientConnection that hands every data message to `sink` as soon as it is
    read, inside the socket's read callback, instead of queueing it for `recv()`.

    `recv()` costs a coroutine hop, a queue and a future per message, about a third of what a
    market-data message costs in total; here a message costs one call. Text frames stay bytes
    (orjson checks their UTF-8). Each message comes with the time of the socket read that
    carried it: the clock is read once per read, not once per message, and every message of a
    read arrived together (stamping each as it is handled would add the handling of the ones
    before it). `recv()` never returns anything on this connection: wait for `wait_closed()`.

    Once the handshake is done, frames are cut here: a whole, final, unmasked text or binary
    frame without extension bits goes straight to `sink` (the library's generator-based parser
    cost a third of a message). Every other frame (ping, pong, close, fragments, anything odd)
    is handed whole to the library, which answers pings, reports closes and fails protocol
    errors as before, and whose parser therefore always stands at a frame boundary. After a
    close, a failure, or a frame above the size limit, everything goes to the library.
    """

    def __init__(
        self, *args: Any, sink: FrameHandler, now_ms: Callable[[], int], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink
        self._now_ms = now_ms
        self._rx_ms = 0
        self._fragments: list[bytes] = []  # of a fragmented message, until its last frame
        self._mode = _HANDSHAKE
        self._head = b""  # the handshake's last bytes, to find its end across reads
        self._partial = bytearray()  # the start of a frame whose end has not arrived
        self._need = 0  # how long that frame is, once its header has come
        # websockets >= 16 splits max_size into a message and a fragment limit; before, one.
        protocol = self.protocol
        self._limit: int | None = getattr(
            protocol, "max_message_size", getattr(protocol, "max_size", None)
        )

    def data_received(self, data: bytes) -> None:
        self._rx_ms = self._now_ms()
        if self._mode is _FRAMES:
            self._frames(data)
        elif self._mode is _HANDSHAKE:
            self._handshake(data)
        else:
            super().data_received(data)

    def _handshake(self, data: bytes) -> None:
        """Everything up to the end of the HTTP response goes to the library (a 101 response
        has no body, so the first frame starts right after it)."""
        seen = self._head + data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self._head = seen[-3:]
            super().data_received(data)
            return
        cut = end + 4 - len(self._head)
        super().data_received(data[:cut])
        if self._may_cut():
            self._mode = _FRAMES
            self._frames(data[cut:])
        else:
            self._to_library(data[cut:])

    def _may_cut(self) -> bool:
        return self.protocol.state is State.OPEN and not self.protocol.extensions

    def _frames(self, data: bytes) -> None:
        if self._partial:
            self._partial += data
            if len(self._partial) < self._need:
                return  # a long frame over many reads: gathered, not parsed again each time
            data = bytes(self._partial)
            self._partial = bytearray()
        if self.protocol.state is not State.OPEN:
            # Closing, or failed by the library (a keepalive timeout): it decides what is still
            # delivered, as it did for every frame before.
            self._to_library(data)
            return
        n = len(data)
        pos = 0
        need = 0
        sink, rx_ms, limit = self._sink, self._rx_ms, self._limit
        while n - pos >= 2:
            first, second = data[pos], data[pos + 1]
            if second & 0x80 or (first & 0x0F) not in _OPCODES:
                # Masked (a server must not mask) or an unknown opcode: the library fails the
                # connection on the header alone, without waiting for the rest of the frame.
                self._to_library(data[pos:])
                return
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(data[start : start + 2], "big")
                start += 2
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
            if limit is not None and length > limit:
                # The library fails the connection (1009) as soon as it reads this header.
                self._to_library(data[pos:])
                return
            end = start + length
            if end > n:
                need = end - pos
                break
            # 0x81, 0x82: FIN, no extension bits, text or binary.
            if (first == 0x81 or first == 0x82) and not self._fragments:
                sink(data[start:end], rx_ms)
            else:
                super().data_received(data[pos:end])
                if not self._may_cut():  # closing or failed: the library reads the rest
                    self._to_library(data[end:])
                    return
            pos = end
        if pos < n:
            self._partial = bytearray(data[pos:])
            self._need = need

    def _to_library(self, rest: bytes) -> None:
        self._mode = _LIBRARY
        if rest:
            super().data_received(rest)

    def process_event(self, event: Event) -> None:
        if type(event) is Frame:
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if event.fin:
                    data = event.data
                    self._sink(data if type(data) is bytes else bytes(data), self._rx_ms)
                else:
                    self._fragments = [bytes(event.data)]
                return
            if opcode is _CONT:
                self._fragments.append(bytes(event.data))
                if event.fin:
                    message, self._fragments = b"".join(self._fragments), []
                    self._sink(message, self._rx_ms)
                return
        super().process_event(event)


@dataclass(frozen=True, slots=True)
class TransportConfig:
    backoff_first_ms: int = 1_000
    backoff_cap_ms: int = 60_000
    backoff_jitter: float = 0.2
    # A connection that stayed up this long resets the backoff: the next drop retries quickly.
    stable_after_ms: int = 30_000
    # No frame at all for this long and the connection is torn down and reopened (None: never).
    silence_ms: int | None = 10_000
    # Before tearing a silent connection down, ping it and wait `probe_timeout_ms` for the pong.
    # For streams that may legitimately be quiet (user data); market streams never are.
    silence_probe: bool = False
    probe_timeout_ms: int = 10_000
    # Binance cuts every connection after 24 h: replace it beforehand, new one first.
    rotate_after_ms: int | None = 23 * HOUR_MS
    watchdog_tick_ms: int = 500
    # Our own frames (SUBSCRIBE, probes) in any one second. Binance allows 10 incoming messages
    # a second per connection, pongs included, and disconnects (then bans) beyond that.
    max_sends_per_s: int = 5
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    # The library answers Binance's pings (every 3 min) by itself whatever these are. Its own
    # keepalive pings stay off by default: the clock-driven watchdog above decides liveness, and
    # extra pings would only spend the 10-messages-a-second budget.
    ping_interval_s: float | None = None
    ping_timeout_s: float | None = None
    max_frame_bytes: int = 4 * 2**20
    compression: str | None = None
    proxy: str | Literal[True] | None = None  # True: honour the environment's proxy settings

    def __post_init__(self) -> None:
        if not 0 < self.max_sends_per_s <= 10:
            raise ValueError("max_sends_per_s must be in 1..10 (Binance disconnects above 10)")
        if self.watchdog_tick_ms <= 0 or self.probe_timeout_ms <= 0:
            raise ValueError("watchdog_tick_ms and probe_timeout_ms must be positive")
        if self.silence_ms is not None and self.silence_ms <= 0:
            raise ValueError("silence_ms must be positive (or None)")


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    name: str
    connected: bool
    connects: int  # successful opens, the first one included, rotations not
    reconnects: int  # opens after a drop, a silent teardown or a requested reconnect
    connect_failures: int
    drops: int  # closed by the peer or the network
    silent_teardowns: int
    probes: int  # liveness pings sent to a quiet connection
    requested_reconnects: int
    rotations: int
    messages: int
    sent: int
    handler_errors: int
    last_close: str


class WsConnection:
    """Keeps one connection open for as long as it runs.

    Lifecycle of a socket: open (URL from `url_source`, which may do I/O such as creating a
    listenKey), then `on_open` runs concurrently with the reader (it may send paced frames),
    then a watchdog checks every `watchdog_tick_ms` for a closed socket, silence, a requested
    reconnect or rotation time. Reconnects wait for the next backoff delay.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        url_source: UrlSource,
        on_frame: FrameHandler,
        config: TransportConfig,
        *,
        rng: random.Random,
        on_open: OpenHook | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._now_ms = clock.now_ms
        self._url_source = url_source
        self._on_frame = on_frame
        self._on_open = on_open
        self._backoff = Backoff(
            config.backoff_first_ms, config.backoff_cap_ms, config.backoff_jitter, rng
        )
        self._pacer = Pacer(clock, config.max_sends_per_s)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._opened_ms = 0
        self._last_rx_ms = 0
        self._last_pong_ms = 0
        self._probe: tuple[int, Any] | None = None  # (sent at, pong waiter)
        self._on_open_task: asyncio.Task[None] | None = None
        self._rotate_at = 0
        self._requested: str | None = None
        self._opened = asyncio.Event()
        self._connects = 0
        self._reconnects = 0
        self._connect_failures = 0
        self._drops = 0
        self._silent = 0
        self._probes = 0
        self._requested_count = 0
        self._rotations = 0
        self._messages = 0
        self._sent = 0
        self._handler_errors = 0
        self._last_close = ""

    # -- public -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = self._clock.spawn(self._supervise(), f"ws:{self.name}")

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def last_rx_ms(self) -> int:
        return self._last_rx_ms

    async def wait_connected(self) -> None:
        await self._opened.wait()

    async def send(self, payload: str) -> bool:
        """Send one frame, paced; False if there is no open socket to send it on."""
        await self._pacer.acquire()
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(payload)
        except ConnectionClosed:
            return False
        self._sent += 1
        return True

    def reconnect(self, reason: str) -> None:
        """Drop the current socket now and open a new one (e.g. the listenKey expired)."""
        self._requested = reason
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    def stats(self) -> ConnectionStats:
        return ConnectionStats(
            name=self.name, connected=self.connected, connects=self._connects,
            reconnects=self._reconnects, connect_failures=self._connect_failures,
            drops=self._drops, silent_teardowns=self._silent, probes=self._probes,
            requested_reconnects=self._requested_count, rotations=self._rotations,
            messages=self._messages, sent=self._sent, handler_errors=self._handler_errors,
            last_close=self._last_close,
        )

    # -- supervision --------------------------------------------------------------------------

    async def _supervise(self) -> None:
        ws: ClientConnection | None = None
        try:
            ws = await self._open_with_backoff()
            while True:
                outcome = await self._watch(ws)
                if outcome == "rotate":
                    ws = await self._rotate(ws)
                    continue
                lived = self._clock.now_ms() - self._opened_ms
                await self._teardown(ws, outcome)
                ws = None
                if lived >= self.config.stable_after_ms:
                    self._backoff.reset()
                await self._pause(self._backoff.next_ms())
                ws = await self._open_with_backoff()
                self._reconnects += 1
        finally:
            await self._shutdown(ws)

    async def _open_with_backoff(self) -> ClientConnection:
        while True:
            ws = await self._try_open()
            if ws is not None:
                self._connects += 1
                return ws
            await self._pause(self._backoff.next_ms())

    async def _try_open(self) -> ClientConnection | None:
        c = self.config
        try:
            url = await self._url_source()
            ws = await connect(
                url, open_timeout=c.open_timeout_s, close_timeout=c.close_timeout_s,
                ping_interval=c.ping_interval_s, ping_timeout=c.ping_timeout_s,
                max_size=c.max_frame_bytes, compression=c.compression,
                proxy=c.proxy, create_connection=self._connection_factory,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure to open is retried after the next backoff delay
            self._connect_failures += 1
            log.warning("%s: connect failed: %r", self.name, exc)
            return None
        self._attach(ws)
        return ws

    def _attach(self, ws: ClientConnection) -> None:
        now = self._clock.now_ms()
        self._ws = ws
        self._opened_ms = self._last_rx_ms = now
        self._last_pong_ms = 0
        self._probe = None
        self._requested = None
        rotate = self.config.rotate_after_ms
        self._rotate_at = now + rotate if rotate else 0
        self._reader = self._spawn(self._read(ws), "read")
        # Concurrently with the reader: subscribing is paced and may take seconds, and data
        # already flowing must not wait for it.
        self._on_open_task = self._spawn(self._run_on_open(), "on-open")
        self._opened.set()
        log.info("%s: connected", self.name)

    async def _run_on_open(self) -> None:
        if self._on_open is None:
            return
        try:
            await self._on_open()
        except asyncio.CancelledError:
            raise
        except ConnectionClosed:
            pass  # the watchdog sees the closed socket and reconnects
        except Exception:
            log.exception("%s: on-open hook failed", self.name)

    async def _watch(self, ws: ClientConnection) -> str:
        while True:
            outcome = await self._check(ws)
            if outcome is not None:
                return outcome
            await self._tick()

    async def _check(self, ws: ClientConnection) -> str | None:
        reader = self._reader
        if self._requested is not None:
            return "requested"
        if reader is None or reader.done():
            return "closed"
        now = self._clock.now_ms()
        c = self.config
        if c.silence_ms is not None:
            probe = self._probe
            if probe is not None and probe[1].done():
                if not probe[1].cancelled() and probe[1].exception() is None:
                    self._last_pong_ms = now  # a pong: alive, if quiet
                self._probe = probe = None
            idle = now - max(self._last_rx_ms, self._last_pong_ms)
            if idle > c.silence_ms:
                if not c.silence_probe:
                    return "silent"
                if probe is None:
                    try:
                        await self._pacer.acquire()
                        waiter = await ws.ping()
                        # Retrieve its exception if the socket closes first, so that asyncio
                        # does not report it as never retrieved.
                        waiter.add_done_callback(_consume)  # type: ignore[attr-defined]
                        self._probe = (now, waiter)
                        self._probes += 1
                    except ConnectionClosed:
                        return "closed"
                elif now - probe[0] > c.probe_timeout_ms:
                    return "silent"
        if self._rotate_at and now >= self._rotate_at:
            return "rotate"
        return None

    async def _tick(self) -> None:
        """Wait one watchdog tick on the clock, or less if the reader ends first."""
        reader = self._reader
        timer = self._spawn(self._clock.sleep(self.config.watchdog_tick_ms / 1000), "tick")
        waiting: set[asyncio.Task[Any]] = {timer} if reader is None else {timer, reader}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()

    async def _rotate(self, old: ClientConnection) -> ClientConnection:
        """Open the replacement first, let it subscribe, then close the old socket: no gap.
        Frames both deliver meanwhile are duplicates the consumers already drop."""
        old_reader = self._reader
        new = await self._try_open()
        if new is None:
            self._rotate_at = self._clock.now_ms() + self._backoff.next_ms()
            return old
        self._rotations += 1
        if self._on_open_task is not None:
            await asyncio.wait({self._on_open_task})
        self._spawn(self._close_quietly(old, old_reader), "retire")
        return new

    async def _teardown(self, ws: ClientConnection, outcome: str) -> None:
        self._ws = None
        self._opened.clear()
        if outcome == "closed":
            self._drops += 1
        elif outcome == "silent":
            self._silent += 1
            log.warning("%s: silent past %s ms, reconnecting", self.name, self.config.silence_ms)
        else:
            self._requested_count += 1
            log.info("%s: reconnect requested: %s", self.name, self._requested)
        self._requested = None
        if self._on_open_task is not None:
            self._on_open_task.cancel()
        # No closing handshake: a silent or broken peer would make us wait close_timeout_s.
        ws.transport.abort()
        reader = self._reader
        if reader is not None:
            await asyncio.wait({reader})

    async def _close_quietly(
        self, ws: ClientConnection, reader: asyncio.Task[None] | None
    ) -> None:
        with contextlib.suppress(Exception):
            await ws.close()
        ws.transport.abort()
        if reader is not None:
            await asyncio.wait({reader})

    async def _shutdown(self, ws: ClientConnection | None) -> None:
        self._ws = None
        self._opened.clear()
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
            ws.transport.abort()
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _pause(self, delay_ms: int) -> None:
        await self._clock.sleep_until(self._clock.now_ms() + delay_ms)

    # -- reading: the hot path ----------------------------------------------------------------

    def _connection_factory(self, *args: Any, **kwargs: Any) -> DeliveringConnection:
        return DeliveringConnection(*args, sink=self._deliver, now_ms=self._now_ms, **kwargs)

    def _deliver(self, raw: bytes, now: int) -> None:
        # Called from the socket's read callback: nothing may escape into the library.
        self._last_rx_ms = now
        self._messages += 1
        try:
            self._on_frame(raw, now)
        except Exception:
            self._handler_errors += 1
            if worth_logging(self._handler_errors):
                log.exception("%s: frame handler failed (%d so far)", self.name,
                              self._handler_errors)

    async def _read(self, ws: ClientConnection) -> None:
        """Messages reach `_deliver` as they arrive; this task ends when the socket closes."""
        await ws.wait_closed()
        rcvd = ws.protocol.close_rcvd
        self._last_close = f"{rcvd.code} {rcvd.reason}" if rcvd else "no close"

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = self._clock.spawn(coro, f"ws:{self.name}:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
