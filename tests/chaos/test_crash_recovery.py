"""kill -9 the bot at seeded random moments, restart it, and check that nothing was lost:
no order sent twice, no position left without its protective stop after a restart, and in the
end the store and the emulator agree. SLT_CHAOS_FULL=1 runs 30 trials, CI runs 6."""

import asyncio
import os
import random
import sqlite3
import sys
from pathlib import Path

from slt.adapters.clocks.live import LiveClock
from slt.data import bundled_filters
from slt.domain.values import Quote
from slt.emulator import Emulator, EmulatorConfig

TRIALS = 30 if os.environ.get("SLT_CHAOS_FULL") == "1" else 6
WORKER = Path(__file__).with_name("crash_worker.py")
SYMBOL = "BTCUSDT"


async def market(emulator: Emulator, stop: asyncio.Event) -> None:
    k = 0
    while not stop.is_set():
        k += 1
        bid = 90_000.0 + (k % 11) * 0.5
        emulator.push_quote(Quote(SYMBOL, LiveClock().now_ms(), bid, 1.0, bid + 0.1, 1.0))
        await asyncio.sleep(0.01)  # the pace of the market, not a timing assertion


async def worker(emulator: Emulator, db: Path, seed: int, finish: bool = False):  # type: ignore[no-untyped-def]
    config = emulator.config
    with db.with_suffix(".log").open("a") as log:  # every run's warnings, for a failure's story
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            "--rest",
            emulator.rest_url,
            "--ws",
            emulator.ws_url,
            "--db",
            str(db),
            "--key",
            config.api_key,
            "--secret",
            config.api_secret,
            "--seed",
            str(seed),
            *(["--finish"] if finish else []),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )


async def protected(emulator: Emulator) -> bool:
    """Every position on the exchange gets a working reduce-only stop: at once, or within a
    few seconds when recovery had to settle an entry first (the stop follows the fill)."""
    for _ in range(300):
        held = [p for p in await emulator.exchange.positions() if p.qty != 0]
        stops = [o for o in await emulator.exchange.open_orders() if o.symbol == SYMBOL]
        if not held or stops:
            return True
        await asyncio.sleep(0.01)
    return False


async def trials(tmp_path: Path) -> None:
    rng = random.Random(7)
    clock = LiveClock()
    slowest_recovery = 0
    db = tmp_path / "crash.db"
    config = EmulatorConfig(filters={SYMBOL: bundled_filters()[SYMBOL]}, ws_max_incoming_per_s=1000)
    async with Emulator(config, LiveClock()) as emulator:
        stop = asyncio.Event()
        pusher = asyncio.create_task(market(emulator, stop))
        try:
            for trial in range(TRIALS):
                started = clock.now_ms()
                proc = await worker(emulator, db, trial)
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 30)
                assert line.startswith(b"recovered"), line
                assert await protected(emulator), f"trial {trial}: a position without its stop"
                slowest_recovery = max(slowest_recovery, clock.now_ms() - started)
                for _ in range(rng.randrange(1, 40)):  # a random moment: mid-order, mid-fill...
                    if not await asyncio.wait_for(proc.stdout.readline(), 30):
                        break
                proc.kill()  # SIGKILL: no cleanup of any kind
                await proc.wait()
            finish_started = clock.now_ms()
            proc = await worker(emulator, db, TRIALS, finish=True)
            assert proc.stdout is not None
            tail: list[bytes] = []
            try:
                async with asyncio.timeout(120):
                    while line := await proc.stdout.readline():  # the pipe must never fill
                        tail = [*tail[-5:], line]
            except TimeoutError:
                proc.kill()
                await proc.wait()
                with sqlite3.connect(db) as conn:
                    rows = conn.execute("select id, status, qty, exit_qty from positions"
                                        " where status != 'closed'").fetchall()
                    orders = conn.execute(
                        "select * from orders where position_id in"
                        " (select id from positions where status != 'closed')").fetchall()
                story = db.with_suffix(".log").read_text().splitlines()[-30:]
                raise AssertionError(
                    f"the final run did not finish: {tail}, {rows}, {orders}, {story}"
                ) from None
            assert await proc.wait() == 0
            finish_ms = clock.now_ms() - finish_started
        finally:
            stop.set()
            await pusher
        assert emulator.ledger.sent_twice() == []
        assert [p for p in await emulator.exchange.positions() if p.qty != 0] == []
        with sqlite3.connect(db) as conn:
            open_rows = conn.execute(
                "select count(*) from positions"
                " where status not in ('closed', 'rejected', 'canceled')"
            ).fetchone()[0]
            trades = conn.execute("select count(*) from trades").fetchone()[0]
        assert open_rows == 0
        entries = [
            c
            for c in emulator.ledger.calls
            if c.path == "/fapi/v1/order"
            and c.method == "POST"
            and c.client_id.endswith("-e")
            and c.code is None
        ]
        assert trades >= len(entries) - 1 and trades > 0
        exits = [c for c in emulator.ledger.calls if c.path == "/fapi/v1/order"
                 and c.method == "POST" and "-x" in c.client_id and c.code is None]
        # The figures, for `pytest -s`: what the trials did.
        print(f"\n{TRIALS} kill -9 trials: {len(entries)} entries, {len(exits)} exits sent,"
              f" {trades} trades closed, {len(emulator.ledger.calls)} exchange calls,"
              f" 0 sent twice, 0 left open; slowest restart to protected"
              f" {slowest_recovery} ms, final run closed everything in {finish_ms} ms")


def test_kill_9_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    asyncio.run(trials(tmp_path))
