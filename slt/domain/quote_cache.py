"""Latest sane quote per symbol, with its age."""

from __future__ import annotations

from dataclasses import dataclass

from slt.domain.values import Quote

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class QuoteAge:
    """A cached quote with how old it is; `stale` when older than the cache's limit."""

    quote: Quote
    age_ms: int
    stale: bool


class QuoteCache:
    """Holds the newest quote of each symbol. Insane quotes (NaN, non-positive, crossed) are
    counted and dropped, and a quote older than the cached one is ignored, so the cache can
    only ever hold a price that was valid and current when it arrived."""

    __slots__ = ("dropped", "out_of_order", "quotes", "stale_after_ms")

    def __init__(self, stale_after_ms: int = 5000) -> None:
        if stale_after_ms <= 0:
            raise ValueError("stale_after_ms must be positive")
        self.stale_after_ms = stale_after_ms
        self.quotes: dict[str, Quote] = {}
        self.dropped = 0
        self.out_of_order = 0

    def update(self, q: Quote) -> bool:
        symbol, ts, bid, bid_qty, ask, ask_qty = q
        # is_sane_quote, inlined: this runs for every market update.
        if not (0.0 < bid <= ask < _INF and 0.0 <= bid_qty < _INF and 0.0 <= ask_qty < _INF):
            self.dropped += 1
            return False
        quotes = self.quotes
        prev = quotes.get(symbol)
        if prev is not None and ts < prev[1]:
            self.out_of_order += 1
            return False
        quotes[symbol] = q
        return True

    def latest(self, symbol: str, now_ms: int) -> QuoteAge | None:
        q = self.quotes.get(symbol)
        if q is None:
            return None
        age = max(0, now_ms - q.ts_ms)
        return QuoteAge(q, age, age > self.stale_after_ms)
