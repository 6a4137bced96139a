"""Telegram commands against a fake Telegram Bot API on 127.0.0.1 (long polling, replies)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from test_control import commands_for
from test_position_controller import Rig

from slt.adapters.clocks.live import LiveClock
from slt.adapters.notify.env import NotifyConfigError, telegram_control_from_env
from slt.adapters.notify.telegram_control import TelegramControl
from slt.adapters.notify.webhooks import TelegramNotifier

TOKEN = "123456:SECRET-telegram-token"
CHAT = 4242


@dataclass
class FakeTelegram:
    """getUpdates answers the queued updates from the offset asked (holding the poll up to
    its timeout when there are none, as Telegram does); sendMessage records the reply."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    replies: list[tuple[int | str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def push(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self.changed.set()

    async def handle(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        body = await request.json()
        if request.match_info["method"] == "sendMessage":
            self.replies.append((body["chat_id"], body["text"]))
            self.changed.set()
            return web.json_response({"ok": True, "result": {"message_id": 1}})
        self.offsets.append(body["offset"])
        if self.failures:
            status, answer = self.failures.pop(0)
            return web.json_response(answer, status=status)
        fresh = [u for u in self.updates if u["update_id"] >= body["offset"]]
        if not fresh:
            self.changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), body["timeout"])
            fresh = [u for u in self.updates if u["update_id"] >= body["offset"]]
        return web.json_response({"ok": True, "result": fresh})


@asynccontextmanager
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        fake.changed.set()
        await runner.cleanup()


def message(update_id: int, text: str, chat: int = CHAT, age_s: int = 0) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": LiveClock().now_ms() // 1000 - age_s,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "username": "operator"},
            "text": text,
        },
    }


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)  # polling an effect, not timing it
    raise AssertionError(f"never happened: {what}")


def with_control(
    check: Callable[[FakeTelegram, TelegramControl, Rig], Awaitable[None]],
) -> None:
    async def go() -> None:
        rig = Rig()
        async with fake_telegram() as fake:
            bot = TelegramNotifier(TOKEN, str(CHAT), base_url=fake.url)
            control = TelegramControl(bot, {str(CHAT)}, commands_for(rig).run, LiveClock(),
                                      wait_s=1, max_backoff_s=0.05)
            task = asyncio.create_task(control.run_forever())
            try:
                await check(fake, control, rig)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await control.close()

    asyncio.run(go())


def test_an_allowed_chat_commands_the_bot_and_gets_the_answer() -> None:
    async def check(fake: FakeTelegram, control: TelegramControl, rig: Rig) -> None:
        fake.push(message(10, "/stopentry"))
        await until(lambda: len(fake.replies) == 1, "a reply")
        assert fake.replies == [(str(CHAT), "new entries stopped; open positions keep their "
                                 "exits and stops")]
        assert rig.controller.halted == "operator: /stopentry"
        [audited] = rig.store.commands()
        assert (audited.source, audited.user) == ("telegram", f"chat {CHAT} user operator")
        await until(lambda: 11 in fake.offsets, "the update confirmed")
        fake.push(message(11, "/forceexit@slt_bot BTCUSDT"))
        await until(lambda: len(fake.replies) == 2, "a second reply")
        assert fake.replies[1][1] == "refused: no open position in BTCUSDT"
        assert len(rig.store.commands()) == 2  # each command run once

    with_control(check)


def test_other_chats_plain_text_stale_and_malformed_updates_run_nothing() -> None:
    async def check(fake: FakeTelegram, control: TelegramControl, rig: Rig) -> None:
        fake.push(message(1, "/stopentry", chat=666))
        fake.push(message(2, "hello there"))
        fake.push({"update_id": 3, "message": {"text": "/stopentry"}})
        fake.push(message(4, "/stopentry", age_s=3_600))
        fake.push(message(5, "/status"))
        await until(lambda: len(fake.replies) == 2, "two replies")
        assert [chat for chat, _ in fake.replies] == [str(CHAT), str(CHAT)]
        assert fake.replies[0][1].startswith("not run: sent 3600 s ago")
        assert fake.replies[1][1].startswith("paper | entries on")
        assert rig.controller.halted == ""
        assert (control.refused, control.malformed, control.handled) == (1, 1, 2)
        assert [c.command for c in rig.store.commands()] == ["status"]

    with_control(check)


def test_polling_retries_server_errors_and_stops_on_a_refused_token() -> None:
    async def check(fake: FakeTelegram, control: TelegramControl, rig: Rig) -> None:
        fake.failures += [(502, {"ok": False}), (429, {"ok": False, "parameters":
                                                       {"retry_after": 0.01}})]
        fake.push(message(7, "/stopentry"))
        await until(lambda: rig.controller.halted != "", "the command after the errors")
        assert fake.offsets[:3] == [0, 0, 0]

    with_control(check)

    async def refused() -> None:
        async with fake_telegram() as fake:
            fake.failures.append((401, {"ok": False, "description": "Unauthorized"}))
            bot = TelegramNotifier(TOKEN, str(CHAT), base_url=fake.url)
            control = TelegramControl(bot, {str(CHAT)}, commands_for(Rig()).run, LiveClock())
            await asyncio.wait_for(control.run_forever(), 10)  # returns: no endless retries
            await control.close()
            assert fake.offsets == [0]

    asyncio.run(refused())


def test_control_from_env_needs_telegram_and_integer_extra_chats() -> None:
    run = commands_for(Rig()).run
    assert telegram_control_from_env(run, LiveClock(), {}) is None
    env = {"SLT_TELEGRAM_TOKEN": TOKEN, "SLT_TELEGRAM_CHAT_ID": str(CHAT)}
    assert isinstance(telegram_control_from_env(run, LiveClock(), env), TelegramControl)
    try:
        telegram_control_from_env(run, LiveClock(), {**env, "SLT_TELEGRAM_CONTROL_CHATS": "x"})
    except NotifyConfigError as exc:
        assert "SLT_TELEGRAM_CONTROL_CHATS" in str(exc)
    else:
        raise AssertionError("a non-integer chat id was accepted")


def test_a_command_that_fails_does_not_end_polling() -> None:
    async def go() -> None:
        real = commands_for(Rig()).run

        async def run(source: str, user: str, text: str):  # type: ignore[no-untyped-def]
            if text == "/boom":
                raise RuntimeError("a bug in a command")
            return await real(source, user, text)

        async with fake_telegram() as fake:
            bot = TelegramNotifier(TOKEN, str(CHAT), base_url=fake.url)
            control = TelegramControl(bot, {str(CHAT)}, run, LiveClock(), wait_s=1)
            task = asyncio.create_task(control.run_forever())
            try:
                fake.push(message(1, "/boom"))
                fake.push(message(2, "/status"))
                await until(lambda: len(fake.replies) == 1, "the second command's answer")
                assert fake.replies[0][1].startswith("paper | entries on")
                assert not task.done()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await control.close()

    asyncio.run(go())
