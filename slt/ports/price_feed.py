"""PriceFeed port: best bid/offer per symbol, pushed to listeners and cached."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable

from slt.domain.quote_cache import QuoteAge
from slt.domain.values import Quote

QuoteListener = Callable[[Quote], None]
__all__ = ["PriceFeed", "QuoteAge", "QuoteListener"]


class PriceFeed(ABC):
    @abstractmethod
    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Start delivering quotes for `symbols` (idempotent)."""

    @abstractmethod
    def latest(self, symbol: str) -> QuoteAge | None:
        """The newest sane quote of `symbol`, or None if none has arrived."""

    @abstractmethod
    def add_listener(self, listener: QuoteListener) -> None:
        """Call `listener` synchronously with every accepted quote.

        This is the hot path: listeners must not block, do I/O or allocate much.
        """

    @abstractmethod
    def stream(self) -> AsyncIterator[Quote]:
        """Every accepted quote, for consumers that prefer to await them."""
