"""BinanceFundingHistory: the FundingHistory port (slt.ports.funding_rates) over
GET /fapi/v1/fundingRate, for the live bot's `funding` feature.

The settled rates, not the markPrice stream's `r`: that is the estimate for the coming
settlement, while a simulation knows (and its model learned from) the last settled rate. The
cache is refreshed off the trading cycle (`refresh`), so reading it costs no request; a rate
shows from the first refresh after its settlement, at most one refresh period late.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from typing import Any

from slt.adapters.binance.common import weights
from slt.adapters.binance.http.client import BinanceHttpClient
from slt.ports.funding_rates import STALE_AFTER_MS
from slt.ports.order_gateway import GatewayError

log = logging.getLogger(__name__)

LATEST = 3  # settlements asked for per symbol and refresh: one from the 500 per 5 min pool


class FundingRowError(ValueError):
    """A fundingRate answer of the wrong shape; the message names the symbol."""


def funding_events(page: Any, since: int, symbol: str) -> list[tuple[int, str]]:
    """(fundingTime, fundingRate as sent) of a GET /fapi/v1/fundingRate answer, checked to be
    `symbol`'s, in time order and after `since - 1`."""
    if not isinstance(page, list):
        raise FundingRowError(f"fundingRate {symbol}: expected a list, got {str(page)[:80]}")
    events: list[tuple[int, str]] = []
    before = since - 1
    for raw in page:
        if not isinstance(raw, dict) or raw.get("symbol") != symbol:
            raise FundingRowError(f"fundingRate {symbol}: unexpected row {raw!r}"[:200])
        t, rate = raw.get("fundingTime"), raw.get("fundingRate")
        if not isinstance(t, int) or t <= before or not isinstance(rate, str):
            raise FundingRowError(f"fundingRate {symbol}: bad or out-of-order row {raw!r}"[:200])
        before = t
        events.append((t, rate))
    return events


class BinanceFundingHistory:
    def __init__(self, client: BinanceHttpClient) -> None:
        self._client = client
        self._times: dict[str, list[int]] = {}
        self._rates: dict[str, list[float]] = {}

    async def refresh(self, symbols: Iterable[str]) -> None:
        """Fetch each symbol's latest settlements; a failure keeps what was known (logged)."""
        for symbol in symbols:
            try:
                page = await self._client.send(
                    weights.FUNDING_RATE, {"symbol": symbol, "limit": LATEST}
                )
                events = funding_events(page, 0, symbol)
            except (GatewayError, FundingRowError) as exc:
                log.warning("funding rates of %s not refreshed: %s", symbol, exc)
                continue
            known = dict(zip(self._times.get(symbol, []), self._rates.get(symbol, []), strict=True))
            known.update((t, float(rate)) for t, rate in events)
            self._times[symbol] = sorted(known)
            self._rates[symbol] = [known[t] for t in self._times[symbol]]

    def last_rate(self, symbol: str, now_ms: int) -> float | None:
        times = self._times.get(symbol, [])
        i = bisect.bisect_right(times, now_ms)
        if not i or now_ms - times[i - 1] > STALE_AFTER_MS:
            return None
        return self._rates[symbol][i - 1]
