"""POST /api/control on the status server: token in the header only, the command's effect on
a real PositionController, the answer, and the page's buttons and script."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from test_control import commands_for
from test_position_controller import Rig

from slt.adapters.status.server import StatusServer, StatusToken
from slt.application.status import ComponentsSource

TOKEN = "status-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def with_server(check: Callable[[Rig, str, aiohttp.ClientSession], Awaitable[None]],
                controls: bool = True) -> None:
    async def go() -> None:
        rig = Rig()
        source = ComponentsSource(
            clock=rig.clock,
            mode="paper",
            store=rig.store,
            positions=lambda: rig.controller.positions.values(),
            breaker_level=lambda: "NORMAL",
            symbols=lambda: ["BTCUSDT"],
            latest=lambda s: None,
            halted=lambda: rig.controller.halted,
        )
        commands = commands_for(rig).run if controls else None
        server = StatusServer(source, StatusToken(TOKEN, False), port=0, commands=commands)
        url = await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                await check(rig, url, session)
        finally:
            await server.stop()

    asyncio.run(go())


async def post(session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None,
               body: Any = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else None)
    async with session.post(url, headers=headers, data=data,
                            json=None if data is not None else body) as resp:
        json_body = resp.content_type == "application/json"
        return resp.status, await resp.json() if json_body else await resp.text()


def test_a_command_needs_the_header_and_takes_effect() -> None:
    async def check(rig: Rig, url: str, session: aiohttp.ClientSession) -> None:
        stop = f"{url}/api/control/stopentry"
        assert (await post(session, stop, None))[0] == 401
        assert (await post(session, f"{stop}?token={TOKEN}", None))[0] == 401
        assert rig.controller.halted == "" and rig.store.commands() == []
        status, answer = await post(session, stop, BEARER)
        assert status == 200 and answer["ok"] is True and answer["command"] == "stopentry"
        assert rig.controller.halted == "operator: /stopentry"
        async with session.get(f"{url}/api/status", headers=BEARER) as resp:
            shown = await resp.json()
        assert shown["entries_halted"] == "operator: /stopentry"
        async with session.get(f"{url}/metrics", headers=BEARER) as resp:
            assert "slt_entries_halted 1.0" in await resp.text()
        [audited] = shown["commands"]
        assert audited["source"] == "http" and audited["user"] == "token@127.0.0.1"
        assert audited["result"] == answer["result"]

    with_server(check)


def test_refusals_unknown_commands_and_bad_bodies() -> None:
    async def check(rig: Rig, url: str, session: aiohttp.ClientSession) -> None:
        status, answer = await post(session, f"{url}/api/control/forceexit", BEARER,
                                    {"args": "BTCUSDT"})
        assert status == 409 and answer["ok"] is False
        assert "no open position in BTCUSDT" in answer["result"]
        assert (await post(session, f"{url}/api/control/shutdown", BEARER))[0] == 404
        for body in (b"{not json", [1, 2], {"args": 5}):
            status, answer = await post(session, f"{url}/api/control/status", BEARER, body)
            assert status == 400 and "JSON object" in answer["error"]
        async with session.options(f"{url}/api/control/stopentry", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"}) as resp:
            assert resp.status == 401  # no CORS preflight succeeds: no cross-site command
            assert "Access-Control-Allow-Origin" not in resp.headers
        assert rig.controller.halted == ""

    with_server(check)


def test_the_page_has_buttons_and_only_its_own_script_may_run() -> None:
    async def check(rig: Rig, url: str, session: aiohttp.ClientSession) -> None:
        async with session.get(f"{url}/?token={TOKEN}") as resp:
            page, csp = await resp.text(), resp.headers["Content-Security-Policy"]
        [script] = re.findall(r"<script>(.*?)</script>", page, re.S)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in csp and "connect-src 'self'" in csp
        for command in ("stopentry", "start", "pause", "reload_config", "forceexit"):
            assert f'data-command="{command}"' in page
        assert 'id="entries">on<' in page and "document.cookie" not in page
        assert 'data-args="force"' not in page
        rig.controller.halt_entries("start-up reconciliation found unknown_position")
        async with session.get(f"{url}/?token={TOKEN}") as resp:
            page = await resp.text()
        assert 'id="btn-start-force"' in page and "unknown_position). Resume them?" in page

    with_server(check)

    async def without(rig: Rig, url: str, session: aiohttp.ClientSession) -> None:
        async with session.get(f"{url}/?token={TOKEN}") as resp:
            page = await resp.text()
        assert "<script>" not in page and "data-command" not in page
        assert (await post(session, f"{url}/api/control/stopentry", BEARER))[0] == 404

    with_server(without, controls=False)
