"""Every REST endpoint the adapter calls, with its weight, rate-limit pools and signing, as data.

Sources: BINANCE.md §2-§3 (official endpoint pages and the SDK docstrings, Aug 2026). One row per
(method, path); the HTTP client reads nothing about an endpoint from anywhere else.

Pools are Binance's fixed windows: REQUEST_WEIGHT is per IP, ORDERS per account. Which headers
report the server's count for each pool is part of the pool's row, so the limiter can adopt them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from slt.domain.orders import Priority

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Pool:
    """One of Binance's rate limiters: at most `limit` units per fixed window of `interval_ms`."""

    name: str
    limit: int
    interval_ms: int
    header: str  # the response header carrying the server's count in the current window

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.interval_ms <= 0:
            raise ValueError(f"pool {self.name}: limit and interval must be positive")


REQUEST_WEIGHT = "REQUEST_WEIGHT_1M"
ORDERS_10S = "ORDERS_10S"
ORDERS_1M = "ORDERS_1M"
FUNDING_RATE_5M = "FUNDING_RATE_5M"

# The default tier. exchangeInfo.rateLimits may raise them (VIP tiers); see Limiter.set_limits.
DEFAULT_POOLS: tuple[Pool, ...] = (
    Pool(REQUEST_WEIGHT, 2400, MINUTE_MS, "X-MBX-USED-WEIGHT-1M"),
    Pool(ORDERS_10S, 300, 10_000, "X-MBX-ORDER-COUNT-10S"),
    Pool(ORDERS_1M, 1200, MINUTE_MS, "X-MBX-ORDER-COUNT-1M"),
    # GET fundingRate and fundingInfo share 500 per 5 min per IP; no header reports it.
    Pool(FUNDING_RATE_5M, 500, 5 * MINUTE_MS, ""),
)

# exchangeInfo.rateLimits entries -> pool names: (rateLimitType, interval, intervalNum).
RATE_LIMIT_POOLS: Mapping[tuple[str, str, int], str] = {
    ("REQUEST_WEIGHT", "MINUTE", 1): REQUEST_WEIGHT,
    ("ORDERS", "SECOND", 10): ORDERS_10S,
    ("ORDERS", "MINUTE", 1): ORDERS_1M,
}


class Security(StrEnum):
    NONE = "NONE"  # public market data
    USER_STREAM = "USER_STREAM"  # API key header, no signature (listenKey)
    SIGNED = "SIGNED"  # TRADE and USER_DATA: key, timestamp, recvWindow and signature


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A REST path as the client needs to know it.

    `weight` is the IP weight with a `symbol` parameter (or the only weight), and
    `weight_all` the weight without one, for endpoints that price "all symbols" higher.
    `order_write` marks requests that may create exposure: they are never retried, an ambiguous
    failure of theirs is OrderOutcomeUnknown, and they never wait for a budget (a late order is
    a different trade). `idempotent` requests may be repeated once after a -1021 resync.
    `priority` is what the circuit breaker admits it as; an order write is CRITICAL when it is
    reduce-only (an exit) and HIGH otherwise (an entry).
    """

    method: str
    path: str
    security: Security
    weight: int
    weight_all: int | None = None
    orders: int = 0  # units on both ORDERS pools
    order_write: bool = False
    idempotent: bool = True
    # Binance documents X-MBX-USED-WEIGHT-1M as "not accurate, ignore" on a few market paths.
    trusts_weight_header: bool = True
    klines_weight: bool = False
    priority: Priority = Priority.NORMAL
    other_pools: tuple[tuple[str, int], ...] = ()  # (pool, units) beyond the two above

    def __post_init__(self) -> None:
        if self.order_write and self.idempotent:
            raise ValueError(f"{self.method} {self.path}: an order write is not idempotent")

    def costs(self, params: Mapping[str, object]) -> dict[str, int]:
        """Units this request takes from each pool."""
        weight = self.weight
        if self.klines_weight:
            weight = klines_weight(int(str(params.get("limit", 500))))
        elif self.weight_all is not None and "symbol" not in params:
            weight = self.weight_all
        costs = {REQUEST_WEIGHT: weight}
        if self.orders:
            costs[ORDERS_10S] = self.orders
            costs[ORDERS_1M] = self.orders
        costs.update(self.other_pools)
        return costs

    def priority_of(self, params: Mapping[str, object]) -> Priority:
        if self.order_write:
            return Priority.CRITICAL if params.get("reduceOnly") is True else Priority.HIGH
        return self.priority

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def klines_weight(limit: int) -> int:
    """[1,100) -> 1; [100,500) -> 2; [500,1000] -> 5; above -> 10."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


_N, _U, _S = Security.NONE, Security.USER_STREAM, Security.SIGNED
# Priorities: exits, cancels and position/order reads are CRITICAL; so is the server time, which
# signing any of them may need. Market data is NORMAL, scans and history LOW.
_LOW, _HIGH, _CRIT = Priority.LOW, Priority.HIGH, Priority.CRITICAL

# -- market data --------------------------------------------------------------------------------
SERVER_TIME = Endpoint("GET", "/fapi/v1/time", _N, 1, priority=_CRIT)
# CRITICAL: the filters are needed to place any exit, and start-up needs them to protect.
EXCHANGE_INFO = Endpoint("GET", "/fapi/v1/exchangeInfo", _N, 1, priority=_CRIT)
KLINES = Endpoint("GET", "/fapi/v1/klines", _N, 0, klines_weight=True, priority=_LOW)
BOOK_TICKER = Endpoint(
    "GET", "/fapi/v1/ticker/bookTicker", _N, 2, weight_all=5, trusts_weight_header=False
)
TICKER_24H = Endpoint("GET", "/fapi/v1/ticker/24hr", _N, 1, weight_all=40, priority=_LOW)
PREMIUM_INDEX = Endpoint("GET", "/fapi/v1/premiumIndex", _N, 1, weight_all=10)
FUNDING_RATE = Endpoint(
    "GET", "/fapi/v1/fundingRate", _N, 0, other_pools=((FUNDING_RATE_5M, 1),), priority=_LOW
)

# -- orders -------------------------------------------------------------------------------------
NEW_ORDER = Endpoint("POST", "/fapi/v1/order", _S, 0, orders=1, order_write=True, idempotent=False)
QUERY_ORDER = Endpoint("GET", "/fapi/v1/order", _S, 1, priority=_CRIT)
CANCEL_ORDER = Endpoint("DELETE", "/fapi/v1/order", _S, 1, priority=_CRIT)
ALL_ORDERS = Endpoint("GET", "/fapi/v1/allOrders", _S, 5, priority=_CRIT)
OPEN_ORDERS = Endpoint("GET", "/fapi/v1/openOrders", _S, 1, weight_all=40, priority=_CRIT)
CANCEL_ALL_ORDERS = Endpoint("DELETE", "/fapi/v1/allOpenOrders", _S, 1, priority=_CRIT)
# The algo page says 0 IP weight; the SDK (Aug 2026) also counts it on both ORDERS pools. The
# stricter reading is taken: counting an order that is not counted only costs headroom.
NEW_ALGO_ORDER = Endpoint(
    "POST", "/fapi/v1/algoOrder", _S, 0, orders=1, order_write=True, idempotent=False
)
QUERY_ALGO_ORDER = Endpoint("GET", "/fapi/v1/algoOrder", _S, 1, priority=_CRIT)
CANCEL_ALGO_ORDER = Endpoint("DELETE", "/fapi/v1/algoOrder", _S, 1, priority=_CRIT)
OPEN_ALGO_ORDERS = Endpoint(
    "GET", "/fapi/v1/openAlgoOrders", _S, 1, weight_all=40, priority=_CRIT
)
CANCEL_ALL_ALGO_ORDERS = Endpoint("DELETE", "/fapi/v1/algoOpenOrders", _S, 1, priority=_CRIT)

# -- account ------------------------------------------------------------------------------------
POSITION_RISK_V2 = Endpoint("GET", "/fapi/v2/positionRisk", _S, 5, priority=_CRIT)
POSITION_RISK_V3 = Endpoint("GET", "/fapi/v3/positionRisk", _S, 5, priority=_CRIT)
SYMBOL_CONFIG = Endpoint("GET", "/fapi/v1/symbolConfig", _S, 5, priority=_CRIT)
BALANCE_V2 = Endpoint("GET", "/fapi/v2/balance", _S, 5)
BALANCE_V3 = Endpoint("GET", "/fapi/v3/balance", _S, 5)
# Setting a value twice leaves the same state, so a -1021 retry is harmless.
SET_LEVERAGE = Endpoint("POST", "/fapi/v1/leverage", _S, 1, priority=_HIGH)
# Likewise; -4046 "No need to change margin type." is the answer when it already is. A setting
# applied at start, not an entry: it waits out a throttle (NORMAL) rather than being paced.
SET_MARGIN_TYPE = Endpoint("POST", "/fapi/v1/marginType", _S, 1)
POSITION_MODE = Endpoint("GET", "/fapi/v1/positionSide/dual", _S, 30)

# -- user-data stream ---------------------------------------------------------------------------
# POST returns the account's active key if there is one, so repeating it creates nothing.
CREATE_LISTEN_KEY = Endpoint("POST", "/fapi/v1/listenKey", _U, 1)
KEEPALIVE_LISTEN_KEY = Endpoint("PUT", "/fapi/v1/listenKey", _U, 1)
CLOSE_LISTEN_KEY = Endpoint("DELETE", "/fapi/v1/listenKey", _U, 1)
