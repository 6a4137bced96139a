"""DataService: candles built from the quote stream, served through the MarketHistory port."""

from slt.data_service.bars import BarBuilder, parse_interval

__all__ = ["BarBuilder", "parse_interval"]
