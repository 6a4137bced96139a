"""Public market-data endpoints: ping, time, exchangeInfo, klines, depth, tickers, marks."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from slt.domain.filters import SymbolFilters
from slt.domain.values import DAY_MS
from slt.emulator import errors, payloads
from slt.emulator.config import EmulatorConfig
from slt.emulator.errors import api_error
from slt.emulator.market import INTERVALS_MS, IntervalUnavailable, MarketState, next_funding_ms
from slt.emulator.params import Call, decimals, integer, text
from slt.emulator.payloads import Json, Numbers, plain

DEPTH_LIMITS = frozenset({5, 10, 20, 50, 100, 500, 1000})
MAX_KLINES = 1500


class MarketApi:
    def __init__(
        self, config: EmulatorConfig, market: MarketState, numbers: Numbers, template: Json
    ) -> None:
        self._config = config
        self._market = market
        self._n = numbers
        self._info = exchange_info(template, config)

    def ping(self, call: Call) -> Json:
        return {}

    def time(self, call: Call) -> Json:
        return {"serverTime": call.now_ms}

    def exchange_info(self, call: Call) -> Json:
        # [3P]: Binance ignores ?symbol= here and returns every symbol.
        return {**self._info, "serverTime": call.now_ms}

    def klines(self, call: Call) -> list[list[Any]]:
        p = call.params
        symbol = self._symbol(p)
        interval = text(p, "interval")
        interval_ms = INTERVALS_MS.get(interval)
        if interval_ms is None:
            raise api_error(errors.INVALID_INTERVAL)
        limit = integer(p, "limit") or 500
        if not 1 <= limit <= MAX_KLINES:
            raise api_error(errors.INVALID_PARAMETER, "limit")
        try:
            bars = self._market.candles.klines(
                symbol,
                interval_ms,
                start_ms=integer(p, "startTime"),
                end_ms=integer(p, "endTime"),
                limit=limit,
            )
        except IntervalUnavailable as unavailable:
            raise errors.ApiError(errors.INVALID_INTERVAL, str(unavailable)) from None
        return [payloads.kline_row(k, symbol, self._n) for k in bars]

    def depth(self, call: Call) -> Json:
        symbol = self._symbol(call.params)
        limit = integer(call.params, "limit") or 500
        if limit not in DEPTH_LIMITS:
            raise api_error(errors.INVALID_DEPTH_LIMIT)
        quote = self._market.quotes.get(symbol)
        return payloads.depth_json(symbol, quote, self._market.update_id, self._n, call.now_ms)

    def book_ticker(self, call: Call) -> Json | list[Json]:
        return self._per_symbol(
            call,
            lambda s: payloads.book_ticker_json(
                s, self._market.quotes.get(s), self._market.update_id, self._n
            ),
        )

    def premium_index(self, call: Call) -> Json | list[Json]:
        def one(symbol: str) -> Json:
            quote = self._market.quotes.get(symbol)
            ts = quote.ts_ms if quote else call.now_ms
            return payloads.premium_index_json(
                symbol,
                self._market.mark(symbol),
                self._config.funding_rate,
                next_funding_ms(ts),
                ts,
            )

        return self._per_symbol(call, one)

    def ticker_24hr(self, call: Call) -> Json | list[Json]:
        candles = self._market.candles

        def one(symbol: str) -> Json:
            end = candles.last_ts(symbol)
            day = candles.window(symbol, end - DAY_MS, end + 1)
            last = self._market.mark(symbol) or (day.close if day else payloads.ZERO)
            return payloads.ticker_24hr_json(symbol, day, last, self._n)

        return self._per_symbol(call, one)

    def _per_symbol(self, call: Call, one: Callable[[str], Json]) -> Json | list[Json]:
        if call.params.get("symbol"):
            return one(self._symbol(call.params))
        return [one(s) for s in sorted(self._config.filters)]

    def _symbol(self, params: Mapping[str, str]) -> str:
        symbol = text(params, "symbol")
        if symbol not in self._config.filters:
            raise api_error(errors.INVALID_SYMBOL)
        return symbol


def exchange_info(template: Json, config: EmulatorConfig) -> Json:
    """The bundled exchangeInfo reduced to the configured symbols, with their filters and the
    configured rate limits. A symbol the template lacks is described after its first entry."""
    known = {s["symbol"]: s for s in template["symbols"]}
    model = template["symbols"][0]
    return {
        "timezone": "UTC",
        "serverTime": 0,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": config.weight_limit,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": config.order_limit_1m,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": config.order_limit_10s,
            },
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [
            _symbol_entry(known.get(s, model), f) for s, f in sorted(config.filters.items())
        ],
    }


def _symbol_entry(model: Json, f: SymbolFilters) -> Json:
    entry = copy.deepcopy(model)
    base = f.symbol.removesuffix("USDT")
    entry.update(
        symbol=f.symbol,
        pair=f.symbol,
        baseAsset=base,
        status="TRADING",
        pricePrecision=decimals(f.tick_size),
        quantityPrecision=decimals(f.step_size),
    )
    market_step = f.market_step_size or f.step_size
    values: dict[str, dict[str, Any]] = {
        "PRICE_FILTER": {
            "minPrice": plain(f.min_price),
            "maxPrice": plain(f.max_price),
            "tickSize": plain(f.tick_size),
        },
        "LOT_SIZE": {
            "minQty": plain(f.min_qty),
            "maxQty": plain(f.max_qty),
            "stepSize": plain(f.step_size),
        },
        "MARKET_LOT_SIZE": {
            "minQty": plain(f.market_min_qty or f.min_qty),
            "maxQty": plain(f.market_max_qty or f.max_qty),
            "stepSize": plain(market_step),
        },
        "MIN_NOTIONAL": {"notional": plain(f.min_notional)},
    }
    for flt in entry["filters"]:
        flt.update(values.get(flt["filterType"], {}))
    return entry


ROUTES: dict[tuple[str, str], Callable[[MarketApi, Call], Any]] = {
    ("GET", "/fapi/v1/ping"): MarketApi.ping,
    ("GET", "/fapi/v1/time"): MarketApi.time,
    ("GET", "/fapi/v1/exchangeInfo"): MarketApi.exchange_info,
    ("GET", "/fapi/v1/klines"): MarketApi.klines,
    ("GET", "/fapi/v1/depth"): MarketApi.depth,
    ("GET", "/fapi/v1/ticker/bookTicker"): MarketApi.book_ticker,
    ("GET", "/fapi/v1/premiumIndex"): MarketApi.premium_index,
    ("GET", "/fapi/v1/ticker/24hr"): MarketApi.ticker_24hr,
}
