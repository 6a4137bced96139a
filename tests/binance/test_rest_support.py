"""Shared pieces of the REST adapter tests (no tests here): recorded payloads and a tiny
Binance-speaking HTTP server on 127.0.0.1 that answers scripted replies.

The server checks what Binance checks that matters to the client: the API key header and the
HMAC signature over the raw query string. Everything else is scripted per test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.credentials import Credentials

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance_rest"

# Binance's documentation key pair (General Info, "SIGNED Endpoint Examples").
API_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
API_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
CREDENTIALS = Credentials(API_KEY, API_SECRET)

LOCAL_MS = 1_700_000_000_000  # the simulated clock's start
SERVER_AHEAD_MS = 1_234  # how far the stub's clock runs ahead of the simulated one


def payload(name: str) -> Any:
    """A recorded response body, e.g. payload("docs/leverage__docs-example.json")."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless `raw` is set
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection instead of answering
    hang: bool = False  # never answer (the client times out)

    def render(self) -> web.Response:
        text = self.raw if self.raw is not None else json.dumps(self.body)
        return web.Response(
            status=self.status, text=text, headers=self.headers, content_type="application/json"
        )


def error(code: int, msg: str, status: int = 400, **headers: str) -> Reply:
    return Reply(status=status, body={"code": code, "msg": msg}, headers=headers)


class BinanceStub:
    """Scripted answers per (method, path): queued replies are used once each, in order; when
    the queue is empty the route's standing reply (if any) answers."""

    def __init__(self, *, server_ahead_ms: int = SERVER_AHEAD_MS) -> None:
        self.seen: list[Seen] = []
        self._queued: dict[tuple[str, str], list[Reply]] = {}
        self._standing: dict[tuple[str, str], Reply] = {}
        self._server_ahead_ms = server_ahead_ms
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def queue(self, method: str, path: str, *replies: Reply) -> None:
        self._queued.setdefault((method, path), []).extend(replies)

    def always(self, method: str, path: str, reply: Reply) -> None:
        self._standing[(method, path)] = reply

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.method, request.path, request.query_string, dict(request.headers))
        self.seen.append(seen)
        refusal = self._check_auth(seen)
        if refusal is not None:
            return refusal.render()
        key = (request.method, request.path)
        queued = self._queued.get(key)
        reply = queued.pop(0) if queued else self._standing.get(key)
        if reply is None and key == ("GET", "/fapi/v1/time"):
            reply = Reply(body={"serverTime": LOCAL_MS + self._server_ahead_ms})
        if reply is None:
            return error(-1121, f"stub: no reply scripted for {key}", status=404).render()
        if reply.hang:
            await self._released.wait()
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return reply.render()

    @staticmethod
    def _check_auth(seen: Seen) -> Reply | None:
        if "signature=" not in seen.raw_query:
            return None
        if seen.headers.get("X-MBX-APIKEY") != API_KEY:
            return error(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        unsigned, _, signature = seen.raw_query.rpartition("&signature=")
        expected = hmac.new(API_SECRET.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return error(-1022, "Signature for this request is not valid.")
        return None


@asynccontextmanager
async def stub_client(
    stub: BinanceStub, clock: SimulatedClock | None = None, **config: Any
) -> AsyncIterator[BinanceHttpClient]:
    await stub.start()
    config.setdefault("time_samples", 3)
    client = BinanceHttpClient(
        RestConfig(base_url=stub.url, **config),
        clock or SimulatedClock(LOCAL_MS),
        CREDENTIALS,
    )
    try:
        async with client:
            yield client
    finally:
        await stub.stop()


@asynccontextmanager
async def stub_gateway(stub: BinanceStub, **config: Any) -> AsyncIterator[BinanceGateway]:
    async with stub_client(stub, **config) as client:
        yield BinanceGateway(client)
