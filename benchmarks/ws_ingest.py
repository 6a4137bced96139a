"""bookTicker ingest rate over loopback: bare websockets client vs the BinanceQuoteFeed.

A minimal WebSocket server in a separate process writes pre-built combined-stream bookTicker
frames as fast as the socket takes them, so the client side is the bottleneck. Three figures:

- bare:    websockets `recv()` + `orjson.loads` (the ceiling for any Python consumer)
- monitor: BinanceQuoteFeed (transport reader, decode, update-id check, cache, one listener)
- ingest:  `BinanceQuoteFeed.ingest` alone on in-memory frames (no socket)

Run: .venv/bin/python benchmarks/ws_ingest.py [--messages 300000] [--rounds 5] [--synthetic] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing as mp
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.transport import TransportConfig
from slt.adapters.clocks.live import LiveClock
from slt.domain.values import Quote

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "binance_ws" / "captures"


def recorded_tickers() -> list[dict[str, Any]]:
    """The bookTicker payloads of the recorded BTCUSDT sessions in the test fixtures."""
    out = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            data = orjson.loads(line)["msg"].get("data", {})
            if data.get("e") == "bookTicker":
                out.append(data)
    return out


def payloads(n: int, synthetic: bool = False) -> list[bytes]:
    """`n` combined-stream frames over five symbols, each symbol replaying the recorded
    BTCUSDT sequence (real price/quantity dynamics) or, `synthetic`, a random walk whose prices
    change on every update (the worst case for the decoder's price memo)."""
    rng = random.Random(1)
    recorded = recorded_tickers()
    mid = {s: 100.0 * (i + 1) for i, s in enumerate(SYMBOLS)}
    out = []
    for u in range(1, n + 1):
        s = SYMBOLS[u % len(SYMBOLS)]
        if synthetic:
            mid[s] *= 1 + rng.uniform(-1e-4, 1e-4)
            data = {"e": "bookTicker", "u": 0, "s": s, "b": f"{mid[s]:.2f}",
                    "B": f"{rng.uniform(0.1, 9):.3f}", "a": f"{mid[s] + 0.01:.2f}",
                    "A": f"{rng.uniform(0.1, 9):.3f}", "T": 1_767_225_600_000 + u // 10,
                    "E": 1_767_225_600_001 + u // 10}
        else:
            data = dict(recorded[(u // len(SYMBOLS)) % len(recorded)], s=s)
        data["u"] = 9_000_000_000 + u  # increasing, whatever the source
        out.append(orjson.dumps({"stream": f"{s.lower()}@bookTicker", "data": data}))
    return out


def frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def serve(n: int, port_out: mp.connection.Connection, pin: bool, synthetic: bool) -> None:
    """Server process: accept one client per run, blast `n` frames, answer its close."""
    if pin:
        os.sched_setaffinity(0, {1})
    blob = b"".join(frame(p) for p in payloads(n, synthetic))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        view = memoryview(blob)
        for i in range(0, len(blob), 1 << 20):
            writer.write(view[i:i + (1 << 20)])
            await writer.drain()
        await reader.read(1)  # the client's close frame (or anything else)
        writer.write(b"\x88\x02\x03\xe8")
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def bare(url: str, n: int) -> float:
    async with connect(url, ping_interval=None, compression=None, max_queue=4096,
                       proxy=None) as ws:
        await ws.recv(False)
        start = time.perf_counter()
        for _ in range(n - 1):
            orjson.loads(await ws.recv(False))
        return (n - 1) / (time.perf_counter() - start)


async def monitor(url: str, n: int) -> float:
    transport = TransportConfig(silence_ms=None, rotate_after_ms=None)
    feed = BinanceQuoteFeed(
        LiveClock(), QuoteFeedConfig(streams=StreamsConfig(base_url=url, transport=transport)),
        rng=random.Random(0))
    done = asyncio.Event()
    seen = 0
    start = 0.0

    def listener(q: Quote) -> None:  # stands in for PositionController.on_quote
        nonlocal seen, start
        seen += 1
        if seen == 1:
            start = time.perf_counter()
        elif seen == n:
            done.set()

    feed.add_listener(listener)
    await feed.subscribe(SYMBOLS)
    await feed.start()
    await done.wait()
    rate = (n - 1) / (time.perf_counter() - start)
    stats = feed.stats()
    await feed.stop()
    assert stats.accepted == n and not stats.dropped, stats
    return rate


def ingest_only(n: int, synthetic: bool) -> float:
    frames = payloads(n, synthetic)
    feed = BinanceQuoteFeed(LiveClock(), rng=random.Random(0))
    feed.add_listener(lambda q: None)
    start = time.perf_counter()
    for f in frames:
        feed.ingest(f, 0)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pin", action="store_true", help="client on CPU 0, server on CPU 1")
    ap.add_argument("--synthetic", action="store_true",
                    help="random-walk prices that change on every update, not recorded data")
    args = ap.parse_args()
    n, rounds = args.messages, args.rounds
    load_before = os.getloadavg()[0]
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(n, child, args.pin, args.synthetic), daemon=True)
    server.start()
    if args.pin:
        os.sched_setaffinity(0, {0})
    results: dict[str, list[float]] = {"bare": [], "monitor": [], "ingest": []}
    try:
        url = f"ws://127.0.0.1:{parent.recv()}"
        for _ in range(rounds):  # interleaved, so a busy neighbour slows both alike
            results["bare"].append(asyncio.run(bare(url, n)))
            results["monitor"].append(asyncio.run(monitor(url, n)))
            results["ingest"].append(ingest_only(n, args.synthetic))
    finally:
        server.terminate()
        server.join()
    names = {"bare": "bare websockets + orjson", "monitor": "BinanceQuoteFeed (socket)",
             "ingest": "BinanceQuoteFeed.ingest only"}
    source = "synthetic random-walk" if args.synthetic else "recorded BTCUSDT"
    print(f"{n:,} bookTicker frames ({source}) over loopback, {rounds} interleaved rounds, "
          "msg/s:")
    print(f"  {'':30s} {'median':>10s} {'best':>10s}")
    for key, rates in results.items():
        print(f"  {names[key]:30s} {statistics.median(rates):>10,.0f} {max(rates):>10,.0f}")
    ratios = [m / b for m, b in zip(results["monitor"], results["bare"], strict=True)]
    print(f"  monitor / bare, per round: {', '.join(f'{r:.0%}' for r in ratios)}; "
          f"median {statistics.median(ratios):.0%}, ratio of medians "
          f"{statistics.median(results['monitor']) / statistics.median(results['bare']):.0%}")
    print(f"  load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
