"""The status page in a real headless browser (Debian's Chromium), served from a paused
simulation. Skipped where Chromium is not installed, except in CI (SLT_REQUIRE_BROWSER=1).

Set SLT_BROWSER_ARTIFACTS=DIR to keep the screenshot for a look.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from browser.devtools import FLAGS, TIMEOUT_S, chromium_path, needs_chromium
from browser.simulation import paused_simulation

from slt.adapters.status.server import StatusServer

pytestmark = needs_chromium()
TOKEN = "browser-test-token-0123456789"


async def chromium(*args: str) -> str:
    """Run headless Chromium once; return what it printed on stdout."""
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            chromium_path(),
            *FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


class Dom(HTMLParser):
    """Text by element id, and the data attributes of table rows, from a dumped DOM."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.rows: dict[str, list[dict[str, str]]] = {}
        self._open: list[str | None] = []
        self._table: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr" and self._table and any(k.startswith("data-") for k in a):
            self.rows.setdefault(self._table, []).append(a)
        if tag in ("meta", "br", "img", "input", "link"):
            return
        self._open.append(a.get("id"))
        if a.get("id"):
            self.by_id[a["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("meta", "br", "img", "input", "link"):
            return
        if tag == "table":
            self._table = None
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element in self._open:
            if element:
                self.by_id[element] += data


def test_status_page_in_headless_chromium(tmp_path: Path) -> None:
    paused = paused_simulation(tmp_path / "sim")
    shot = tmp_path / "status.png"

    async def go() -> tuple[str, str]:
        server = StatusServer(paused.source, TOKEN, port=0)
        url = await server.start()
        try:
            refused = await chromium("--dump-dom", f"{url}/")
            dom = await chromium("--dump-dom", f"{url}/?token={TOKEN}")
            await chromium(f"--screenshot={shot}", "--window-size=1280,900",
                           f"{url}/?token={TOKEN}")
        finally:
            await server.stop()
        return refused, dom

    refused, text = asyncio.run(go())
    assert "unauthorized" in refused and "BTCUSDT" not in refused
    dom = Dom(text)
    assert dom.by_id["breaker-level"] == "WARNING"
    assert dom.by_id["mode"] == "simulate"
    assert dom.by_id["open-positions"] == str(len(paused.source().positions))
    shown = sorted(row["data-symbol"] for row in dom.rows["positions"])
    assert shown == paused.open_symbols and len(shown) >= 2
    assert len(dom.rows["orders"]) == len(shown)  # one protective stop each
    assert [row["data-symbol"] for row in dom.rows["feeds"]] == [
        "BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    assert all(row["data-stale"] == "false" for row in dom.rows["feeds"])

    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 900)
    keep = os.environ.get("SLT_BROWSER_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "status-page.png")
