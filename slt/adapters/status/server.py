"""The status server: `/` (HTML), `/api/status` (JSON) and `/metrics` (Prometheus), behind a
bearer token; with a Commands service, also `POST /api/control/<command>` (body, optional:
`{"args": "BTCUSDT"}`) for the operator's commands (slt.application.control), answered with
`{"command", "ok", "result"}`: 200 when done, 409 when refused, 404 for no such command.

Every route needs `Authorization: Bearer <token>`, compared in constant time. Because a browser
cannot add that header to an address typed in, `/` also accepts `?token=<token>`; the page
then carries no link that could leak the address, and is sent with `Referrer-Policy:
no-referrer` and `Cache-Control: no-store`. Commands need the header: `?token=` opens the page
only, and no cookie is ever set, so another site cannot make a browser send a command (a
cross-site request with an Authorization header needs a CORS preflight, which is refused).
The server binds 127.0.0.1 by default: reach it from elsewhere through an SSH tunnel rather
than by binding a public address. aiohttp's access log is off, since it would record the query
string.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import orjson
from aiohttp import web

from slt.adapters.status.metrics import CONTENT_TYPE, exposition, registry_for
from slt.adapters.status.page import CONTROL_SCRIPT_HASH, render
from slt.application.control import COMMANDS, CommandResult
from slt.application.status.snapshot import StatusSource, to_json

log = logging.getLogger(__name__)

ENV_STATUS_TOKEN = "SLT_STATUS_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The Commands service's `run(source, user, text)`.
CommandRunner = Callable[[str, str, str], Awaitable[CommandResult]]

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src '{CONTROL_SCRIPT_HASH}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class StatusToken:
    value: str = field(repr=False)
    generated: bool  # True: nobody set SLT_STATUS_TOKEN, so the operator must be told it

    def __repr__(self) -> str:
        return f"StatusToken(<hidden>, generated={self.generated})"


def resolve_token(env: Mapping[str, str] | None = None) -> StatusToken:
    """The token from SLT_STATUS_TOKEN, or a new random one (to be printed once)."""
    env = os.environ if env is None else env
    given = env.get(ENV_STATUS_TOKEN, "").strip()
    if given:
        return StatusToken(given, generated=False)
    return StatusToken(secrets.token_urlsafe(24), generated=True)


def _authorized(request: web.Request, token: bytes) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        given = request.query.get("token", "") if request.path == "/" else ""
    # compare_digest on bytes: its time depends on the length only, never on the content.
    return bool(given) and hmac.compare_digest(given.strip().encode(), token)


class StatusServer:
    def __init__(
        self,
        source: StatusSource,
        token: StatusToken | str,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        refresh_s: int = 10,
        commands: CommandRunner | None = None,
    ) -> None:
        value = token.value if isinstance(token, StatusToken) else token
        if len(value) < 16:
            raise ValueError("the status token must be at least 16 characters")
        self._source = source
        self._token = value.encode()
        self._host = host
        self._port = port
        self._refresh_s = refresh_s
        self._commands = commands
        self._registry = registry_for(source)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/api/status", self._api)
        app.router.add_get("/metrics", self._metrics)
        if self._commands is not None:
            app.router.add_post("/api/control/{command}", self._control)
        return app

    async def start(self) -> str:
        """Listen; return the base URL (with the real port when `port` was 0)."""
        if self._host not in LOOPBACK:
            log.warning("status server listens on %s, beyond this machine", self._host)
        # A scrape in progress at shutdown gets a second, not the default minute.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _authorized(request, self._token):
            response: web.StreamResponse = web.json_response(
                {"error": "unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="slt"'},
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("status request %s failed", request.path)
                response = web.json_response({"error": "internal error"}, status=500)
        response.headers.update(_SECURITY_HEADERS)
        return response

    async def _page(self, request: web.Request) -> web.Response:
        page = render(
            self._source(), refresh_s=self._refresh_s, controls=self._commands is not None
        )
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def _api(self, request: web.Request) -> web.Response:
        body = orjson.dumps(to_json(self._source()), option=orjson.OPT_INDENT_2)
        return web.Response(body=body, content_type="application/json")

    async def _control(self, request: web.Request) -> web.Response:
        assert self._commands is not None
        name = request.match_info["command"]
        if name not in COMMANDS:
            return web.json_response({"error": f"no command {name[:40]!r}"}, status=404)
        args = ""
        if request.can_read_body:
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("args", ""), str):
                return web.json_response(
                    {"error": 'the body must be a JSON object like {"args": "BTCUSDT"}'},
                    status=400,
                )
            args = body.get("args", "")
        result = await self._commands("http", f"token@{request.remote}", f"{name} {args}")
        return web.json_response(
            {"command": result.command, "ok": result.ok, "result": result.text},
            status=200 if result.ok else 409,
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        body = exposition(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def announce(url: str, token: StatusToken, stream: TextIO | None = None) -> None:
    """Tell the operator where the page is; the token only if it was generated (printed to
    the terminal once, never logged)."""
    stream = sys.stderr if stream is None else stream
    if token.generated:
        print(
            f"status page: {url}/?token={token.value}  (API: Authorization: Bearer "
            f"{token.value}; set {ENV_STATUS_TOKEN} to choose the token)",
            file=stream,
        )
    else:
        print(f"status page: {url}/ (token from {ENV_STATUS_TOKEN})", file=stream)
