"""FeedWatch: turns quote ages into FeedStale / FeedRestored notices.

Run `check` periodically (a scheduler Job: `Job("feed_watch", 5_000, run=watch.check)`). A
symbol that never had a quote is not reported (it is still starting); the symbols that change
state in one check are reported in one notice, so a dropped connection sends one message, not
one per symbol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from slt.application.notify.events import FeedRestored, FeedStale, Notice
from slt.domain.quote_cache import QuoteAge


class FeedWatch:
    def __init__(
        self,
        symbols: Callable[[], Iterable[str]],
        latest: Callable[[str], QuoteAge | None],
        publish: Callable[[Notice], None],
    ) -> None:
        self._symbols = symbols
        self._latest = latest
        self._publish = publish
        self._stale_since: dict[str, int] = {}  # symbol -> time of its last fresh quote

    @property
    def stale(self) -> frozenset[str]:
        return frozenset(self._stale_since)

    async def check(self, now_ms: int) -> None:
        went: list[tuple[str, int]] = []
        back: list[tuple[str, int]] = []
        for symbol in sorted(set(self._symbols())):
            age = self._latest(symbol)
            if age is None:
                continue
            if age.stale and symbol not in self._stale_since:
                self._stale_since[symbol] = now_ms - age.age_ms
                went.append((symbol, age.age_ms))
            elif not age.stale and symbol in self._stale_since:
                since = self._stale_since.pop(symbol)
                back.append((symbol, now_ms - age.age_ms - since))
        if went:
            self._publish(FeedStale(tuple(s for s, _ in went), max(a for _, a in went), now_ms))
        if back:
            self._publish(FeedRestored(tuple(s for s, _ in back), max(d for _, d in back), now_ms))
