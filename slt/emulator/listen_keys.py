"""The account's user-data stream key (BINANCE.md §8): one at a time, valid for a TTL after
creation or the last keep-alive; expiry is announced with a listenKeyExpired event."""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Callable

from slt.emulator import errors
from slt.emulator.errors import api_error
from slt.ports.clock import Clock

_ALPHABET = string.ascii_letters + string.digits
LISTEN_KEY_LENGTH = 64


class ListenKeys:
    def __init__(self, clock: Clock, ttl_ms: int, on_expired: Callable[[str], None]) -> None:
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._on_expired = on_expired
        self._key: str | None = None
        self._expires_ms = 0
        self._changed = asyncio.Event()

    def open(self) -> str:
        """POST: the active key extended, or a new one."""
        self._expire_due()
        if self._key is None:
            self._key = "".join(secrets.choice(_ALPHABET) for _ in range(LISTEN_KEY_LENGTH))
        self._extend()
        return self._key

    def keepalive(self, key: str | None) -> str:
        """PUT: extend the active key; -1125 if there is none (or `key` is another one)."""
        active = self._require(key)
        self._extend()
        return active

    def close(self, key: str | None) -> None:
        """DELETE: end the key without an expiry event, as Binance does."""
        self._require(key)
        self._key = None
        self._changed.set()

    def is_active(self, key: str) -> bool:
        self._expire_due()
        return key == self._key

    def expire_now(self) -> None:
        """Expire the active key at once (a fault switch)."""
        if self._key is not None:
            self._expire()

    async def watch(self) -> None:
        """Expire the key when its time comes, even while nobody asks about it."""
        while True:
            self._changed.clear()
            if self._key is None:
                await self._changed.wait()
                continue
            waits = {
                asyncio.ensure_future(self._clock.sleep_until(self._expires_ms)),
                asyncio.ensure_future(self._changed.wait()),
            }
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            self._expire_due()

    def _require(self, key: str | None) -> str:
        self._expire_due()
        if self._key is None or (key and key != self._key):
            raise api_error(errors.INVALID_LISTEN_KEY)
        return self._key

    def _extend(self) -> None:
        self._expires_ms = self._clock.now_ms() + self._ttl_ms
        self._changed.set()

    def _expire_due(self) -> None:
        if self._key is not None and self._clock.now_ms() >= self._expires_ms:
            self._expire()

    def _expire(self) -> None:
        key, self._key = self._key, None
        self._changed.set()
        assert key is not None
        self._on_expired(key)
