"""The real `slt live` process against the emulator: start-up waits out a ban or a 429 instead of
exiting, and a second bot on the same state file is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from slt.adapters.clocks.live import LiveClock
from slt.domain.values import Quote
from slt.emulator import Emulator, EmulatorConfig

TIMEOUT_S = 60.0  # after a ban the breaker holds history requests one cool-down (30 s)
SLT = Path(sys.executable).with_name("slt")


async def market(emulator: Emulator, stop: asyncio.Event) -> None:
    k = 0
    while not stop.is_set():  # bookTicker streams only send on change: keep the book moving
        k += 1
        bid = 90_000.0 + (k % 5) * 0.1
        emulator.push_quote(Quote("BTCUSDT", LiveClock().now_ms(), bid, 1.0, bid + 0.1, 1.0))
        await asyncio.sleep(0.05)  # the pace of the market, not a timing assertion


@asynccontextmanager
async def running_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
        stop = asyncio.Event()
        pusher = asyncio.create_task(market(emulator, stop))
        try:
            yield emulator
        finally:
            stop.set()
            await pusher


async def start_bot(emulator: Emulator, state: Path) -> asyncio.subprocess.Process:
    config = state.parent / "slt.toml"
    config.write_text(f'[live]\nstate_dir = "{state}"\nstatus_interval_s = 1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLT_", "BINANCE_"))}
    return await asyncio.create_subprocess_exec(
        str(SLT), "live", "--symbols", "BTCUSDT", "--config", str(config),
        "--rest-url", emulator.rest_url, "--ws-url", emulator.ws_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )


async def lines_until(proc: asyncio.subprocess.Process, marker: str) -> list[str]:
    """stdout lines up to and including the first containing `marker`."""
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                stderr = await proc.stderr.read() if proc.stderr else b""
                raise AssertionError(f"the bot ended: {seen}, {stderr.decode()[-2000:]}")
            seen.append(raw.decode().rstrip())
            if marker in seen[-1]:
                return seen


async def interrupt(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(TIMEOUT_S):
        return await proc.wait()


def test_start_up_waits_out_an_ip_ban_then_trades(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_emulator() as emulator:
            emulator.faults.ban(10_000)  # longer than the bot takes to import and start
            proc = await start_bot(emulator, tmp_path / "state")
            lines = await lines_until(proc, "connecting: resumed")
            assert await interrupt(proc) == 0
        waits = [line for line in lines if "waiting until" in line]
        # one refused attempt: the next one waited for the ban's announced end
        assert len(waits) == 1 and "banned until" in waits[0], lines
        assert any("connecting: resumed after 1 refused attempts" in line for line in lines)

    asyncio.run(main())


def test_start_up_waits_out_429s_with_their_retry_after(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_emulator() as emulator:
            emulator.faults.throttle_next(2, retry_after_s=1)
            proc = await start_bot(emulator, tmp_path / "state")
            lines = await lines_until(proc, "connecting: resumed")
            assert await interrupt(proc) == 0
        waits = [line for line in lines if "waiting until" in line]
        assert len(waits) == 2 and all("429" in w for w in waits), lines
        assert any("resumed after 2 refused attempts" in line for line in lines)

    asyncio.run(main())


def test_a_second_bot_on_the_same_state_file_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_emulator() as emulator:
            first = await start_bot(emulator, tmp_path / "state")
            await lines_until(first, "| feed BTCUSDT:")
            second = await start_bot(emulator, tmp_path / "state")
            async with asyncio.timeout(TIMEOUT_S):
                _, err = await second.communicate()
            assert second.returncode == 1
            assert f"another slt (pid {first.pid}) is running on" in err.decode()
            assert first.returncode is None  # the first one trades on
            assert await interrupt(first) == 0

    asyncio.run(main())


def test_a_restart_during_a_ban_sends_nothing_until_it_ends(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_emulator() as emulator:
            emulator.faults.ban(30_000)
            first = await start_bot(emulator, tmp_path / "state")
            await lines_until(first, "waiting until")  # it met the ban and saved it
            first.kill()  # no goodbye of any kind
            await first.wait()
            sent = sum(emulator.requests.values())
            second = await start_bot(emulator, tmp_path / "state")
            lines = await lines_until(second, "waiting until")
            assert sum(emulator.requests.values()) == sent  # held back at home
            second.kill()
            await second.wait()
        assert "held back: ip_ban" in lines[-1], lines

    asyncio.run(main())
