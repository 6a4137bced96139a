"""UserDataStream: fills, order states, account and algo updates from the user-data stream.

The listenKey is created (POST) before every connect: Binance returns the active key, extended,
or a new one if it expired, so a reconnect never uses a dead key. It is kept alive every 30 min;
a `listenKeyExpired` event or a -1125 answer to the keepalive forces a reconnect, i.e. a new key.
After every (re)connect `reconcile()` runs, since events sent while we were away are lost.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from slt.adapters.binance.ws.messages import (
    AccountUpdate,
    AlgoUpdate,
    ControlReply,
    ListenKeyExpired,
    Malformed,
    OrderFields,
    OrderTradeUpdate,
    OtherUserEvent,
    TradeLite,
    UserEvent,
    decode_user_frame,
    is_execution,
    to_account_events,
    to_algo_update,
    to_fill,
    to_order_state,
)
from slt.adapters.binance.ws.streams import MAINNET_WS
from slt.adapters.binance.ws.transport import ConnectionStats, TransportConfig, WsConnection
from slt.domain.account_events import AccountEvent
from slt.domain.orders import Fill, OrderState
from slt.domain.values import MINUTE_MS
from slt.ports.clock import Clock

log = logging.getLogger(__name__)

LISTEN_KEY_MISSING = -1125  # "This listenKey does not exist."


def is_missing_listen_key(exc: BaseException) -> bool:
    """True for a REST error meaning the listenKey is gone (Binance code -1125)."""
    return getattr(exc, "code", None) == LISTEN_KEY_MISSING


@dataclass(frozen=True, slots=True)
class ListenKeyCalls:
    """The REST side of the listenKey: BinanceGateway's create_listen_key (POST),
    keepalive_listen_key (PUT) and close_listen_key (DELETE). Futures keys are one per API key,
    so PUT and DELETE need no key argument."""

    create: Callable[[], Awaitable[str]]
    keepalive: Callable[[], Awaitable[object]]
    close: Callable[[], Awaitable[object]] | None = None
    is_missing: Callable[[BaseException], bool] = is_missing_listen_key


@dataclass(frozen=True, slots=True)
class UserSinks:
    """Where decoded events go. Called synchronously in arrival order; a sink that returns an
    awaitable has it run as a task. `fill` is BinanceGateway.deliver_fill, which dedupes too;
    `account` (BinanceGateway.deliver_account) gets ACCOUNT_UPDATE and ALGO_UPDATE as domain
    events, each in the order the exchange sent them."""

    fill: Callable[[Fill], object]
    order: Callable[[OrderState], object] | None = None
    account: Callable[[AccountEvent], object] | None = None


def _user_transport() -> TransportConfig:
    # A user stream may be quiet for hours: probe with a ping before calling it dead.
    return TransportConfig(silence_ms=60_000, silence_probe=True)


@dataclass(frozen=True, slots=True)
class UserStreamConfig:
    base_url: str = MAINNET_WS
    # `{base}` and `{listen_key}` are filled in. Alternatives Binance documents:
    # "{base}/private/ws/{listen_key}" and "{base}/private/stream?listenKey={listen_key}".
    url_template: str = "{base}/private/ws?listenKey={listen_key}"
    # Appended as `events=A/B`: only these event types are sent (empty: all of them).
    events: tuple[str, ...] = ()
    keepalive_ms: int = 30 * MINUTE_MS
    keepalive_retry_ms: int = MINUTE_MS
    fill_dedupe_size: int = 100_000  # (symbol, trade id) pairs remembered
    transport: TransportConfig = field(default_factory=_user_transport)


def user_stream_url(config: UserStreamConfig, listen_key: str) -> str:
    url = config.url_template.format(base=config.base_url.rstrip("/"), listen_key=listen_key)
    if config.events:
        url += ("&" if "?" in url else "?") + "events=" + "/".join(config.events)
    return url


@dataclass(frozen=True, slots=True)
class UserStreamStats:
    messages: int
    events: Mapping[str, int]  # by event type (`e`), decoded ones only
    dropped: Mapping[str, int]  # DropKind value -> count
    fills: int
    duplicate_fills: int
    non_usdt_fees: int  # fills whose commission asset was not USDT
    unconverted_fees: int  # ... and could not be converted: delivered in the asset's units
    listen_keys_created: int
    keepalives: int
    keepalive_failures: int
    key_expiries: int  # listenKeyExpired events and -1125 keepalive answers
    reconciles: int
    reconcile_failures: int
    sink_errors: int
    control_errors: int
    connection: ConnectionStats


class UserDataStream:
    """The account's user-data stream, decoded into domain fills and order states and into
    wire-schema account and algo updates, delivered to `sinks` in arrival order.

    Fills are delivered once per (symbol, trade id) however often the event arrives. After
    every (re)connect `reconcile` runs in its own task. `stats()` is a frozen snapshot.
    """

    def __init__(
        self,
        clock: Clock,
        keys: ListenKeyCalls,
        sinks: UserSinks,
        reconcile: Callable[[], Awaitable[object]],
        config: UserStreamConfig | None = None,
        *,
        rng: random.Random,
        fee_to_usdt: Callable[[str, Decimal], Decimal | None] | None = None,
    ) -> None:
        self.config = config = config or UserStreamConfig()
        self._clock = clock
        self._keys = keys
        self._sinks = sinks
        self._reconcile = reconcile
        self._fee_to_usdt = fee_to_usdt
        self._key: str | None = None
        self._conn = WsConnection(
            "user", clock, self._url, self._on_frame, config.transport, rng=rng,
            on_open=self._on_open,
        )
        self._handlers: Mapping[type, Callable[[Any], None]] = {
            OrderTradeUpdate: self._on_order_update,
            AccountUpdate: self._on_account,
            AlgoUpdate: self._on_algo,
            ListenKeyExpired: self._on_key_expired,
            TradeLite: self._ignore,
            OtherUserEvent: self._ignore,
            ControlReply: self._on_control,
        }
        self._seen_fills: dict[tuple[str, int], None] = {}
        self._keepalive: asyncio.Task[None] | None = None
        self._reconciling: asyncio.Task[None] | None = None
        self._reconcile_again = False
        self._sink_tasks: set[asyncio.Task[None]] = set()
        self._messages = 0
        self._events: dict[str, int] = {}
        self._dropped: dict[str, int] = {}
        self._fills = 0
        self._duplicates = 0
        self._non_usdt = 0
        self._unconverted = 0
        self._keys_created = 0
        self._keepalives = 0
        self._keepalive_failures = 0
        self._expiries = 0
        self._reconciles = 0
        self._reconcile_failures = 0
        self._sink_errors = 0
        self._control_errors = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._conn.start()
        if self._keepalive is None:
            self._keepalive = self._clock.spawn(self._keep_alive(), "user-stream:keepalive")

    async def stop(self) -> None:
        tasks = [t for t in (self._keepalive, self._reconciling, *self._sink_tasks) if t]
        self._keepalive = self._reconciling = None
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._conn.stop()
        key, self._key = self._key, None
        if key is not None and self._keys.close is not None:
            try:
                await self._keys.close()
            except Exception as exc:
                log.warning("closing the listenKey failed: %r", exc)

    @property
    def connection(self) -> WsConnection:
        return self._conn

    @property
    def listen_key(self) -> str | None:
        return self._key

    # -- connection hooks ---------------------------------------------------------------------

    async def _url(self) -> str:
        key = await self._keys.create()
        self._keys_created += 1
        if key != self._key:
            log.info("user stream: listenKey %s", _mask(key))
        self._key = key
        return user_stream_url(self.config, key)

    async def _on_open(self) -> None:
        # In its own task: a reconcile half done when the socket drops must still finish (the
        # bot's REST reconciliation is not written to be cancelled midway).
        if self._reconciling is not None and not self._reconciling.done():
            self._reconcile_again = True
            return
        self._reconciling = self._clock.spawn(self._run_reconcile(), "user-stream:reconcile")

    async def _run_reconcile(self) -> None:
        while True:
            self._reconcile_again = False
            self._reconciles += 1
            try:
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._reconcile_failures += 1
                log.exception("reconcile after (re)connect failed")
            if not self._reconcile_again:
                return

    async def _keep_alive(self) -> None:
        delay = self.config.keepalive_ms
        while True:
            await self._clock.sleep(delay / 1000)
            if self._key is None:
                delay = self.config.keepalive_ms
                continue
            try:
                await self._keys.keepalive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._keys.is_missing(exc):
                    self._expiries += 1
                    log.warning("listenKey gone on keepalive (%r): new key, reconnecting", exc)
                    self._conn.reconnect("listenKey does not exist (-1125)")
                    delay = self.config.keepalive_ms
                else:
                    self._keepalive_failures += 1
                    log.warning("listenKey keepalive failed: %r", exc)
                    delay = self.config.keepalive_retry_ms
                continue
            self._keepalives += 1
            delay = self.config.keepalive_ms

    # -- frames -------------------------------------------------------------------------------

    def _on_frame(self, raw: bytes | str, recv_ms: int) -> None:
        self._messages += 1
        try:
            event = decode_user_frame(raw)
            self._handlers[type(event)](event)
        except Malformed as exc:
            self._dropped[exc.kind] = self._dropped.get(exc.kind, 0) + 1
            log.warning("user stream: dropped a frame (%s): %.200r", exc, raw)

    def _count(self, event: UserEvent) -> None:
        e = event.e if isinstance(event, OtherUserEvent) else _EVENT_NAMES[type(event)]
        self._events[e] = self._events.get(e, 0) + 1

    def _on_order_update(self, u: OrderTradeUpdate) -> None:
        state = to_order_state(u)  # validates X before anything is delivered
        fill = to_fill(u, self._fee_in_usdt(u.o)) if is_execution(u) else None
        self._count(u)
        if fill is not None:
            key = (fill.symbol, fill.trade_id)
            if key in self._seen_fills:
                self._duplicates += 1
            else:
                self._remember(key)
                self._fills += 1
                self._deliver(self._sinks.fill, fill)
        if self._sinks.order is not None:
            self._deliver(self._sinks.order, state)

    def _on_account(self, u: AccountUpdate) -> None:
        events = to_account_events(u)
        self._count(u)
        if self._sinks.account is not None:
            for event in events:
                self._deliver(self._sinks.account, event)

    def _on_algo(self, u: AlgoUpdate) -> None:
        event = to_algo_update(u)  # validates X before anything is counted or delivered
        self._count(u)
        if self._sinks.account is not None:
            self._deliver(self._sinks.account, event)

    def _on_key_expired(self, ev: ListenKeyExpired) -> None:
        self._count(ev)
        if ev.listenKey and self._key is not None and ev.listenKey != self._key:
            return  # about a key we already replaced
        self._expiries += 1
        log.warning("listenKey expired: new key, reconnecting")
        self._key = None
        self._conn.reconnect("listenKeyExpired")

    def _ignore(self, ev: UserEvent) -> None:
        self._count(ev)

    def _on_control(self, reply: ControlReply) -> None:
        if reply.code is not None:
            self._control_errors += 1
            log.error("user stream control request failed: %s %s", reply.code, reply.msg)

    def _fee_in_usdt(self, o: OrderFields) -> Decimal | None:
        if o.N is None or o.N == "USDT" or not o.n:
            return None
        self._non_usdt += 1
        converted = self._fee_to_usdt(o.N, o.n) if self._fee_to_usdt is not None else None
        if converted is None:
            self._unconverted += 1
            log.warning("fee of trade %s %s is %s %s: not converted to USDT", o.s, o.t, o.n, o.N)
        return converted

    def _remember(self, key: tuple[str, int]) -> None:
        seen = self._seen_fills
        seen[key] = None
        if len(seen) > self.config.fill_dedupe_size:
            del seen[next(iter(seen))]  # dicts keep insertion order: this is the oldest

    def _deliver(self, sink: Callable[[Any], object], item: object) -> None:
        try:
            result = sink(item)
        except Exception:
            self._sink_errors += 1
            log.exception("user stream sink %r failed on %r", sink, item)
            return
        if inspect.isawaitable(result):
            task = self._clock.spawn(_await(result), "user-stream:sink")
            self._sink_tasks.add(task)
            task.add_done_callback(self._sink_tasks.discard)

    # -- metrics ------------------------------------------------------------------------------

    def stats(self) -> UserStreamStats:
        return UserStreamStats(
            messages=self._messages,
            events=MappingProxyType(dict(self._events)),
            dropped=MappingProxyType(dict(self._dropped)),
            fills=self._fills,
            duplicate_fills=self._duplicates,
            non_usdt_fees=self._non_usdt,
            unconverted_fees=self._unconverted,
            listen_keys_created=self._keys_created,
            keepalives=self._keepalives,
            keepalive_failures=self._keepalive_failures,
            key_expiries=self._expiries,
            reconciles=self._reconciles,
            reconcile_failures=self._reconcile_failures,
            sink_errors=self._sink_errors,
            control_errors=self._control_errors,
            connection=self._conn.stats(),
        )


async def _await(result: Awaitable[object]) -> None:
    await result


def _mask(key: str) -> str:
    return f"{key[:4]}...{key[-4:]}" if len(key) > 12 else "..."


_EVENT_NAMES: Mapping[type, str] = {
    OrderTradeUpdate: "ORDER_TRADE_UPDATE",
    AccountUpdate: "ACCOUNT_UPDATE",
    AlgoUpdate: "ALGO_UPDATE",
    ListenKeyExpired: "listenKeyExpired",
    TradeLite: "TRADE_LITE",
}
