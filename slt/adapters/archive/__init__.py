"""Binance's public data archive (data.binance.vision)."""
