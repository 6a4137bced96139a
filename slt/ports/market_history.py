"""MarketHistory port: closed candles."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from slt.domain.values import Bar


class MarketHistory(ABC):
    @abstractmethod
    async def klines(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        """Up to `limit` most recent closed bars, oldest first. Never the forming bar."""
