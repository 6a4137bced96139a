"""The status page's buttons, clicked in headless Chromium (driven over the DevTools
protocol): the command reaches the running bot through POST /api/control with the token in a
header, its answer shows on the page, and the page shows the effect once it reloads."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from browser.devtools import browser_page, needs_chromium
from browser.simulation import paused_simulation

from slt.adapters.status.server import StatusServer
from slt.application.control import Cockpit, Commands

pytestmark = needs_chromium()
TOKEN = "browser-test-token-0123456789"


def test_buttons_stop_entries_and_force_an_exit(tmp_path: Path) -> None:
    paused = paused_simulation(tmp_path / "sim")
    container = paused.container
    controller = container.controller()
    symbol = paused.open_symbols[0]
    [position] = [p for p in controller.positions.values() if p.symbol == symbol]
    commands = Commands(
        container.clock(),
        Cockpit(
            mode="simulate",
            controller=controller,
            store=container.store(),
            balance=container.gateway().balance,
            latest=container.feed().latest,
            breaker_level=lambda: str(container.breaker().level),
        ),
    )
    source = dataclasses.replace(paused.source, halted=lambda: controller.halted)

    async def go() -> tuple[str, str, str, list[str]]:
        server = StatusServer(source, TOKEN, port=0, refresh_s=3600, commands=commands.run)
        url = await server.start()
        try:
            async with browser_page() as page:
                await page.open(f"{url}/?token={TOKEN}")
                assert await page.text("#entries") == "on"
                await page.evaluate("document.querySelector('#btn-stopentry').click()")
                # The page reloads with the answer and the effect.
                await page.wait_for("document.querySelector('#control-result').dataset.ok")
                stopped = await page.text("#control-result")
                entries = await page.text("#entries")
                await page.evaluate(
                    f"document.querySelector('#btn-forceexit-{symbol}').click()")
                await page.wait_for(
                    "document.querySelector('#control-result').textContent.startsWith('/forceexit:')")
                exited = await page.text("#control-result")
                audited = await page.evaluate(
                    "[...document.querySelectorAll('#commands tr[data-command]')]"
                    ".map(r => r.dataset.command + ':' + r.dataset.ok)")
                dialogs = page.dialogs
        finally:
            await server.stop()
        return stopped, exited, entries, [*audited, *dialogs]

    stopped, exited, entries, seen = asyncio.run(go())
    assert stopped == "/stopentry: new entries stopped; open positions keep their exits and stops"
    assert controller.halted == "operator: /stopentry"
    assert entries == "halted: operator: /stopentry"
    assert exited.startswith(f"/forceexit: exit sent for {symbol} #{position.id}")
    assert position.status != "open" and position.exit_reason == "force_exit"
    assert seen == ["forceexit:true", "stopentry:true", f"Send a market exit for {symbol}?"]
