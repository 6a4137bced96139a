"""The operator's cockpit with real processes: `slt emulator`, and `slt live` (paper) against
it with the status server on and Telegram pointed at a fake Bot API on 127.0.0.1.

One session: start notice on Telegram; POST /api/control/stopentry halts entries (status line,
/api/status); /status and /start from the Telegram chat; SIGHUP reloads the changed config
file instead of ending the bot; SIGTERM ends it with the stop notice delivered, the journal on
the terminal without -v and everything in state/slt.log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
from test_telegram_control import CHAT, TOKEN, FakeTelegram, fake_telegram, message

STATUS_TOKEN = "process-status-token-0123456789"
TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Output:
    """Lines a process writes, collected as they come (so its pipe never fills)."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def wait_for(self, found: Callable[[str], bool], what: str, since: int = 0) -> str:
        """The first line from line `since` on that `found` accepts."""
        return await until(lambda: next((x for x in self.lines[since:] if found(x)), None), what)


async def until(check: Callable[[], object], what: str) -> object:
    async with asyncio.timeout(TIMEOUT_S):
        while not (value := check()):
            await asyncio.sleep(0.05)  # polling a process for an effect, not timing it
    return value


async def spawn(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slt.entrypoints.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def session(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLT_", "BINANCE_"))}
    emulator = await spawn("emulator", "--port", "0", "--speed", "30", env=env)
    assert emulator.stdout is not None and emulator.stderr is not None
    emu_out, emu_err = Output(emulator.stdout), Output(emulator.stderr)
    live: asyncio.subprocess.Process | None = None
    try:
        banner = str(await emu_out.wait_for(lambda x: "REST http" in x, "the emulator's banner"))
        rest, ws = banner.split("REST ")[1].split()[0], banner.split("WS ")[1].split()[0]
        async with fake_telegram() as telegram:
            live = await run_bot(tmp_path, env, rest, ws, telegram)
    finally:
        for proc in (live, emulator):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        await emu_out.task
        await emu_err.task


def replies(telegram: FakeTelegram) -> list[str]:
    return [text for _, text in telegram.replies]


async def run_bot(
    tmp_path: Path, env: dict[str, str], rest: str, ws: str, telegram: FakeTelegram
) -> asyncio.subprocess.Process:
    state, port = tmp_path / "state", free_port()
    config = tmp_path / "slt.toml"
    base = (
        f'[live]\nstate_dir = "{state}"\nstatus_port = {port}\nstatus_interval_s = 1\n'
        f'telegram_api = "{telegram.url}"\n'
    )
    config.write_text(base)
    bot_env = {**env, "SLT_STATUS_TOKEN": STATUS_TOKEN, "SLT_TELEGRAM_TOKEN": TOKEN,
               "SLT_TELEGRAM_CHAT_ID": str(CHAT)}
    bot = await spawn("live", "--config", str(config), "--rest-url", rest, "--ws-url", ws,
                      "--symbols", "BTCUSDT", env=bot_env)
    assert bot.stdout is not None and bot.stderr is not None
    out, err = Output(bot.stdout), Output(bot.stderr)
    api = f"http://127.0.0.1:{port}"
    bearer = {"Authorization": f"Bearer {STATUS_TOKEN}"}
    try:
        await until(lambda: any(r.startswith("slt started (paper): BTCUSDT")
                                for r in replies(telegram)), "the start notice")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{api}/api/control/stopentry", headers=bearer) as resp:
                assert resp.status == 200 and (await resp.json())["ok"] is True
            await out.wait_for(lambda x: "entries halted (operator: /stopentry)" in x,
                               "a status line showing entries halted")
            async with http.get(f"{api}/api/status", headers=bearer) as resp:
                assert (await resp.json())["entries_halted"] == "operator: /stopentry"

            telegram.push(message(1, "/status"))
            await until(lambda: any("entries halted (operator: /stopentry)" in r
                                    for r in replies(telegram)), "the /status answer")
            telegram.push(message(2, "/start"))
            await until(lambda: any(r.startswith("new entries resumed")
                                    for r in replies(telegram)), "the /start answer")
            await out.wait_for(lambda x: "| entries on" in x, "entries on again",
                               since=len(out.lines))

            config.write_text(base + "[risk]\nmax_leverage = 3\n")
            bot.send_signal(signal.SIGHUP)
            await err.wait_for(lambda x: "configuration reloaded: applied risk.max_leverage" in x,
                               "the reload in the journal")
            assert bot.returncode is None  # SIGHUP no longer ends the bot
            async with http.get(f"{api}/api/status", headers=bearer) as resp:
                audit = (await resp.json())["commands"]
        assert [(c["source"], c["command"], c["ok"]) for c in audit] == [
            ("signal", "reload_config", True), ("telegram", "start", True),
            ("telegram", "status", True), ("http", "stopentry", True)]

        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), TIMEOUT_S) == 0
        await out.task
        await err.task
    except TimeoutError:
        tail = "\n".join([*out.lines[-5:], *err.lines[-15:], *replies(telegram)])
        raise AssertionError(f"the bot did not get there; its last words:\n{tail}") from None
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert any(r.startswith("slt stopping (paper)") for r in replies(telegram))
    journal = [x for x in err.lines if " INFO slt.application.journal: " in x]  # shown without -v
    assert any("command /stopentry from http token@127.0.0.1" in x for x in journal)
    assert any(x.endswith("slt stopped (paper)") for x in journal)
    log = (state / "slt.log").read_text()
    assert "command /start from telegram chat" in log and "slt stopped (paper)" in log
    assert STATUS_TOKEN not in log and TOKEN not in log
    return bot


def test_operator_controls_a_running_paper_bot(tmp_path: Path) -> None:
    asyncio.run(session(tmp_path))
