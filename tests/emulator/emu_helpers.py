"""Shared helpers of the emulator tests: a hand-driven clock, a signing client, stream readers.

pytest-asyncio is not installed: `async_test` runs an async test body with asyncio.run under a
timeout. Nothing sleeps for timing; waits are on events, with timeouts as a safety net.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import yarl

from slt.domain.filters import SymbolFilters
from slt.domain.values import Quote
from slt.emulator import Emulator, EmulatorConfig
from slt.ports.clock import Clock

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TIMEOUT_S = 10.0
BTC = "BTCUSDT"
BTC_FILTERS = SymbolFilters(
    symbol=BTC,
    tick_size=Decimal("0.1"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal("1000"),
    min_notional=Decimal("5"),
)
ETH_FILTERS = replace(BTC_FILTERS, symbol="ETHUSDT", tick_size=Decimal("0.01"))
# Time stands still on a ManualClock: let tests send more than Binance's 10 frames per second
# (the limit itself has its own test).
CONFIG = EmulatorConfig(
    filters={BTC: BTC_FILTERS, "ETHUSDT": ETH_FILTERS}, ws_max_incoming_per_s=10_000
)


def async_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), TIMEOUT_S))

    return run


class ManualClock(Clock):
    """Time moves only when a test calls `advance`; sleepers wake when their time comes."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.t = now_ms
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sleeping: asyncio.Event | None = None

    def now_ms(self) -> int:
        return self.t

    async def sleep_until(self, ts_ms: int) -> None:
        if ts_ms <= self.t:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((ts_ms, fut))
        self._event().set()
        await fut

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def advance(self, ms: int) -> None:
        self.t += ms
        due = [s for s in self._sleepers if s[0] <= self.t]
        self._sleepers = [s for s in self._sleepers if s[0] > self.t]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)

    def pending(self) -> list[int]:
        """Wake-up times of the sleepers that still wait."""
        return sorted(ts for ts, fut in self._sleepers if not fut.done())

    async def wait_for_sleeper(self, until_ms: int) -> None:
        """Return once something sleeps until `until_ms` (e.g. a delayed response)."""
        while until_ms not in self.pending():
            event = self._event()
            event.clear()
            await event.wait()

    def _event(self) -> asyncio.Event:
        if self._sleeping is None:
            self._sleeping = asyncio.Event()
        return self._sleeping


def quote(bid: float, ask: float, ts_ms: int = START_MS, symbol: str = BTC) -> Quote:
    return Quote(symbol, ts_ms, bid, 1.5, ask, 2.5)


class Client:
    """Signs and sends requests as a Binance client would; returns (status, headers, body)."""

    def __init__(self, emulator: Emulator, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.session = session
        self.key = emulator.config.api_key
        self.secret = emulator.config.api_secret

    def sign(self, total_params: str) -> str:
        return hmac.new(self.secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()

    async def signed(
        self, method: str, path: str, *, body: bool = False, **params: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Timestamped and signed, in the query string (or the form body with `body`)."""
        params.setdefault("timestamp", self.emulator.clock.now_ms())
        text = urlencode(params)
        text += "&signature=" + self.sign(text)
        if body:
            return await self.raw(method, path, body=text)
        return await self.raw(method, path, query=text)

    async def public(self, path: str, **params: Any) -> tuple[int, dict[str, str], Any]:
        return await self.raw("GET", path, query=urlencode(params))

    async def raw(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str = "",
        key: str | None = "",
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        api_key = self.key if key == "" else key
        if api_key is not None:
            headers["X-MBX-APIKEY"] = api_key
        # encoded=True: send the query byte for byte as signed (yarl would requote `%21` to `!`).
        url = yarl.URL(self.emulator.rest_url + path + (f"?{query}" if query else ""), encoded=True)
        async with self.session.request(method, url, data=body or None, headers=headers) as r:
            text = await r.text()
            try:
                payload = orjson.loads(text)
            except orjson.JSONDecodeError:
                payload = text
            return r.status, dict(r.headers), payload

    async def ok(self, method: str, path: str, **params: Any) -> Any:
        status, _, payload = await self.signed(method, path, **params)
        assert status == 200, payload
        return payload

    async def listen_key(self) -> str:
        status, _, payload = await self.raw("POST", "/fapi/v1/listenKey")
        assert status == 200, payload
        return str(payload["listenKey"])


@asynccontextmanager
async def running(
    config: EmulatorConfig = CONFIG, clock: Clock | None = None
) -> AsyncIterator[tuple[Emulator, Client]]:
    emulator = Emulator(config, clock if clock is not None else ManualClock())
    await emulator.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield emulator, Client(emulator, session)
    finally:
        await emulator.stop()


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=TIMEOUT_S)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return orjson.loads(msg.data)


async def receive_events(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[Any]:
    return [await receive_json(ws) for _ in range(n)]


async def barrier(ws: aiohttp.ClientWebSocketResponse, ident: int = 999) -> list[Any]:
    """Everything the server queued for `ws` before it answered a LIST_SUBSCRIPTIONS.

    Messages and replies leave through one queue in order, and a quote is published before
    `push_quote` returns, so this tells "nothing was sent" apart from "not sent yet".
    """
    await ws.send_str(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": ident}).decode())
    seen = []
    while True:
        msg = await receive_json(ws)
        if isinstance(msg, dict) and msg.get("id") == ident and "result" in msg:
            return seen
        seen.append(msg)


def event_types(events: list[Any]) -> list[str]:
    """`e` of each event, with the execution type of order updates: ORDER_TRADE_UPDATE:NEW."""
    out = []
    for event in events:
        name = event["e"]
        if name == "ORDER_TRADE_UPDATE":
            name += ":" + event["o"]["x"]
        elif name == "ALGO_UPDATE":
            name += ":" + event["o"]["X"]
        out.append(name)
    return out
