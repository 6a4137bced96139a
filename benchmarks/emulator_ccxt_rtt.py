"""Order round trips of a third-party client (ccxt) against `slt emulator` in its own process.

    python benchmarks/emulator_ccxt_rtt.py [--orders 120]

Each trial places a resting LIMIT order and cancels it, over REST and then over the WebSocket
API (/ws-fapi/v1); prints p50 / p99 per request in ms. ccxt's own client-side throttle is
switched off, so the figures are the emulator's (and ccxt's) cost, not a rate limit; the
emulator's own order limits (300 per 10 s, 1200 per minute) are respected by pausing between
the two APIs.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.pro as ccxtpro

from slt.emulator import EmulatorConfig

SYMBOL = "BTC/USDT:USDT"
_URLS = re.compile(r"REST (http://\S+)\s+WS (ws://\S+)")


def start_emulator() -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "slt.entrypoints.cli", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = _URLS.search(line)
        if found:
            return proc, found.group(1), found.group(2)
    raise SystemExit("slt emulator did not start")


def client(rest: str, ws: str) -> Any:
    config = EmulatorConfig()
    exchange = ccxtpro.binanceusdm(
        {
            "apiKey": config.api_key,
            "secret": config.api_secret,
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False},
        }
    )
    api = exchange.urls["api"]
    for name, url in list(api.items()):
        if name.startswith("fapi") and isinstance(url, str):
            api[name] = url.replace("https://fapi.binance.com", rest)
    api["ws"]["linear"] = ws + "/ws"
    api["ws"]["ws-api"]["linear"] = ws + "/ws-fapi/v1"
    return exchange


async def timed(
    trials: int, place: Callable[..., Awaitable[Any]], cancel: Callable[..., Awaitable[Any]],
    price: float,
) -> list[float]:
    per_request = []
    for _ in range(trials):
        start = time.perf_counter()
        order = await place(SYMBOL, "limit", "buy", 0.01, price)
        await cancel(order["id"], SYMBOL)
        per_request.append((time.perf_counter() - start) / 2 * 1000)
    return sorted(per_request)


async def main(trials: int) -> None:
    proc, rest, ws = start_emulator()
    exchange = client(rest, ws)
    try:
        await exchange.load_markets()
        bid = (await exchange.fetch_order_book(SYMBOL, 5))["bids"][0][0]
        price = round(bid * 0.95, 1)
        apis = [
            ("REST", exchange.create_order, exchange.cancel_order),
            ("WS API", exchange.create_order_ws, exchange.cancel_order_ws),
        ]
        for n, (name, place, cancel) in enumerate(apis):
            if n:
                await asyncio.sleep(10)  # a fresh 10-second order window
            ms = await timed(trials, place, cancel, price)
            p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
            print(f"{name:7s} order request: p50 {p50:.2f} ms  p99 {p99:.2f} ms  ({trials} x 2)")
    finally:
        await exchange.close()
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--orders", type=int, default=120, help="place/cancel pairs per API (at most 290)"
    )
    asyncio.run(main(parser.parse_args().orders))
