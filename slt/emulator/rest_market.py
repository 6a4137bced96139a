"""Public market-data endpoints: ping, time, exchangeInfo, klines (last, mark and index
price), depth, tickers and prices, marks, funding rates and their history, open interest and
aggregate trades.

The emulator's market is its quotes: mark and index prices are the mid, so mark and index
klines are the klines without volume; the only trader is the account, so open interest is
its position; aggregate trades are one per stored bar (at its close, for its volume), the
finest trade record the candles keep. Funding history lists every 8-hour funding time the
candles cover, at the configured rate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from slt.domain.filters import SymbolFilters
from slt.domain.values import DAY_MS
from slt.emulator import errors, payloads, wire_history
from slt.emulator.config import EmulatorConfig
from slt.emulator.errors import api_error
from slt.emulator.market import (
    FUNDING_PERIOD_MS,
    INTERVALS_MS,
    IntervalUnavailable,
    MarketState,
    next_funding_ms,
)
from slt.emulator.params import Call, decimals, integer, text, window
from slt.emulator.payloads import Json, Kline, Numbers, plain

DEPTH_LIMITS = frozenset({5, 10, 20, 50, 100, 500, 1000})
MAX_KLINES = 1500
MAX_FUNDING_ROWS = 1000
MAX_AGG_TRADES = 1000
OpenInterest = Callable[[str], Decimal]


class MarketApi:
    def __init__(
        self,
        config: EmulatorConfig,
        market: MarketState,
        numbers: Numbers,
        template: Json,
        open_interest: OpenInterest,
    ) -> None:
        self._config = config
        self._market = market
        self._n = numbers
        self._info = exchange_info(template, config)
        self._open_interest = open_interest

    def ping(self, call: Call) -> Json:
        return {}

    def time(self, call: Call) -> Json:
        return {"serverTime": call.now_ms}

    def exchange_info(self, call: Call) -> Json:
        # [3P]: Binance ignores ?symbol= here and returns every symbol.
        return {**self._info, "serverTime": call.now_ms}

    def klines(self, call: Call) -> list[list[Any]]:
        symbol = self._symbol(call.params)
        return [payloads.kline_row(k, symbol, self._n) for k in self._klines(call, symbol)]

    def mark_klines(self, call: Call) -> list[list[Any]]:
        symbol = self._symbol(call.params)
        return [_price_kline_row(k, symbol, self._n) for k in self._klines(call, symbol)]

    def index_klines(self, call: Call) -> list[list[Any]]:
        pair = text(call.params, "pair")
        if pair not in self._config.filters:
            raise api_error(errors.INVALID_SYMBOL)
        return [_price_kline_row(k, pair, self._n) for k in self._klines(call, pair)]

    def price_ticker(self, call: Call) -> Json | list[Json]:
        def one(symbol: str) -> Json:
            quote = self._market.quotes.get(symbol)
            return {
                "symbol": symbol,
                "price": self._n.price(symbol, self._market.mark(symbol)),
                "time": quote.ts_ms if quote else call.now_ms,
            }

        return self._per_symbol(call, one)

    def open_interest(self, call: Call) -> Json:
        symbol = self._symbol(call.params)
        return {
            "openInterest": self._n.qty(symbol, self._open_interest(symbol)),
            "symbol": symbol,
            "time": call.now_ms,
        }

    def funding_rate(self, call: Call) -> list[Json]:
        symbol = call.params.get("symbol")
        symbols = [self._symbol(call.params)] if symbol else sorted(self._config.filters)
        span = window(call, default_limit=100, max_limit=MAX_FUNDING_ROWS)
        rows = sorted(
            (row for s in symbols for row in self._funding_rows(s, span.start_ms, span.end_ms)),
            key=lambda r: (r["fundingTime"], r["symbol"]),
        )
        return rows[: span.limit] if span.start_ms is not None else rows[-span.limit :]

    def funding_info(self, call: Call) -> list[Json]:
        return [wire_history.funding_info_json(s) for s in sorted(self._config.filters)]

    def agg_trades(self, call: Call) -> list[Json]:
        p = call.params
        symbol = self._symbol(p)
        span = window(call, default_limit=500, max_limit=MAX_AGG_TRADES)
        base = self._market.candles.base_ms(symbol)
        from_id = integer(p, "fromId")
        start = from_id * base if from_id is not None else span.start_ms
        bars = self._market.candles.klines(
            symbol, base, start_ms=start, end_ms=span.end_ms, limit=span.limit
        )
        return [_agg_trade(k, base, symbol, self._n) for k in bars if k.volume]

    def _funding_rows(self, symbol: str, start: int | None, end: int | None) -> list[Json]:
        candles = self._market.candles
        first = candles.first_ts(symbol)
        if first is None:
            return []
        # Funding times after the first bar opens (a mark needs a bar before it), from `start`.
        from_ms = first if start is None or start <= first else start - 1
        t = next_funding_ms(from_ms)
        last = min(candles.last_ts(symbol), end if end is not None else candles.last_ts(symbol))
        rows = []
        while t <= last:
            before = candles.klines(symbol, candles.base_ms(symbol), end_ms=t - 1, limit=1)
            mark = before[0].close if before else Decimal(0)
            rate = self._market.funding_rate(symbol, t)
            rows.append(wire_history.funding_rate_json(symbol, rate, t, mark))
            t += FUNDING_PERIOD_MS
        return rows

    def _klines(self, call: Call, symbol: str) -> list[Kline]:
        p = call.params
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
        return bars

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
            at = next_funding_ms(ts)
            return payloads.premium_index_json(
                symbol, self._market.mark(symbol), self._market.funding_rate(symbol, at), at, ts
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


def _price_kline_row(k: Kline, symbol: str, n: Numbers) -> list[Any]:
    """A mark or index price kline: prices only, no volume [D:Mark-Price-Kline-Candlestick-Data]."""
    row = payloads.kline_row(k, symbol, n)
    return [*row[:5], "0", row[6], "0", k.trades, "0", "0", "0"]


def _agg_trade(k: Kline, base_ms: int, symbol: str, n: Numbers) -> Json:
    ident = k.open_ms // base_ms
    return {
        "a": ident,
        "p": n.price(symbol, k.close),
        "q": n.qty(symbol, k.volume),
        "f": ident,
        "l": ident,
        "T": k.close_ms,
        "m": k.close < k.open,  # a falling bar: sellers hit the bid
    }


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
    if f.percent_up is not None and f.percent_down is not None:
        values["PERCENT_PRICE"] = {
            "multiplierUp": plain(f.percent_up),
            "multiplierDown": plain(f.percent_down),
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
    ("GET", "/fapi/v1/ticker/price"): MarketApi.price_ticker,
    ("GET", "/fapi/v2/ticker/price"): MarketApi.price_ticker,
    ("GET", "/fapi/v1/markPriceKlines"): MarketApi.mark_klines,
    ("GET", "/fapi/v1/indexPriceKlines"): MarketApi.index_klines,
    ("GET", "/fapi/v1/openInterest"): MarketApi.open_interest,
    ("GET", "/fapi/v1/fundingRate"): MarketApi.funding_rate,
    ("GET", "/fapi/v1/fundingInfo"): MarketApi.funding_info,
    ("GET", "/fapi/v1/aggTrades"): MarketApi.agg_trades,
}
