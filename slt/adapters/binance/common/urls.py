"""REST base URLs (BINANCE.md §1). The bot takes its base URL from configuration; these are the
usual values."""

from __future__ import annotations

MAINNET_REST = "https://fapi.binance.com"
# The docs name the demo host; the official SDK still ships the older testnet host.
TESTNET_REST = "https://demo-fapi.binance.com"
LEGACY_TESTNET_REST = "https://testnet.binancefuture.com"

API_KEY_HEADER = "X-MBX-APIKEY"
