"""The one signed-send seam: every REST request of the adapter goes through `send`.

In order, for each request: time sync (signed requests), rate-limit reservation, encoding and
signing (all parameters in the query string; the signature last), the HTTP exchange with
explicit timeouts, header adoption by the limiter, and the error taxonomy (common/errors.py).

Retries: the only one is a single repeat of an *idempotent* request after -1021 (timestamp
outside recvWindow: rejected before execution), once the offset has been re-measured. Order
writes are never repeated here; the caller owns that decision (it queries by client id first).

Secrets: the API key travels only in the X-MBX-APIKEY header and the secret only into the HMAC.
Nothing here logs a query string, a header or the credentials object.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
from yarl import URL

from slt.adapters.binance.common import errors, weights
from slt.adapters.binance.common.errors import AuthError, ClockSkewRejected
from slt.adapters.binance.common.schemas import SchemaError, ServerTime
from slt.adapters.binance.common.urls import API_KEY_HEADER, MAINNET_REST
from slt.adapters.binance.common.weights import Endpoint, Security
from slt.adapters.binance.http.limiter import Limiter
from slt.adapters.binance.http.signing import Param, encode, signed
from slt.adapters.binance.http.time_sync import TimeSync
from slt.domain.breaker import FailureKind
from slt.domain.orders import Priority
from slt.ports.clock import Clock
from slt.ports.order_gateway import ExchangeDown

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RECV_WINDOW_MS = 60_000
# A 418 that names neither an end nor a Retry-After: Binance's bans start at 2 minutes.
BAN_WITHOUT_END_MS = 120_000


class RequestGuard(Protocol):
    """Admits one request by its priority and records its outcome (the circuit breaker's
    BreakerGuard fits)."""

    def run(self, priority: Priority, call: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...


class ApiCredentials(Protocol):
    """What the client needs of a credentials holder (slt.adapters.credentials.Credentials fits)."""

    @property
    def api_key(self) -> str: ...

    @property
    def api_secret(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RestConfig:
    base_url: str = MAINNET_REST  # mainnet, testnet or the emulator's rest_url
    recv_window_ms: int = 5_000
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0  # between bytes of the answer
    total_timeout_s: float = 15.0  # the whole exchange, connection included
    max_wait_ms: int = 60_000  # longest a non-order request waits for rate-limit room
    time_samples: int = 5
    time_refresh_ms: int = 30 * 60_000
    limiter_margin_ms: int = 250

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not 0 < self.recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be in 1..{MAX_RECV_WINDOW_MS}")
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_wait_ms < 0 or self.time_refresh_ms <= 0:
            raise ValueError("max_wait_ms must not be negative and time_refresh_ms positive")

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total_timeout_s,
            connect=self.connect_timeout_s,
            sock_read=self.read_timeout_s,
        )


class BinanceHttpClient:
    """Owns its aiohttp session unless one is passed in; use `async with` or start()/close()."""

    def __init__(
        self,
        config: RestConfig,
        clock: Clock,
        credentials: ApiCredentials | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        guard: RequestGuard | None = None,
    ) -> None:
        """`guard`: every request goes through it by its endpoint's priority (set it, or assign
        `guard` later, once the circuit breaker exists)."""
        self.config = config
        self.guard = guard
        self._clock = clock
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self._base = config.base_url.rstrip("/")
        self.time_sync = TimeSync(
            clock,
            self._server_time,
            samples=config.time_samples,
            refresh_ms=config.time_refresh_ms,
        )
        self.limiter = Limiter(
            clock,
            server_offset_ms=lambda: self.time_sync.offset_ms,
            margin_ms=config.limiter_margin_ms,
        )

    def __repr__(self) -> str:
        return f"BinanceHttpClient({self._base})"

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.config.timeout)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None if self._owns_session else self._session

    async def __aenter__(self) -> BinanceHttpClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- sending ---------------------------------------------------------------------------

    async def call(
        self,
        endpoint: Endpoint,
        parse: Callable[[Any], T],
        params: Mapping[str, Param | None] | None = None,
    ) -> T:
        """`send`, then `parse` the answer; a payload of the wrong shape is a typed error."""
        payload = await self.send(endpoint, params)
        try:
            return parse(payload)
        except SchemaError as exc:
            log.warning("%s: %s", endpoint, exc)
            raise errors.unreadable_payload(str(exc), order_write=endpoint.order_write) from None

    async def send(
        self, endpoint: Endpoint, params: Mapping[str, Param | None] | None = None
    ) -> Any:
        """The decoded JSON answer of `endpoint`, or a GatewayError (see common/errors.py)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        if self.guard is None:
            return await self._send(endpoint, clean)
        return await self.guard.run(
            endpoint.priority_of(clean), lambda: self._send(endpoint, clean)
        )

    async def _send(self, endpoint: Endpoint, clean: dict[str, Param]) -> Any:
        if endpoint.security is Security.SIGNED:
            await self.time_sync.ensure_fresh()
        try:
            return await self._send_once(endpoint, clean)
        except ClockSkewRejected as exc:
            log.warning("%s: %s; re-measuring the server time offset", endpoint, exc.message)
            if not endpoint.idempotent:
                # Not retried, so its caller need not wait for the new offset.
                self.time_sync.refresh_in_background()
                raise
            await self.time_sync.sync()
        return await self._send_once(endpoint, clean)

    async def _send_once(self, endpoint: Endpoint, params: dict[str, Param]) -> Any:
        reservation = await self.limiter.acquire(
            endpoint.costs(params),
            max_wait_ms=0 if endpoint.order_write else self.config.max_wait_ms,
        )
        url, headers = self._prepare(endpoint, params)
        session = self._session
        if session is None:
            raise RuntimeError("BinanceHttpClient used before start()")
        started = self._clock.now_ms()
        try:
            async with session.request(
                endpoint.method, url, headers=headers, timeout=self.config.timeout
            ) as response:
                raw = await response.read()
                status, response_headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("%s failed: %s", endpoint, type(exc).__name__)
            raise errors.from_transport(exc, order_write=endpoint.order_write) from exc
        self.limiter.adopt(
            reservation, response_headers, trust_weight=endpoint.trusts_weight_header
        )
        log.debug("%s -> HTTP %d in %d ms", endpoint, status, self._clock.now_ms() - started)
        try:
            return errors.interpret(
                status,
                raw.decode("utf-8", errors="replace"),
                response_headers,
                order_write=endpoint.order_write,
                now_ms=self._clock.now_ms(),
            )
        except ExchangeDown as exc:
            self._learn(exc, endpoint.costs(params))
            raise

    def _learn(self, exc: ExchangeDown, costs: Mapping[str, int]) -> None:
        """What the exchange said about when to come back, for every later request."""
        if exc.ban_until_ms is not None:  # the same instant the breaker holds to
            self.limiter.hold(exc.ban_until_ms)
        elif exc.failure is FailureKind.IP_BAN_418:
            self.limiter.hold(self._clock.now_ms() + (exc.retry_after_ms or BAN_WITHOUT_END_MS))
        elif exc.failure in (FailureKind.RATE_LIMIT_429, FailureKind.BINANCE_1003):
            self.limiter.back_off(costs, exc.retry_after_ms)

    def _prepare(self, endpoint: Endpoint, params: dict[str, Param]) -> tuple[URL, dict[str, str]]:
        headers: dict[str, str] = {}
        query = encode(params)
        if endpoint.security is not Security.NONE:
            credentials = self._credentials
            if credentials is None:
                raise AuthError(0, f"{endpoint} needs API credentials and none were given")
            headers[API_KEY_HEADER] = credentials.api_key
            if endpoint.security is Security.SIGNED:
                stamp = encode(
                    {
                        "recvWindow": self.config.recv_window_ms,
                        "timestamp": self.time_sync.server_now_ms(),
                    }
                )
                query = signed(f"{query}&{stamp}" if query else stamp, credentials.api_secret)
        target = self._base + endpoint.path + (f"?{query}" if query else "")
        # encoded=True: what goes on the wire is byte for byte what was signed.
        return URL(target, encoded=True), headers

    async def _server_time(self) -> int:
        return (await self.call(weights.SERVER_TIME, ServerTime.parse)).serverTime


__all__ = ["ApiCredentials", "BinanceHttpClient", "RestConfig"]
