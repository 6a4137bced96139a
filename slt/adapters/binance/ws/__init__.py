"""Binance USDT-M WebSocket adapter: transport, the bookTicker PriceFeed and the user stream."""

from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig, QuoteFeedStats
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.transport import ConnectionStats, TransportConfig
from slt.adapters.binance.ws.user import (
    ListenKeyCalls,
    UserDataStream,
    UserSinks,
    UserStreamConfig,
    UserStreamStats,
)

__all__ = [
    "BinanceQuoteFeed",
    "ConnectionStats",
    "ListenKeyCalls",
    "QuoteFeedConfig",
    "QuoteFeedStats",
    "StreamsConfig",
    "TransportConfig",
    "UserDataStream",
    "UserSinks",
    "UserStreamConfig",
    "UserStreamStats",
]
