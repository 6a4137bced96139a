"""Telegram (Bot API sendMessage) and Discord (webhook) notifiers over aiohttp.

Secrets: the Telegram token is part of the request path and a Discord webhook URL is itself the
secret, and aiohttp puts the URL into its exceptions' text. So nothing here logs, and every
failure becomes a NotifyError built from the HTTP status or the exception's *type*, raised
`from None` so that no traceback carries the original exception; reprs hide the secrets.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from slt.ports.notifier import Notifier, NotifyError

TELEGRAM_API = "https://api.telegram.org"
TELEGRAM_MAX_CHARS = 4096
DISCORD_MAX_CHARS = 2000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _WebhookNotifier(Notifier):
    name = "webhook"

    def __init__(self, *, timeout_s: float, secrets: tuple[str, ...]) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._secrets = tuple(s for s in secrets if s)
        self._session: aiohttp.ClientSession | None = None

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<hidden>")
        return text

    async def _post(
        self, url: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> tuple[int, Any, float | None]:
        """POST JSON; (status, decoded JSON body or None, Retry-After seconds or None)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        timeout_s = self._timeout_s if timeout_s is None else timeout_s
        try:
            async with self._session.post(
                url,
                data=orjson.dumps(payload),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                raw = await resp.read()
                status, retry_after = resp.status, _seconds(resp.headers.get("Retry-After"))
        except TimeoutError:
            raise NotifyError(
                f"{self.name}: no answer within {timeout_s:g} s", retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            raise NotifyError(f"{self.name}: {type(exc).__name__}", retryable=True) from None
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        return status, body, retry_after

    def _failure(self, status: int, retry_after: float | None, detail: str = "") -> NotifyError:
        retryable = status == 429 or status == 408 or status >= 500
        detail = f": {self._redact(detail)[:200]}" if detail else ""
        return NotifyError(
            f"{self.name}: HTTP {status}{detail}",
            retryable=retryable,
            retry_after_s=retry_after if retryable else None,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TelegramNotifier(_WebhookNotifier):
    """Messages to one chat through a bot. `base_url` points elsewhere in tests."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        chat_id: str,
        *,
        base_url: str = TELEGRAM_API,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(timeout_s=timeout_s, secrets=(token,))
        self._bot = f"{base_url.rstrip('/')}/bot{token}"
        self.chat_id = chat_id

    def __repr__(self) -> str:
        return "TelegramNotifier(token=<hidden>)"

    async def send(self, text: str) -> None:
        await self.send_to(self.chat_id, text)

    async def send_to(self, chat_id: str, text: str) -> None:
        payload = {
            "chat_id": chat_id,
            "text": _clip(text, TELEGRAM_MAX_CHARS),
            "disable_web_page_preview": True,
        }
        await self._call("sendMessage", payload)

    async def updates(self, offset: int, wait_s: int) -> list[Any]:
        """getUpdates (long polling): the messages to the bot from `offset` on, waiting up to
        `wait_s` for one; confirming the ones before `offset`."""
        payload = {"offset": offset, "timeout": wait_s, "allowed_updates": ["message"]}
        result = await self._call("getUpdates", payload, timeout_s=wait_s + self._timeout_s)
        if not isinstance(result, list):
            raise NotifyError(f"{self.name}: getUpdates answered no list", retryable=True)
        return result

    async def _call(
        self, method: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> Any:
        status, body, retry_after = await self._post(f"{self._bot}/{method}", payload, timeout_s)
        body = body if isinstance(body, dict) else {}
        if 200 <= status < 300 and body.get("ok") is True:
            return body.get("result")
        asked = (body.get("parameters") or {}).get("retry_after")
        if isinstance(asked, int | float):
            retry_after = float(asked)
        raise self._failure(status, retry_after, str(body.get("description") or ""))


class DiscordNotifier(_WebhookNotifier):
    """Messages to a Discord channel through a webhook URL (which is the secret)."""

    name = "discord"

    def __init__(self, webhook_url: str, *, timeout_s: float = 10.0) -> None:
        if not webhook_url.startswith(("https://", "http://")):
            raise ValueError("the Discord webhook URL must be an http(s) URL")
        super().__init__(timeout_s=timeout_s, secrets=(webhook_url, *webhook_url.split("/")[-2:]))
        self._url = webhook_url

    def __repr__(self) -> str:
        return "DiscordNotifier(webhook_url=<hidden>)"

    async def send(self, text: str) -> None:
        payload = {
            "content": _clip(text, DISCORD_MAX_CHARS),
            "allowed_mentions": {"parse": []},  # a symbol or reason must never ping anyone
        }
        status, body, retry_after = await self._post(self._url, payload)
        if 200 <= status < 300:
            return
        body = body if isinstance(body, dict) else {}
        asked = body.get("retry_after")
        if isinstance(asked, int | float):
            retry_after = float(asked)
        raise self._failure(status, retry_after, str(body.get("message") or ""))


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header else None
    except ValueError:
        return None  # an HTTP date: rare enough to fall back on the back-off
