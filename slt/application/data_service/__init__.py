"""DataService: closed candles and incremental indicators at several intervals, fed from quotes
or kline events and served through the MarketHistory port."""

from slt.application.data_service.bars import BarBuilder, parse_interval
from slt.application.data_service.service import ClosedBar, DataService

__all__ = ["BarBuilder", "ClosedBar", "DataService", "parse_interval"]
