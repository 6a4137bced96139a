"""Request weights per endpoint (BINANCE.md §3) and the limiter that enforces them (§2).

Weights are data: one rule per (method, path). The limiter counts in fixed windows aligned to
the clock (the minute for REQUEST_WEIGHT, 10 s and the minute for ORDERS), as the
X-MBX-USED-WEIGHT-1M header resets each minute. The progression is Binance's: over the limit
-> 429 with Retry-After; another request before that time -> 418 banned, for 2 minutes on the
first offence and twice as long on each repeat, up to 3 days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from slt.domain.values import DAY_MS, MINUTE_MS
from slt.emulator import errors
from slt.emulator.config import EmulatorConfig
from slt.emulator.errors import ApiError, api_error
from slt.ports.clock import Clock

MAX_BAN_MS = 3 * DAY_MS
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDERS_10S_HEADER = "X-MBX-ORDER-COUNT-10S"
ORDERS_1M_HEADER = "X-MBX-ORDER-COUNT-1M"


@dataclass(frozen=True, slots=True)
class Fixed:
    weight: int

    def __call__(self, params: Mapping[str, str]) -> int:
        return self.weight


@dataclass(frozen=True, slots=True)
class BySymbol:
    """Cheap for one symbol, dear for all of them."""

    with_symbol: int
    without: int

    def __call__(self, params: Mapping[str, str]) -> int:
        return self.with_symbol if params.get("symbol") else self.without


@dataclass(frozen=True, slots=True)
class ByLimit:
    """Weight by the `limit` parameter: the first step whose bound is >= limit."""

    steps: tuple[tuple[int, int], ...]  # (largest limit, weight)
    default_limit: int
    above: int

    def __call__(self, params: Mapping[str, str]) -> int:
        text = params.get("limit", "")
        limit = int(text) if text.isdigit() else self.default_limit
        return next((w for bound, w in self.steps if limit <= bound), self.above)


KLINES = ByLimit(((99, 1), (499, 2), (1000, 5)), default_limit=500, above=10)

WEIGHTS: dict[tuple[str, str], Fixed | BySymbol | ByLimit] = {
    ("GET", "/fapi/v1/ping"): Fixed(1),
    ("GET", "/fapi/v1/time"): Fixed(1),
    ("GET", "/fapi/v1/exchangeInfo"): Fixed(1),
    ("GET", "/fapi/v1/depth"): ByLimit(
        ((50, 2), (100, 5), (500, 10), (1000, 20)), default_limit=500, above=20
    ),
    ("GET", "/fapi/v1/klines"): KLINES,
    ("GET", "/fapi/v1/ticker/bookTicker"): BySymbol(2, 5),
    ("GET", "/fapi/v1/premiumIndex"): BySymbol(1, 10),
    ("GET", "/fapi/v1/ticker/24hr"): BySymbol(1, 40),
    ("GET", "/fapi/v2/positionRisk"): Fixed(5),
    ("GET", "/fapi/v3/positionRisk"): Fixed(5),
    ("GET", "/fapi/v2/balance"): Fixed(5),
    ("GET", "/fapi/v3/balance"): Fixed(5),
    ("GET", "/fapi/v2/account"): Fixed(5),
    ("GET", "/fapi/v3/account"): Fixed(5),
    ("GET", "/fapi/v1/positionSide/dual"): Fixed(30),
    ("POST", "/fapi/v1/leverage"): Fixed(1),
    ("POST", "/fapi/v1/marginType"): Fixed(1),
    ("POST", "/fapi/v1/order"): Fixed(0),
    ("GET", "/fapi/v1/order"): Fixed(1),
    ("DELETE", "/fapi/v1/order"): Fixed(1),
    ("GET", "/fapi/v1/openOrders"): BySymbol(1, 40),
    ("DELETE", "/fapi/v1/allOpenOrders"): Fixed(1),
    ("POST", "/fapi/v1/algoOrder"): Fixed(0),
    ("GET", "/fapi/v1/algoOrder"): Fixed(1),
    ("DELETE", "/fapi/v1/algoOrder"): Fixed(1),
    ("GET", "/fapi/v1/openAlgoOrders"): BySymbol(1, 40),
    ("DELETE", "/fapi/v1/algoOpenOrders"): Fixed(1),
    ("GET", "/fapi/v1/ticker/price"): BySymbol(1, 2),
    ("GET", "/fapi/v2/ticker/price"): BySymbol(1, 2),
    ("GET", "/fapi/v1/markPriceKlines"): KLINES,
    ("GET", "/fapi/v1/indexPriceKlines"): KLINES,
    ("GET", "/fapi/v1/openInterest"): Fixed(1),
    # fundingRate and fundingInfo draw on their own 500 per 5 min pool, not emulated.
    ("GET", "/fapi/v1/fundingRate"): Fixed(0),
    ("GET", "/fapi/v1/fundingInfo"): Fixed(0),
    ("GET", "/fapi/v1/aggTrades"): Fixed(20),
    ("POST", "/fapi/v1/positionSide/dual"): Fixed(1),
    ("GET", "/fapi/v1/multiAssetsMargin"): Fixed(30),
    ("POST", "/fapi/v1/multiAssetsMargin"): Fixed(1),
    ("GET", "/fapi/v1/leverageBracket"): Fixed(1),
    ("GET", "/fapi/v1/symbolConfig"): Fixed(5),
    ("GET", "/fapi/v1/commissionRate"): Fixed(20),
    ("GET", "/fapi/v1/income"): Fixed(30),
    ("POST", "/fapi/v1/order/test"): Fixed(0),
    ("PUT", "/fapi/v1/order"): Fixed(0),
    ("POST", "/fapi/v1/batchOrders"): Fixed(5),
    ("DELETE", "/fapi/v1/batchOrders"): Fixed(1),
    ("GET", "/fapi/v1/allOrders"): Fixed(5),
    ("GET", "/fapi/v1/allAlgoOrders"): Fixed(5),
    ("GET", "/fapi/v1/userTrades"): Fixed(5),
    ("POST", "/fapi/v1/countdownCancelAll"): Fixed(10),
    ("POST", "/fapi/v1/listenKey"): Fixed(1),
    ("PUT", "/fapi/v1/listenKey"): Fixed(1),
    ("DELETE", "/fapi/v1/listenKey"): Fixed(1),
}

# Endpoints that count on the ORDERS limits: (on the 10 s counter, on the 1 min counter).
ORDER_COUNTS: dict[tuple[str, str], tuple[int, int]] = {
    ("POST", "/fapi/v1/order"): (1, 1),
    ("PUT", "/fapi/v1/order"): (1, 1),
    ("POST", "/fapi/v1/batchOrders"): (5, 1),
    ("POST", "/fapi/v1/algoOrder"): (1, 1),
}
NOT_AN_ORDER = (0, 0)


def too_many_requests(peer: str, limit: int, retry_after_s: int) -> ApiError:
    error = api_error(errors.TOO_MANY_REQUESTS, peer, limit, status=429)
    error.headers["Retry-After"] = str(retry_after_s)
    return error


def banned(peer: str, until_ms: int, now_ms: int) -> ApiError:
    error = ApiError(
        errors.TOO_MANY_REQUESTS,
        f"Way too many requests; IP({peer}) banned until {until_ms}. "
        "Please use the websocket for live updates to avoid bans.",
        status=418,
    )
    error.headers["Retry-After"] = str(_seconds(until_ms - now_ms))
    return error


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


class RateLimiter:
    """REQUEST_WEIGHT of the (one) client IP and ORDERS of the (one) account."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._minute = -1
        self._weight = 0
        self._orders_1m = 0
        self._ten_s = -1
        self._orders_10s = 0
        self._retry_at_ms = 0
        self._ban_until_ms = 0
        self._bans = 0

    @property
    def used_weight(self) -> int:
        self._roll(self._clock.now_ms())
        return self._weight

    def admit(self, weight: int, orders: tuple[int, int], peer: str) -> None:
        """Count a request of `weight` and `orders` (on the 10 s and the 1 min counter); raise
        the 429 or 418 ApiError that Binance would answer it with."""
        now = self._clock.now_ms()
        self._roll(now)
        if now < self._ban_until_ms:
            raise banned(peer, self._ban_until_ms, now)
        if now < self._retry_at_ms:
            self.ban_for(min(self._config.first_ban_ms << self._bans, MAX_BAN_MS))
            self._bans += 1
            raise banned(peer, self._ban_until_ms, now)
        self._weight += weight
        if self._weight > self._config.weight_limit:
            window_end = (self._minute + 1) * MINUTE_MS
            self._retry_at_ms = window_end
            raise too_many_requests(peer, self._config.weight_limit, _seconds(window_end - now))
        if orders != NOT_AN_ORDER:
            self._count_orders(*orders)

    def ban_for(self, ms: int) -> None:
        self._ban_until_ms = self._clock.now_ms() + ms

    def headers(self, *, orders: bool) -> dict[str, str]:
        self._roll(self._clock.now_ms())
        out = {WEIGHT_HEADER: str(self._weight)}
        if orders:
            out[ORDERS_10S_HEADER] = str(self._orders_10s)
            out[ORDERS_1M_HEADER] = str(self._orders_1m)
        return out

    def _count_orders(self, ten_s: int, minute: int) -> None:
        config = self._config
        for count, orders, limit, period in (
            (self._orders_10s, ten_s, config.order_limit_10s, "10 SECOND"),
            (self._orders_1m, minute, config.order_limit_1m, "1 MINUTE"),
        ):
            if count + orders > limit:
                raise api_error(errors.TOO_MANY_ORDERS, limit, period, status=429)
        self._orders_10s += ten_s
        self._orders_1m += minute

    def _roll(self, now: int) -> None:
        minute, ten_s = now // MINUTE_MS, now // 10_000
        if minute != self._minute:
            self._minute, self._weight, self._orders_1m = minute, 0, 0
        if ten_s != self._ten_s:
            self._ten_s, self._orders_10s = ten_s, 0
