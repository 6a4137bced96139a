"""The emulator: one aiohttp server on 127.0.0.1 serving Binance's REST and WebSocket routes.

A REST request goes through one pipeline: fault draw -> rate limiter (429/418) -> API key ->
signature and timestamp -> handler -> (fault after execution) -> delay -> limit headers. Every
answer carries X-MBX-USED-WEIGHT-1M; order placements also the ORDER-COUNT headers.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from slt.adapters.clocks.live import LiveClock
from slt.adapters.fake_exchange import FakeExchange
from slt.data import bundled_exchange_info
from slt.domain.realism import FundingRates, RecordedFunding
from slt.domain.values import Bar, Quote
from slt.emulator import errors, payloads, rest_account, rest_market, rest_trade, ws_api
from slt.emulator.auth import (
    SECURITY,
    Security,
    check_api_key,
    check_signed,
    merged_params,
    signature_payload,
)
from slt.emulator.config import EmulatorConfig
from slt.emulator.control import control_routes
from slt.emulator.errors import ApiError
from slt.emulator.faults import Faults, RestFault
from slt.emulator.ledger import Ledger, OrderCall
from slt.emulator.limits import (
    NOT_AN_ORDER,
    ORDER_COUNTS,
    ORDERS_1M_HEADER,
    ORDERS_10S_HEADER,
    WEIGHT_HEADER,
    WEIGHTS,
    RateLimiter,
    too_many_requests,
)
from slt.emulator.listen_keys import ListenKeys
from slt.emulator.market import FUNDING_PERIOD_MS, MarketState, next_funding_ms
from slt.emulator.params import Call
from slt.emulator.payloads import Numbers
from slt.emulator.streams import Route, StreamHub
from slt.emulator.venue import Venue
from slt.ports.clock import Clock

Handler = Callable[[Call], Any]
_ORDER_PATHS = frozenset(
    {
        "/fapi/v1/order",
        "/fapi/v1/batchOrders",
        "/fapi/v1/algoOrder",
        "/fapi/v1/allOpenOrders",
        "/fapi/v1/algoOpenOrders",
    }
)
_CLIENT_ID_PARAMS = ("newClientOrderId", "origClientOrderId", "clientAlgoId")
_WS_PREFIXES = {
    Route.PUBLIC: "/public",
    Route.MARKET: "/market",
    Route.PRIVATE: "/private",
    Route.ROOT: "",
}


class Emulator:
    """A local Binance USDT-M futures endpoint for one account, driven by `push_quote`.

    Attributes for tests: `exchange` (the FakeExchange that decides every outcome), `faults`
    (the chaos switches), `ledger` (order requests received, fills executed), `requests`
    (a Counter of (method, path) of every REST and WS API request), `venue.history` (the
    account's trades and income). With `config.control_token` the switches are also served
    on /_emulator/faults for other processes (see slt.emulator.control). Orders placed on
    `exchange` directly execute, but only their ACCOUNT_UPDATE is streamed, at the next quote
    or request; place orders over REST to see them reported. Funding is charged at every
    funding time on `clock`, at the rates of `funding` (default: `config.funding_rate`).
    """

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock | None = None,
        *,
        funding: FundingRates | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or LiveClock()
        # Rates charged at each funding time: recorded ones where given, else the configured.
        self.funding: FundingRates = funding or RecordedFunding(default=config.funding_rate)
        self.ledger = Ledger()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.exchange = FakeExchange(
            config.filters,
            self.clock,
            wallet=config.wallet,
            taker_fee=config.taker_fee,
            maker_fee=config.maker_fee,
            default_leverage=config.default_leverage,
            max_leverage=config.max_leverage,
        )
        numbers = Numbers(config.filters)
        self.market = MarketState(numbers, self.funding)
        self.limiter = RateLimiter(config, self.clock)
        self.listen_keys = ListenKeys(self.clock, config.listen_key_ttl_ms, self._key_expired)
        self.streams = StreamHub(config, self.clock, self.listen_keys)
        self.venue = Venue(
            self.exchange,
            config.filters,
            numbers,
            self.market,
            self.clock,
            self.ledger,
            self.streams.publish_user,
            default_leverage=config.default_leverage,
            dual_side_position=config.dual_side_position,
        )
        self.faults = Faults(self.limiter, self.streams, self.listen_keys)
        self._handlers = self._bind(numbers)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        for (method, path), handler in self._handlers.items():
            app.router.add_route(method, path, partial(self._serve, method, path, handler))
        if self.config.control_token:
            routes = control_routes(self.config.control_token, self.faults, self._state)
            for method, path, control in routes:
                app.router.add_route(method, path, control)
        app.router.add_get(ws_api.WS_API_PATH, self._ws_api)
        for route, prefix in _WS_PREFIXES.items():
            for suffix, combined in (("/ws", False), ("/ws/{tail:.+}", False), ("/stream", True)):
                app.router.add_get(prefix + suffix, self._ws(route, combined))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        await web.SockSite(self._runner, sock).start()
        self._port = sock.getsockname()[1]
        # A plain task, not clock.spawn: it waits on an event as well as on the clock, which a
        # SimulatedClock's supervised tasks must not do.
        self._tasks.append(asyncio.get_running_loop().create_task(self.listen_keys.watch()))
        self._tasks.append(self.clock.spawn(self._charge_funding(), "emulator-funding"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await self.streams.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self._port}"

    @property
    def dual_side_position(self) -> bool:
        return self.venue.dual_side_position

    @dual_side_position.setter
    def dual_side_position(self, value: bool) -> None:
        self.venue.dual_side_position = value

    def _state(self) -> dict[str, Any]:
        """What a test in another process asserts on (GET /_emulator/state)."""
        return {
            "requests": sum(self.requests.values()),
            "order_calls": len(self.ledger.calls),
            "sent_twice": self.ledger.sent_twice(),
            "fills": len(self.ledger.fills),
            "ws_connections": self.streams.connections,
            "ws_opened": self.streams.opened,
        }

    # -- market data -----------------------------------------------------------------------

    def push_quote(self, q: Quote) -> None:
        """Set the book of `q.symbol`: publish it on the market streams, then let it fill or
        trigger working orders (their user-stream events go out before this returns)."""
        self.market.on_quote(q, self.streams.publish, self.streams.subscribed)
        self.venue.on_quote(q)

    def load_bars(
        self, symbol: str, interval_ms: int, bars: Iterable[Bar], offset_ms: int = 0
    ) -> int:
        """Serve `bars` (moved by `offset_ms`) as kline history of `symbol`; return the count."""
        return self.market.candles.load(symbol, interval_ms, bars, offset_ms)

    async def _charge_funding(self) -> None:
        """Settle funding at every funding time on the emulator's clock (00:00, 08:00 and
        16:00 UTC), each one once, also those a jump of the clock went past."""
        at = next_funding_ms(self.clock.now_ms())
        while True:
            await self.clock.sleep_until(at)
            self.venue.settle_funding(at, self.funding)
            at += FUNDING_PERIOD_MS

    # -- REST pipeline ---------------------------------------------------------------------

    def _bind(self, numbers: Numbers) -> dict[tuple[str, str], Handler]:
        apis: list[tuple[object, dict[tuple[str, str], Callable[..., Any]]]] = [
            (
                rest_market.MarketApi(
                    self.config,
                    self.market,
                    numbers,
                    bundled_exchange_info(),
                    self.venue.open_interest,
                ),
                rest_market.ROUTES,
            ),
            (
                rest_account.AccountApi(self.venue, self.listen_keys, numbers, self.config),
                rest_account.ROUTES,
            ),
            (rest_trade.TradeApi(self.venue, self.config.filters, numbers), rest_trade.ROUTES),
        ]
        return {key: partial(fn, api) for api, routes in apis for key, fn in routes.items()}

    async def _serve(
        self, method: str, path: str, handler: Handler, request: web.Request
    ) -> web.Response:
        key = (method, path)
        self.requests[key] += 1
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params = merged_params(raw_query, raw_body)
        fault = self.faults.draw(path)
        code: int | None = None
        if fault is not None and not fault.after_execution:
            response = _fault_response(fault)
        else:
            response, code = self._answer(request, key, handler, params, raw_query, raw_body)
            if fault is not None:
                response = _fault_response(fault)
        if path in _ORDER_PATHS:
            self._record(key, params, response.status, code)
        if self.faults.rest_delay_ms:
            await self.clock.sleep(self.faults.rest_delay_ms / 1000)
        response.headers.update(self.limiter.headers(orders=key in ORDER_COUNTS))
        return response

    def _answer(
        self,
        request: web.Request,
        key: tuple[str, str],
        handler: Handler,
        params: dict[str, str],
        raw_query: str,
        raw_body: str,
    ) -> tuple[web.Response, int | None]:
        body, status, headers, code = self.execute(
            key,
            handler,
            params,
            peer=request.remote or self.config.host,
            api_key=request.headers.get("X-MBX-APIKEY"),
            signed=signature_payload(raw_query, raw_body),
        )
        return _json(body, status, headers), code

    def execute(
        self,
        key: tuple[str, str],
        handler: Handler,
        params: dict[str, str],
        *,
        peer: str,
        api_key: str | None,
        signed: str,
    ) -> tuple[Any, int, dict[str, str], int | None]:
        """Limits, key, signature (over `signed`), then the handler: (body, HTTP status,
        headers, Binance error code or None). The one pipeline of REST and the WS API."""
        config = self.config
        try:
            retry_after = self.faults.draw_throttle()
            if retry_after is not None:
                raise too_many_requests(peer, config.weight_limit, retry_after)
            orders = ORDER_COUNTS.get(key, NOT_AN_ORDER)
            self.limiter.admit(WEIGHTS[key](params), orders, peer)
            security = SECURITY[key]
            if security is not Security.NONE:
                check_api_key(api_key, config.api_key, peer)
            now = self.clock.now_ms()
            if security is Security.SIGNED:
                check_signed(
                    params,
                    signed,
                    secret=config.api_secret,
                    now_ms=now,
                    recv_window_default=config.recv_window_default,
                    recv_window_max=config.recv_window_max,
                    max_ahead_ms=config.max_ahead_ms,
                )
            self.venue.expire_countdowns()
            return handler(Call(params, now)), 200, {}, None
        except ApiError as refused:
            return refused.body(), refused.status, refused.headers, refused.code

    def _record(
        self, key: tuple[str, str], params: dict[str, str], status: int, code: int | None
    ) -> None:
        client = next((params[n] for n in _CLIENT_ID_PARAMS if params.get(n)), "")
        self.ledger.calls.append(
            OrderCall(
                self.clock.now_ms(), key[0], key[1], params.get("symbol", ""), client, status, code
            )
        )

    # -- WebSocket API ---------------------------------------------------------------------

    async def _ws_api(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or self.config.host

        def execute(
            key: tuple[str, str], params: dict[str, str], api_key: str | None, signed: str
        ) -> tuple[Any, int, int | None]:
            self.requests[key] += 1
            fault = self.faults.draw(key[1])
            if fault is None or fault.after_execution:
                body, status, _, code = self.execute(
                    key, self._handlers[key], params, peer=peer, api_key=api_key, signed=signed
                )
            if fault is not None:
                body, status, code = _fault_frame(fault)
            if key[1] in _ORDER_PATHS:
                self._record(key, params, status, code)
            return body, status, code

        return await ws_api.serve(request, execute, self._rate_limits)

    def _rate_limits(self) -> list[dict[str, Any]]:
        """The WS API's `rateLimits`: the counters REST sends as X-MBX-* headers."""
        counts = self.limiter.headers(orders=True)
        config = self.config
        return [
            _rate_limit("REQUEST_WEIGHT", "MINUTE", 1, config.weight_limit, counts[WEIGHT_HEADER]),
            _rate_limit("ORDERS", "SECOND", 10, config.order_limit_10s, counts[ORDERS_10S_HEADER]),
            _rate_limit("ORDERS", "MINUTE", 1, config.order_limit_1m, counts[ORDERS_1M_HEADER]),
        ]

    # -- streams ---------------------------------------------------------------------------

    def _ws(
        self, route: Route, combined: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.streams.handle(request, route, combined)

        return handle

    def _key_expired(self, key: str) -> None:
        self.streams.announce_expiry(key, payloads.listen_key_expired(key, self.clock.now_ms()))


def _rate_limit(kind: str, interval: str, num: int, limit: int, count: str) -> dict[str, Any]:
    return {
        "rateLimitType": kind,
        "interval": interval,
        "intervalNum": num,
        "limit": limit,
        "count": int(count),
    }


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def _fault_frame(fault: RestFault) -> tuple[Any, int, int]:
    """A REST fault as the WS API answers it: the same status and {code, msg}."""
    answer = fault.answer
    if answer.content_type == "application/json":
        body = orjson.loads(answer.body)
        return body, answer.status, body["code"]
    return {"code": errors.UNKNOWN, "msg": answer.body}, answer.status, errors.UNKNOWN


def _fault_response(fault: RestFault) -> web.Response:
    answer = fault.answer
    return web.Response(text=answer.body, status=answer.status, content_type=answer.content_type)
