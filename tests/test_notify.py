"""Notifications: retries and back-off on the simulated clock, drops, and the Telegram and
Discord adapters against a local stand-in server (127.0.0.1, ephemeral port; no internet)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.notify.env import NotifyConfigError, notifiers_from_env
from slt.adapters.notify.webhooks import DiscordNotifier, TelegramNotifier
from slt.application.notify import (
    BreakerChanged,
    DailyReportReady,
    FeedRestored,
    FeedStale,
    FeedWatch,
    Notifications,
    Outbox,
    ProtectiveStopFailed,
    ProtectiveStopPlaced,
    RetryPolicy,
    TradeClosed,
    TradeOpened,
)
from slt.domain.quote_cache import QuoteAge
from slt.domain.values import Quote
from slt.ports.notifier import Notifier, NotifyError

T0 = 1_764_633_600_000
TOKEN = "123456:SECRET-telegram-token"


@dataclass(frozen=True)
class Text:
    body: str

    def text(self) -> str:
        return self.body


class ScriptedNotifier(Notifier):
    """Answers each send with the next scripted outcome (None: delivered)."""

    name = "scripted"

    def __init__(self, clock: SimulatedClock, script: list[NotifyError | None]) -> None:
        self.clock = clock
        self.script = script
        self.calls: list[tuple[int, str]] = []

    async def send(self, text: str) -> None:
        self.calls.append((self.clock.now_ms(), text))
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome


async def run_down(clock: SimulatedClock, *outboxes: Outbox) -> None:
    """Let the senders work, advancing simulated time only when they all sleep."""
    await clock.settle()
    for _ in range(1000):
        if all(o.idle for o in outboxes):
            return
        clock.fire_due()
        await clock.settle()
    raise AssertionError("outbox never emptied")


def retryable(after: float | None = None) -> NotifyError:
    return NotifyError("HTTP 500", retryable=True, retry_after_s=after)


def test_retries_back_off_exponentially_on_the_clock() -> None:
    async def go() -> tuple[ScriptedNotifier, Outbox]:
        clock = SimulatedClock(T0)
        notifier = ScriptedNotifier(clock, [retryable(), retryable(), retryable(), None])
        outbox = Outbox(notifier, clock)
        outbox.start()
        outbox.publish(Text("hello"))
        await run_down(clock, outbox)
        return notifier, outbox

    notifier, outbox = asyncio.run(go())
    assert [t - T0 for t, _ in notifier.calls] == [0, 1_000, 3_000, 7_000]
    assert (outbox.sent, outbox.retries, outbox.failed, outbox.dropped) == (1, 3, 0, 0)


def test_gives_up_after_max_attempts_and_honours_retry_after() -> None:
    async def go() -> tuple[ScriptedNotifier, Outbox]:
        clock = SimulatedClock(T0)
        notifier = ScriptedNotifier(clock, [retryable(30.0)] + [retryable()] * 9)
        outbox = Outbox(notifier, clock, policy=RetryPolicy(max_attempts=3))
        outbox.start()
        outbox.publish(Text("first"))
        outbox.publish(Text("second"))
        await run_down(clock, outbox)
        return notifier, outbox

    notifier, outbox = asyncio.run(go())
    # first: asked for 30 s, then backs off 2 s, then gives up; second: 1 s, 2 s, gives up
    assert [(t - T0, text) for t, text in notifier.calls] == [
        (0, "first"), (30_000, "first"), (32_000, "first"),
        (32_000, "second"), (33_000, "second"), (35_000, "second")]
    assert (outbox.sent, outbox.retries, outbox.failed) == (0, 4, 2)


def test_a_refusal_is_not_retried() -> None:
    async def go() -> tuple[ScriptedNotifier, Outbox]:
        clock = SimulatedClock(T0)
        notifier = ScriptedNotifier(clock, [NotifyError("HTTP 401", retryable=False), None])
        outbox = Outbox(notifier, clock)
        outbox.start()
        outbox.publish(Text("a"))
        outbox.publish(Text("b"))
        await run_down(clock, outbox)
        return notifier, outbox

    notifier, outbox = asyncio.run(go())
    assert [(t - T0, text) for t, text in notifier.calls] == [(0, "a"), (0, "b")]
    assert (outbox.sent, outbox.failed, outbox.retries) == (1, 1, 0)


class HangingNotifier(Notifier):
    name = "hanging"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def send(self, text: str) -> None:
        self.started += 1
        await self.release.wait()


def test_publishing_never_waits_for_a_hung_notifier_and_drops_the_oldest() -> None:
    async def go() -> None:
        clock = SimulatedClock(T0)
        notifier = HangingNotifier()
        outbox = Outbox(notifier, clock, capacity=3)
        outbox.start()
        outbox.publish(Text("m0"))
        await asyncio.sleep(0)  # the sender takes m0 and hangs in send
        assert notifier.started == 1
        for k in range(1, 1001):  # synchronous: not one of these can wait
            outbox.publish(Text(f"m{k}"))
        stats = outbox.stats()
        assert (stats.queued, stats.dropped, stats.sent) == (3, 997, 0)
        assert list(outbox._queue) == ["m998", "m999", "m1000"]
        await outbox.close()  # cancels the hung send; it and what was queued count as dropped
        assert outbox.stats().dropped == 1001 and outbox.idle

    asyncio.run(go())


def test_publish_before_the_loop_runs_is_sent_after_start() -> None:
    clock = SimulatedClock(T0)
    notifier = ScriptedNotifier(clock, [])
    outbox = Outbox(notifier, clock)
    outbox.publish(Text("early"))  # no event loop yet

    async def go() -> None:
        outbox.start()
        await run_down(clock, outbox)

    asyncio.run(go())
    assert [text for _, text in notifier.calls] == ["early"] and outbox.sent == 1


def test_one_failing_destination_does_not_hold_back_another() -> None:
    async def go() -> tuple[ScriptedNotifier, ScriptedNotifier]:
        clock = SimulatedClock(T0)
        bad = ScriptedNotifier(clock, [retryable()] * 3)
        good = ScriptedNotifier(clock, [])
        hub = Notifications.for_notifiers([bad, good], clock)
        hub.start()
        hub.publish(Text("x"))
        hub.publish(Text("y"))
        await clock.settle()
        assert [text for _, text in good.calls] == ["x", "y"]  # before any back-off elapsed
        await run_down(clock, *hub.outboxes)
        assert [s.sent for s in hub.stats()] == [2, 2]
        await hub.close()
        return bad, good

    bad, _ = asyncio.run(go())
    assert [t - T0 for t, _ in bad.calls] == [0, 1_000, 3_000, 7_000, 7_000]


def test_event_texts() -> None:
    assert TradeOpened(7, "BTCUSDT", "LONG", Decimal("0.010"), Decimal("90000.5"),
                       Decimal(89000), Decimal(92000), T0).text() == (
        "Opened LONG 0.010 BTCUSDT @ 90000.5 (stop 89000, target 92000) #7")
    assert TradeClosed(7, "BTCUSDT", "LONG", Decimal("0.010"), Decimal("90000.5"),
                       Decimal("91000.25"), Decimal("9.4321"), "take_profit", T0).text() == (
        "Closed LONG 0.010 BTCUSDT @ 91000.25 (take_profit): +9.43 USDT net, entry 90000.5 #7")
    assert ProtectiveStopPlaced(7, "BTCUSDT", Decimal(89000)).text() == (
        "Stop placed for BTCUSDT #7 at 89000")
    assert "NOT placed (-2021: would trigger)" in ProtectiveStopFailed(
        7, "BTCUSDT", Decimal(89000), "-2021: would trigger").text()
    assert BreakerChanged(T0, "NORMAL", "THROTTLED", "RATE_LIMIT_429").text() == (
        "Circuit breaker NORMAL -> THROTTLED (RATE_LIMIT_429) at 2025-12-02 00:00:00 UTC")
    assert FeedStale(("ETHUSDT",), 7_500, T0).text() == (
        "Feed stale: no fresh quote for 7.5 s: ETHUSDT")
    many = tuple(f"S{k}USDT" for k in range(8))
    assert FeedRestored(many, 12_000, T0).text() == (
        "Feed restored after 12.0 s: S0USDT, S1USDT, S2USDT, S3USDT, S4USDT (+3 more)")
    assert DailyReportReady("2025-12-01", 4, 0.5, Decimal(5), Decimal("2.25"), Decimal(4),
                            0.125).text() == (
        "Daily report 2025-12-01: 4 trades, win rate 50%, net +5.00 USDT (fees 2.25),"
        " max drawdown 4.00, expectancy +0.12 R")


def test_feed_watch_reports_each_change_once_and_groups_symbols() -> None:
    ages: dict[str, QuoteAge | None] = {"BTCUSDT": None, "ETHUSDT": None, "SOLUSDT": None}
    seen: list[Any] = []
    watch = FeedWatch(lambda: ages, ages.get, seen.append)

    def at(now: int, **state: int | None) -> None:
        for symbol, age in state.items():
            ages[symbol] = None if age is None else QuoteAge(
                Quote(symbol, now - age, 1.0, 1.0, 1.1, 1.0), age, age > 5_000)
        asyncio.run(watch.check(now))

    at(T0, BTCUSDT=100, ETHUSDT=200)  # SOLUSDT never quoted: still starting, not stale
    assert seen == []
    at(T0 + 10_000, BTCUSDT=9_000, ETHUSDT=6_000)  # the connection dropped at T0 + 1 s
    at(T0 + 15_000, BTCUSDT=14_000, ETHUSDT=11_000)  # still down: nothing new to say
    assert seen == [FeedStale(("BTCUSDT", "ETHUSDT"), 9_000, T0 + 10_000)]
    at(T0 + 20_000, BTCUSDT=50, ETHUSDT=12_000)
    assert seen[1:] == [FeedRestored(("BTCUSDT",), 18_950, T0 + 20_000)]
    assert watch.stale == {"ETHUSDT"}


# --- the adapters, against a stand-in for Telegram and Discord ---


@dataclass
class StandIn:
    """Answers requests from a script of (status, JSON body) or "hang"; records each."""

    clock: SimulatedClock
    script: list[Any]
    received: list[tuple[int, str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((self.clock.now_ms(), request.path, await request.json()))
        step = self.script.pop(0) if self.script else (200, {"ok": True})
        if step == "hang":
            await self.release.wait()
            return web.Response(status=503)
        status, body, *headers = step
        if body is None:
            return web.Response(status=status, headers=dict(headers[0]) if headers else None)
        return web.json_response(body, status=status, headers=headers[0] if headers else None)


@asynccontextmanager
async def stand_in(clock: SimulatedClock, script: list[Any]) -> AsyncIterator[StandIn]:
    server = StandIn(clock, script)
    app = web.Application()
    app.router.add_post("/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)  # its access log would show the token
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


def deliver(make: Callable[[str], Notifier], script: list[Any], texts: list[str],
            policy: RetryPolicy | None = None) -> tuple[StandIn, Outbox]:
    async def go() -> tuple[StandIn, Outbox]:
        clock = SimulatedClock(T0)
        async with stand_in(clock, script) as server:
            outbox = Outbox(make(server.url), clock, policy=policy)
            outbox.start()
            for text in texts:
                outbox.publish(Text(text))
            await run_down(clock, outbox)
            await outbox.close()
        return server, outbox

    return asyncio.run(go())


def test_telegram_retries_500_and_waits_as_long_as_a_429_asks() -> None:
    script = [(500, {"ok": False, "error_code": 500, "description": "Internal"}),
              (429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 7}}),
              (200, {"ok": True, "result": {}})]
    server, outbox = deliver(
        lambda url: TelegramNotifier(TOKEN, "-100200", base_url=url), script, ["Opened LONG"])
    assert [(t - T0, path) for t, path, _ in server.received] == [
        (0, f"/bot{TOKEN}/sendMessage"), (1_000, f"/bot{TOKEN}/sendMessage"),
        (8_000, f"/bot{TOKEN}/sendMessage")]
    assert server.received[-1][2] == {
        "chat_id": "-100200", "text": "Opened LONG", "disable_web_page_preview": True}
    assert (outbox.sent, outbox.retries, outbox.failed) == (1, 2, 0)


def test_telegram_ok_false_is_a_failure_and_a_bad_token_is_not_retried() -> None:
    script = [(200, {"ok": False, "description": "Bad Request: chat not found"}),
              (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})]
    server, outbox = deliver(
        lambda url: TelegramNotifier(TOKEN, "1", base_url=url), script, ["a", "b"])
    assert len(server.received) == 2 and (outbox.sent, outbox.failed) == (0, 2)


def test_discord_times_out_then_delivers_with_mentions_disabled() -> None:
    script = ["hang", (204, None)]
    server, outbox = deliver(
        lambda url: DiscordNotifier(f"{url}/api/webhooks/42/hook-secret", timeout_s=0.2),
        script, ["Closed SHORT @everyone"])
    assert [t - T0 for t, _, _ in server.received] == [0, 1_000]
    assert server.received[1][1] == "/api/webhooks/42/hook-secret"
    assert server.received[1][2] == {
        "content": "Closed SHORT @everyone", "allowed_mentions": {"parse": []}}
    assert (outbox.sent, outbox.retries) == (1, 1)


def test_discord_429_retry_after_from_the_body() -> None:
    script = [(429, {"message": "You are being rate limited.", "retry_after": 4.5}),
              (200, {"id": "1"})]
    server, outbox = deliver(
        lambda url: DiscordNotifier(f"{url}/api/webhooks/1/x"), script, ["x"])
    assert [t - T0 for t, _, _ in server.received] == [0, 4_500] and outbox.sent == 1


def test_long_texts_are_clipped_to_the_service_limits() -> None:
    server, _ = deliver(lambda url: TelegramNotifier(TOKEN, "1", base_url=url), [], ["x" * 5000])
    assert len(server.received[0][2]["text"]) == 4096
    server, _ = deliver(lambda url: DiscordNotifier(f"{url}/api/webhooks/1/x"), [], ["y" * 3000])
    assert len(server.received[0][2]["content"]) == 2000


def test_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hook_secret = "discord-hook-SECRET"
    script = [(500, {"ok": False, "description": f"echo {TOKEN}"}),
              (403, {"ok": False, "description": f"Forbidden for bot{TOKEN}"})]
    deliver(lambda url: TelegramNotifier(TOKEN, "1", base_url=url), script, ["t"])
    deliver(lambda url: DiscordNotifier(f"{url}/api/webhooks/9/{hook_secret}"),
            [(404, {"message": f"Unknown Webhook {hook_secret}"})], ["d"])

    # Nothing listens on a closed port: connection errors name the URL in aiohttp's text.
    async def unreachable() -> Outbox:
        clock = SimulatedClock(T0)
        probe = web.AppRunner(web.Application())
        await probe.setup()
        site = web.TCPSite(probe, "127.0.0.1", 0)
        await site.start()
        port = probe.addresses[0][1]
        await probe.cleanup()
        outbox = Outbox(TelegramNotifier(TOKEN, "1", base_url=f"http://127.0.0.1:{port}"),
                        clock, policy=RetryPolicy(max_attempts=2))
        outbox.start()
        outbox.publish(Text("u"))
        await run_down(clock, outbox)
        await outbox.close()
        return outbox

    assert asyncio.run(unreachable()).failed == 1
    logged = caplog.text + "".join(
        caplog_record_exc(r) for r in caplog.records)
    assert "dropped after" in logged  # the failures were logged...
    assert TOKEN not in logged and "SECRET" not in logged  # ...without the secrets
    assert "SECRET" not in repr(TelegramNotifier(TOKEN, "1"))
    assert "SECRET" not in repr(DiscordNotifier(f"https://x/api/webhooks/9/{hook_secret}"))


def caplog_record_exc(record: logging.LogRecord) -> str:
    return logging.Formatter().formatException(record.exc_info) if record.exc_info else ""


def test_notifiers_from_env() -> None:
    assert notifiers_from_env({}) == []
    both = notifiers_from_env({"SLT_TELEGRAM_TOKEN": TOKEN, "SLT_TELEGRAM_CHAT_ID": "5",
                               "SLT_DISCORD_WEBHOOK_URL": "https://d/api/webhooks/1/s"})
    assert [n.name for n in both] == ["telegram", "discord"]
    with pytest.raises(NotifyConfigError, match="SLT_TELEGRAM_CHAT_ID is not set") as err:
        notifiers_from_env({"SLT_TELEGRAM_TOKEN": TOKEN})
    assert TOKEN not in str(err.value)
    with pytest.raises(NotifyConfigError, match="SLT_DISCORD_WEBHOOK_URL"):
        notifiers_from_env({"SLT_DISCORD_WEBHOOK_URL": "ftp://secret"})


class SlowNotifier(Notifier):
    """Each message takes two seconds of (simulated) time to go out."""

    name = "slow"

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        await self.clock.sleep(2)
        self.sent.append(text)


@pytest.mark.parametrize(("flush_s", "sent", "dropped"), [(10.0, 3, 0), (3.0, 1, 2), (0.0, 0, 3)])
def test_close_flushes_the_queue_for_at_most_its_bound(
    flush_s: float, sent: int, dropped: int
) -> None:
    async def go() -> tuple[SlowNotifier, Notifications]:
        clock = SimulatedClock(T0)
        notifier = SlowNotifier(clock)
        notifications = Notifications.for_notifiers([notifier], clock)
        notifications.start()
        for text in ("a", "b", "c"):
            notifications.publish(Text(text))
        closing = asyncio.create_task(notifications.close(flush_s))
        for _ in range(100):
            await clock.settle()
            for _ in range(10):  # let `close` (not a clock task) see what the clock woke
                await asyncio.sleep(0)
            if closing.done():
                break
            clock.fire_due()
        await closing
        assert clock.now_ms() - T0 <= flush_s * 1000
        return notifier, notifications

    notifier, notifications = asyncio.run(go())
    assert len(notifier.sent) == sent
    [stats] = notifications.stats()
    assert (stats.sent, stats.dropped, stats.queued) == (sent, dropped, 0)
