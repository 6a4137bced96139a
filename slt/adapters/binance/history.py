"""BinanceHistory: the MarketHistory port over GET /fapi/v1/klines."""

from __future__ import annotations

from collections.abc import Sequence

from slt.adapters.binance.common import weights
from slt.adapters.binance.common.schemas import Kline
from slt.adapters.binance.http.client import BinanceHttpClient
from slt.domain.values import Bar
from slt.ports.market_history import MarketHistory

MAX_LIMIT = 1500  # Binance's maximum rows per klines request

# The intervals Binance serves on REST (`1s` is refused live, BINANCE.md §3).
INTERVALS = frozenset(
    {"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}
)


class BinanceHistory(MarketHistory):
    def __init__(self, client: BinanceHttpClient) -> None:
        self._client = client

    async def klines(self, symbol: str, interval: str, limit: int) -> Sequence[Bar]:
        """Up to `limit` (at most 1499) most recent closed bars, oldest first.

        Binance's last row is usually the forming bar: one row more is asked for, and rows
        whose close time has not passed on the server's clock are dropped.
        """
        if interval not in INTERVALS:
            raise ValueError(f"unsupported kline interval {interval!r}")
        if not 0 < limit < MAX_LIMIT:
            raise ValueError(f"limit must be in 1..{MAX_LIMIT - 1}, got {limit}")
        # The forming bar is told apart by the server's clock, so the offset must be known.
        await self._client.time_sync.ensure_fresh()
        rows = await self._client.call(
            weights.KLINES,
            Kline.parse_list,
            {"symbol": symbol, "interval": interval, "limit": limit + 1},
        )
        now = self._client.time_sync.server_now_ms()
        closed = [row.to_bar() for row in rows if row.closeTime < now]
        return closed[-limit:]
