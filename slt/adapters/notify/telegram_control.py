"""Operator commands from Telegram: long polling (getUpdates), a chat allow-list, an answer.

Only messages starting with `/` from an allowed chat (SLT_TELEGRAM_CHAT_ID, plus any in
SLT_TELEGRAM_CONTROL_CHATS) are run; others are counted and dropped, and the chat id that
tried is logged. A command older than `max_age_s` when it arrives (sent while the bot was
down, say) is not run: "/forceexit all" typed an hour ago is not what the operator wants now;
the answer says so. Each update is confirmed by the next poll's offset, so a command is run
once even if the answer fails.

Polling waits on the network, never on a clock; after a failure it backs off through the
Clock (honouring Telegram's retry_after), and a refusal (a wrong token, or another process
polling the same bot: HTTP 401/404/409) stops it with an error in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from slt.adapters.notify.webhooks import TelegramNotifier
from slt.application.control import CommandResult
from slt.ports.clock import Clock
from slt.ports.notifier import NotifyError

log = logging.getLogger(__name__)

CommandRunner = Callable[[str, str, str], Awaitable[CommandResult]]


class TelegramControl:
    def __init__(
        self,
        bot: TelegramNotifier,
        allowed_chats: Iterable[str],
        run: CommandRunner,
        clock: Clock,
        *,
        wait_s: int = 25,
        max_age_s: int = 60,
        max_backoff_s: float = 60.0,
    ) -> None:
        self._bot = bot
        self._allowed = frozenset(allowed_chats)
        self._run = run
        self._clock = clock
        self._wait_s = wait_s
        self._max_age_ms = max_age_s * 1000
        self._max_backoff_s = max_backoff_s
        self._offset = 0
        self.handled = 0
        self.refused = 0  # from chats not on the allow-list
        self.malformed = 0

    async def run_forever(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self._bot.updates(self._offset, self._wait_s)
            except NotifyError as exc:
                if not exc.retryable:
                    log.error("telegram commands stopped: %s", exc)
                    return
                failures += 1
                backoff = min(self._max_backoff_s, 2.0 ** (failures - 1))
                await self._clock.sleep(max(backoff, exc.retry_after_s or 0.0))
                continue
            failures = 0
            for update in updates:
                try:
                    await self.handle(update)
                except Exception:
                    # One bad update must not end the operator's remote control.
                    log.exception("telegram update not handled")

    async def handle(self, update: Any) -> None:
        """One update from getUpdates: run it if it is a command from an allowed chat."""
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int):
            self.malformed += 1
            return
        self._offset = max(self._offset, update_id + 1)
        message = update.get("message")
        if not isinstance(message, dict):
            return  # not a message (an edit, a member change...): nothing to do
        text, chat, sent_s = message.get("text"), message.get("chat"), message.get("date")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if not (isinstance(text, str) and isinstance(chat_id, int) and isinstance(sent_s, int)):
            self.malformed += 1
            return
        if not text.startswith("/"):
            return
        if str(chat_id) not in self._allowed:
            self.refused += 1
            log.warning("telegram command from chat %s ignored: not on the allow-list", chat_id)
            return
        sender = message.get("from")
        who = sender.get("username") or sender.get("id") if isinstance(sender, dict) else None
        user = f"chat {chat_id}" + (f" user {who}" if who else "")
        age_ms = self._clock.now_ms() - sent_s * 1000
        if age_ms > self._max_age_ms:
            answer = f"not run: sent {age_ms // 1000} s ago (while the bot was down?); send again"
        else:
            result = await self._run("telegram", user, text)
            answer = result.text if result.ok else f"refused: {result.text}"
        self.handled += 1
        await self._reply(str(chat_id), answer)

    async def _reply(self, chat_id: str, text: str) -> None:
        try:
            await self._bot.send_to(chat_id, text)
        except NotifyError as exc:
            log.warning("telegram answer not delivered: %s", exc)

    async def close(self) -> None:
        await self._bot.close()

