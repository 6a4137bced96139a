"""DeliveringConnection cuts data frames itself: the same messages as the library's parser, at
every split of the byte stream, with pings answered, closes and protocol errors left to the
library, and nothing delivered after a close."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from slt.adapters.binance.ws.transport import DeliveringConnection

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LIMIT = 100_000


class Transport(asyncio.Transport):
    """Records what the connection writes; never closes by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


def opened() -> tuple[DeliveringConnection, Transport, list[bytes], bytes]:
    """A connection that has sent its opening request, and the server's 101 response."""
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1/ws"), max_size=LIMIT)
    request = protocol.connect()
    protocol.send_request(request)
    key = request.headers["Sec-WebSocket-Key"].encode()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    got: list[bytes] = []
    conn = DeliveringConnection(
        protocol, sink=lambda raw, _ms: got.append(raw), now_ms=lambda: 0, close_timeout=1
    )
    transport = Transport()
    conn.connection_made(transport)
    protocol.data_to_send()  # the request, already "sent"
    return conn, transport, got, response


def frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=False, extensions=[])


def sent(transport: Transport) -> list[tuple[Opcode, bytes]]:
    """The frames the client wrote (small, masked ones: no extended lengths here)."""
    out, data, pos = [], bytes(transport.written), 0
    while pos < len(data):
        length, key = data[pos + 1] & 0x7F, data[pos + 2 : pos + 6]
        payload = data[pos + 6 : pos + 6 + length]
        out.append((Opcode(data[pos] & 0x0F), bytes(b ^ key[i % 4] for i, b in enumerate(payload))))
        pos += 6 + length
    return out


def feed(conn: DeliveringConnection, stream: bytes, cuts: list[int]) -> None:
    last = 0
    for cut in [*sorted(cuts), len(stream)]:
        if cut > last:
            conn.data_received(stream[last:cut])
            last = cut


# Messages around every length encoding's edges (7-bit, 16-bit, 64-bit lengths).
SIZES = (0, 1, 125, 126, 127, 65_535, 65_536, 70_000)
MESSAGES = [bytes([65 + i % 26]) * n for i, n in enumerate(SIZES)]


def stream_of(response: bytes) -> bytes:
    ping = frame(Opcode.PING, b"are you there")
    parts = [response]
    for i, m in enumerate(MESSAGES):
        parts.append(frame(Opcode.TEXT if i % 2 else Opcode.BINARY, m))
        if i == 2:
            parts.append(ping)
        if i == 4:  # a fragmented message, with a ping between its fragments
            parts += [
                frame(Opcode.TEXT, b"frag-", fin=False),
                ping,
                frame(Opcode.CONT, b"ment", fin=False),
                frame(Opcode.CONT, b"ed", fin=True),
            ]
    return b"".join(parts)


def expected() -> list[bytes]:
    return [*MESSAGES[:5], b"frag-mented", *MESSAGES[5:]]


def run(body: Any) -> Any:
    async def main() -> Any:
        return body()

    return asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300_000), max_size=12))
def test_every_split_of_the_stream_gives_the_same_messages_and_pongs(cuts: list[int]) -> None:
    def body() -> None:
        conn, transport, got, response = opened()
        stream = stream_of(response)
        feed(conn, stream, [c % (len(stream) + 1) for c in cuts])
        assert got == expected()
        assert conn.protocol.state is State.OPEN
        assert conn._mode == "frames"  # cut here, not by the library
        assert sent(transport) == [(Opcode.PONG, b"are you there")] * 2  # both pings answered

    run(body)


def test_split_one_byte_at_a_time_through_the_handshake_and_every_header() -> None:
    def body() -> None:
        conn, _, got, response = opened()
        small = response + b"".join(frame(Opcode.TEXT, m) for m in MESSAGES[:5])
        feed(conn, small, list(range(len(small))))
        assert got == MESSAGES[:5]

    run(body)


def test_nothing_is_delivered_after_the_servers_close() -> None:
    def body() -> None:
        conn, _, got, response = opened()
        close = Frame(Opcode.CLOSE, Close(1000, "bye").serialize()).serialize(
            mask=False, extensions=[]
        )
        stream = response + frame(Opcode.TEXT, b"one") + close + frame(Opcode.TEXT, b"two")
        conn.data_received(stream)
        assert got == [b"one"]
        assert conn.protocol.state is not State.OPEN
        assert conn.protocol.close_rcvd is not None and conn.protocol.close_rcvd.code == 1000

    run(body)


@pytest.mark.parametrize(
    ("after_ok", "code"),
    [
        # above the size limit: failed from its header, the rest never waited for
        (frame(Opcode.TEXT, b"x" * (LIMIT + 1))[:20], 1009),
        # a server must not mask its frames: failed from the header too
        (Frame(Opcode.TEXT, b"x" * 100).serialize(mask=True, extensions=[])[:6], 1002),
        # an opcode RFC 6455 does not define
        (bytes([0x83, 0x05]), 1002),
    ],
    ids=["oversized", "masked", "unknown-opcode"],
)
def test_a_faulty_frame_fails_the_connection_through_the_library(
    after_ok: bytes, code: int
) -> None:
    def body() -> None:
        conn, _, got, response = opened()
        conn.data_received(response + frame(Opcode.TEXT, b"ok") + after_ok)
        assert got == [b"ok"]
        assert conn.protocol.state is not State.OPEN
        assert conn.protocol.close_sent is not None and conn.protocol.close_sent.code == code

    run(body)


@pytest.mark.parametrize("seed", range(3))
def test_a_long_random_stream_in_random_reads(seed: int) -> None:
    rng = random.Random(seed)
    messages = [rng.randbytes(rng.choice([0, 5, 125, 126, 300, 70_000])) for _ in range(300)]

    def body() -> None:
        conn, _, got, response = opened()
        stream = response + b"".join(frame(Opcode.BINARY, m) for m in messages)
        feed(conn, stream, [rng.randrange(len(stream)) for _ in range(400)])
        assert got == messages

    run(body)


def test_nothing_is_delivered_once_the_library_failed_the_connection() -> None:
    # E.g. a keepalive ping that timed out: the library fails the connection outside any
    # frame; what arrives after it is not data any more.
    def body() -> None:
        conn, _, got, response = opened()
        conn.data_received(response + frame(Opcode.TEXT, b"a"))
        conn.protocol.fail(1011, "keepalive ping timeout")
        conn.data_received(frame(Opcode.TEXT, b"b") + frame(Opcode.TEXT, b"c"))
        assert got == [b"a"]

    run(body)
