"""Notifier port: deliver one short text message to the operator somewhere (chat, webhook)."""

from __future__ import annotations

from abc import ABC, abstractmethod


class NotifyError(Exception):
    """A message was not delivered.

    `retryable`: worth sending again later (network error, timeout, 5xx, 429); a refusal such
    as a wrong token (401/403/404) or a malformed request is not. `retry_after_s`: how long
    the service asked us to wait, if it said. The message never contains a secret (adapters
    build it from the status and the error's type, never from URLs or exception text).
    """

    def __init__(
        self, message: str, *, retryable: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Notifier(ABC):
    """One destination. Its contract:

    - `send` returns once the service accepted the message, or raises NotifyError; it bounds
      its own time (a request timeout), so a hung service cannot hold the sender forever;
    - it never logs or raises its token or webhook URL;
    - `close` releases connections; `send` after `close` may reopen them.
    """

    name: str  # for logs and metrics: "telegram", "discord", ...

    @abstractmethod
    async def send(self, text: str) -> None: ...

    async def close(self) -> None:
        """Release connections; a notifier without any has nothing to do."""
        return None
