"""Headless Chromium for the browser tests: its flags, and a minimal Chrome DevTools Protocol
client (JSON over a WebSocket, through aiohttp) to click, read the DOM and accept dialogs.

Playwright or Selenium would each bring a browser download or a driver for what is here a
handful of protocol calls (Page.navigate, Runtime.evaluate, Page.handleJavaScriptDialog).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
# CI sets this: there, a missing Chromium fails the browser tests instead of skipping them.
REQUIRE_ENV = "SLT_REQUIRE_BROWSER"
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
)
TIMEOUT_S = 90


def needs_chromium() -> pytest.MarkDecorator:
    """Skip where Chromium is missing, except in CI (REQUIRE_ENV), where that fails."""
    required = os.environ.get(REQUIRE_ENV) == "1"
    return pytest.mark.skipif(
        CHROMIUM is None and not required,
        reason="Chromium is not installed (Debian: apt-get install chromium): "
        "the status page is not checked in a browser",
    )


def chromium_path() -> str:
    assert CHROMIUM is not None, f"Chromium is required ({REQUIRE_ENV}=1) but not installed"
    return CHROMIUM


class Page:
    """One browser tab, driven over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.dialogs: list[str] = []
        self._answers: set[asyncio.Task[Any]] = set()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            elif data.get("method") == "Page.javascriptDialogOpening":
                self.dialogs.append(data["params"]["message"])
                # Answered from a task: this reader must go on to read the answer's reply.
                answer = asyncio.create_task(self.call("Page.handleJavaScriptDialog", accept=True))
                self._answers.add(answer)
                answer.add_done_callback(self._answers.discard)

    async def call(self, method: str, **params: Any) -> Any:
        n = next(self._ids)
        done = asyncio.get_running_loop().create_future()
        self._waiting[n] = done
        await self._ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
        answer = await asyncio.wait_for(done, TIMEOUT_S)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for(f"location.href === {json.dumps(url)} "
                            "&& document.readyState === 'complete'")

    async def wait_for(self, condition: str) -> None:
        """Until the JavaScript `condition` holds in the page (polled, bounded)."""
        for _ in range(TIMEOUT_S * 20):
            try:
                if await self.evaluate(f"Boolean({condition})"):
                    return
            except AssertionError:
                pass  # the page is loading (again): its document is not there yet
            await asyncio.sleep(0.05)  # polling the page, not timing it
        raise AssertionError(f"never true in the page: {condition}")

    async def text(self, selector: str) -> str:
        return str(await self.evaluate(
            f"document.querySelector({json.dumps(selector)})?.textContent ?? ''"))

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    """A headless Chromium with one blank tab, ended (and its profile removed) on exit."""
    with tempfile.TemporaryDirectory() as profile:
        drain: asyncio.Task[bytes] | None = None
        proc = await asyncio.create_subprocess_exec(
            chromium_path(), *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stderr is not None
            async with asyncio.timeout(TIMEOUT_S):
                while b"DevTools listening on" not in (line := await proc.stderr.readline()):
                    assert line, "Chromium ended before its DevTools endpoint was up"
            port = line.decode().split("ws://", 1)[1].split("/", 1)[0]
            # Chromium's log must keep draining, or a full pipe would stall it.
            drain = asyncio.create_task(proc.stderr.read())
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://{port}/json/list") as resp:
                    targets = await resp.json(content_type=None)
                [tab] = [t for t in targets if t["type"] == "page"]
                async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    page = Page(ws)
                    await page.call("Page.enable")
                    try:
                        yield page
                    finally:
                        await page.close()
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            if drain is not None:
                await drain
