"""Outgoing-message pacing per connection, on the Clock port."""

from __future__ import annotations

from collections import deque

from slt.ports.clock import Clock


class Pacer:
    """At most `limit` sends in any `window_ms` window (a sliding window, not a fixed bucket:
    Binance disconnects a connection that sends more than 10 messages in a second, pings and
    pongs included, and a fixed one-second bucket would allow twice the limit across a boundary).

    The default limit sits well under Binance's 10 to leave room for the pongs the websocket
    library sends on its own and for our liveness pings.
    """

    __slots__ = ("_clock", "_sent", "limit", "window_ms")

    def __init__(self, clock: Clock, limit: int, window_ms: int = 1000) -> None:
        if limit <= 0 or window_ms <= 0:
            raise ValueError("limit and window_ms must be positive")
        self._clock = clock
        self.limit = limit
        self.window_ms = window_ms
        self._sent: deque[int] = deque()

    def next_slot_ms(self, now_ms: int) -> int:
        """The earliest time >= now at which one more send keeps within the limit."""
        sent = self._sent
        while sent and sent[0] <= now_ms - self.window_ms:
            sent.popleft()
        if len(sent) < self.limit:
            return now_ms
        return sent[len(sent) - self.limit] + self.window_ms

    async def acquire(self) -> int:
        """Wait for a slot and take it; returns the send time."""
        while True:
            now = self._clock.now_ms()
            slot = self.next_slot_ms(now)
            if slot <= now:
                self._sent.append(now)
                return now
            await self._clock.sleep_until(slot)
