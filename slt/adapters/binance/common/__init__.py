"""Binance data that reviewers should be able to read as tables: URLs, weights, error codes and
response schemas."""
