"""Binance USDT-M futures adapters, split by concern (after NautilusTrader's Binance adapter).

- `common/`: reviewable data and wire formats: base URLs, endpoint weights and rate-limit pools,
  the error taxonomy, response schemas.
- `http/`: the one signed-send seam (`BinanceHttpClient`) with its signing, time sync and
  weight-aware limiter.
- `gateway.py`, `history.py`: the OrderGateway and MarketHistory ports in domain terms.
- `ws/`: WebSocket transport (market and user-data streams), maintained separately.
"""

from slt.adapters.binance.common.errors import (
    AuthError,
    ClockSkewRejected,
    ListenKeyNotFound,
    MalformedResponse,
)
from slt.adapters.binance.common.urls import MAINNET_REST, TESTNET_REST
from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.history import BinanceHistory
from slt.adapters.binance.http.client import ApiCredentials, BinanceHttpClient, RestConfig

__all__ = [
    "MAINNET_REST",
    "TESTNET_REST",
    "ApiCredentials",
    "AuthError",
    "BinanceGateway",
    "BinanceHistory",
    "BinanceHttpClient",
    "ClockSkewRejected",
    "ListenKeyNotFound",
    "MalformedResponse",
    "RestConfig",
]
