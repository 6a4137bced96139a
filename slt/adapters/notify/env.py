"""Notifiers configured from the environment (tokens are never settings in a file)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from slt.adapters.notify.telegram_control import CommandRunner, TelegramControl
from slt.adapters.notify.webhooks import TELEGRAM_API, DiscordNotifier, TelegramNotifier
from slt.ports.clock import Clock
from slt.ports.notifier import Notifier

ENV_TELEGRAM_TOKEN = "SLT_TELEGRAM_TOKEN"
ENV_TELEGRAM_CHAT_ID = "SLT_TELEGRAM_CHAT_ID"
ENV_DISCORD_WEBHOOK_URL = "SLT_DISCORD_WEBHOOK_URL"
# More chats (comma-separated ids) whose commands are run, besides SLT_TELEGRAM_CHAT_ID's.
ENV_TELEGRAM_CONTROL_CHATS = "SLT_TELEGRAM_CONTROL_CHATS"
# Variables whose values are secrets: shown by no command unless asked, logged by nothing.
SECRET_ENV = (ENV_TELEGRAM_TOKEN, ENV_DISCORD_WEBHOOK_URL)


class NotifyConfigError(ValueError):
    """A notifier is half configured; the message names the variable, never a value."""


def notifiers_from_env(
    env: Mapping[str, str] | None = None, *, telegram_api: str = TELEGRAM_API
) -> list[Notifier]:
    """Telegram when both its variables are set, Discord when its URL is; none otherwise."""
    env = os.environ if env is None else env
    token = env.get(ENV_TELEGRAM_TOKEN, "").strip()
    chat = env.get(ENV_TELEGRAM_CHAT_ID, "").strip()
    hook = env.get(ENV_DISCORD_WEBHOOK_URL, "").strip()
    notifiers: list[Notifier] = []
    if token or chat:
        if not (token and chat):
            missing = ENV_TELEGRAM_CHAT_ID if token else ENV_TELEGRAM_TOKEN
            raise NotifyConfigError(f"{missing} is not set (Telegram needs both variables)")
        notifiers.append(TelegramNotifier(token, chat, base_url=telegram_api))
    if hook:
        try:
            notifiers.append(DiscordNotifier(hook))
        except ValueError:
            raise NotifyConfigError(f"{ENV_DISCORD_WEBHOOK_URL} is not an http(s) URL") from None
    return notifiers


def telegram_control_from_env(
    run: CommandRunner,
    clock: Clock,
    env: Mapping[str, str] | None = None,
    *,
    telegram_api: str = TELEGRAM_API,
) -> TelegramControl | None:
    """Commands from the Telegram chat, when Telegram is configured; None otherwise."""
    env = os.environ if env is None else env
    bots = [
        n for n in notifiers_from_env(env, telegram_api=telegram_api)
        if isinstance(n, TelegramNotifier)
    ]
    if not bots:
        return None
    extra = env.get(ENV_TELEGRAM_CONTROL_CHATS, "")
    extras = {c.strip() for c in extra.split(",") if c.strip()}
    for chat in extras:
        if not chat.lstrip("-").isdigit():
            raise NotifyConfigError(
                f"{ENV_TELEGRAM_CONTROL_CHATS}: chat ids are integers (one is not)"
            )
    return TelegramControl(bots[0], {bots[0].chat_id, *extras}, run, clock)
