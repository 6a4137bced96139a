"""A `slt live` session: start-up checks, the loops, a status line, and a clean shutdown.

Start-up, in this order, before any order can be sent:
1. server time sync (signed requests need it) and exchangeInfo (symbol filters);
2. with real orders: the account must be in one-way position mode (hedge mode is refused);
3. the universe: the configured symbols, or the most traded USDT perpetuals;
4. reconciliation of the store with the exchange (slt.domain.reconcile: the exchange wins;
   an unknown position halts new entries unless `live.on_mismatch = "adopt"`);
5. market streams, the user-data stream (real orders), then the scheduler's loops.

Paper mode (the default) trades a FakeExchange fed with the live quotes: real market data,
simulated fills, its own state file; its simulated account starts afresh at every start.
On SIGINT/SIGTERM: entries stop, protective stops stay on the exchange, the store is flushed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from dependency_injector import providers

from slt.adapters.binance import BinanceGateway, BinanceHistory, BinanceHttpClient, RestConfig
from slt.adapters.binance.common.weights import REQUEST_WEIGHT
from slt.adapters.binance.ws.user import ListenKeyCalls, UserDataStream, UserSinks, UserStreamConfig
from slt.adapters.clocks.live import LiveClock
from slt.config import Settings
from slt.container import build_container, listen_to_quotes
from slt.credentials import Credentials
from slt.domain.permission import summary as permission_summary
from slt.domain.reconcile import WorkingOrder
from slt.domain.values import DAY_MS
from slt.live.status import status_line
from slt.live.universe import most_traded
from slt.notify import (
    FeedWatch,
    Notifications,
    ProtectiveStopFailed,
    ProtectiveStopPlaced,
    TradeClosed,
    TradeOpened,
    notifiers_from_env,
)
from slt.ports.order_gateway import GatewayError
from slt.position_controller.recovery import recover
from slt.reporter import RuntimeStats
from slt.status import ComponentsSource, StatusServer, announce, resolve_token

log = logging.getLogger(__name__)


class StartupRefused(RuntimeError):
    """Start-up found a state it will not trade in; the message says what to do."""


@dataclass(frozen=True, slots=True)
class LiveOptions:
    real_orders: bool  # False: paper trading
    credentials: Credentials | None
    seed: int = 0
    print_status: Callable[[str], None] = print


async def run_live(settings: Settings, options: LiveOptions, stop: asyncio.Event) -> int:
    """Run until `stop` is set; return the process exit code."""
    mode = "live" if options.real_orders else "paper"
    if options.real_orders and options.credentials is None:
        raise StartupRefused("real orders need credentials (BINANCE_API_KEY/SECRET or a key file)")
    settings = dataclasses.replace(settings, mode=mode)
    live = settings.live
    clock = LiveClock()
    rng = random.Random(options.seed)
    rest = RestConfig(base_url=live.rest_url, recv_window_ms=live.recv_window_ms)
    async with BinanceHttpClient(rest, clock, options.credentials) as http:
        binance = BinanceGateway(http)
        await http.time_sync.ensure_fresh()
        all_filters = await binance.symbol_filters()
        if options.real_orders and await binance.position_mode_is_hedge():
            raise StartupRefused(
                "the account is in hedge position mode; slt trades one-way mode only: "
                "switch it in the Binance futures settings (Position Mode: One-way)"
            )
        symbols = list(live.symbols) or most_traded(
            await binance.ticker_24h(), all_filters, live.universe_size
        )
        unknown = [s for s in symbols if s not in all_filters]
        if unknown:
            raise StartupRefused(f"live.symbols: not tradable on this exchange: {unknown}")
        # Every tradable symbol's filters: the universe may change while the bot runs.
        filters = dict(all_filters)
        state = Path(live.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        container = build_container(
            settings,
            filters,
            clock.now_ms(),
            state / mode,
            str(state / f"{mode}.db"),
            seed=options.seed,
            binance=binance,
            rng=rng,
        )
        history = BinanceHistory(http)
        container.runtime_stats.override(
            providers.Object(_runtime_stats(container, http, clock.now_ms()))
        )
        return await _session(container, binance, history, symbols, options, stop)


async def _session(  # type: ignore[no-untyped-def]
    container,
    binance: BinanceGateway,
    history: BinanceHistory,
    symbols: list[str],
    options: LiveOptions,
    stop: asyncio.Event,
) -> int:
    settings: Settings = container.settings()
    clock = container.clock()
    store = container.store()
    exchange = container.exchange()
    gateway = container.gateway()
    feed = container.feed()
    controller = container.controller()
    container.trader()
    scheduler = container.scheduler()
    listen_to_quotes(container)

    notifications = Notifications.for_notifiers(notifiers_from_env(), clock)
    notifications.start()
    controller.add_opened_listener(lambda p: notifications.publish(TradeOpened.from_position(p)))
    controller.add_closed_listener(lambda p: notifications.publish(TradeClosed.from_position(p)))
    controller.add_protection_listener(
        lambda p, placed, detail: notifications.publish(
            ProtectiveStopPlaced(p.id, p.symbol, p.stop)
            if placed
            else ProtectiveStopFailed(p.id, p.symbol, p.stop, detail)
        )
    )

    working = await _working_orders(exchange, options.real_orders)
    report = await recover(
        controller, gateway, store, working, settings.live.on_mismatch, clock.now_ms()
    )
    for line in report.lines():
        options.print_status(f"reconcile: {line}")
    if report.halted:
        controller.halt_entries(
            "start-up reconciliation found "
            + ", ".join(sorted({str(m.kind) for m in report.mismatches}))
        )

    await feed.subscribe(symbols)
    await feed.start()
    user: UserDataStream | None = None
    if options.real_orders:
        user = UserDataStream(
            clock,
            ListenKeyCalls(
                binance.create_listen_key, binance.keepalive_listen_key, binance.close_listen_key
            ),
            UserSinks(fill=binance.deliver_fill),
            reconcile=lambda: _reconcile_after_reconnect(controller, gateway),
            config=UserStreamConfig(base_url=settings.live.ws_url),
            rng=container.rng(),
        )
        await user.start()
    await _warm_up(container, history, symbols, settings)
    await container.reporter().catch_up(clock.now_ms())  # days missed while down
    scheduler.start()
    status = clock.spawn(_status_loop(container, symbols, options, stop), name="status")
    watch = FeedWatch(lambda: symbols, feed.latest, notifications.publish)
    feed_watch = clock.spawn(_every(clock, 5_000, watch.check, stop), name="feed-watch")
    resolver = clock.spawn(_every(clock, 10_000, controller.resolve_stuck, stop), name="resolve")
    universe = clock.spawn(
        _every(clock, DAY_MS, _universe_refresh(container, binance, history, symbols), stop),
        name="universe",
    )
    server = await _status_server(container, settings, symbols, notifications)
    try:
        await stop.wait()
    finally:
        controller.halt_entries("shutdown")
        status.cancel()
        feed_watch.cancel()
        resolver.cancel()
        universe.cancel()
        if server is not None:
            await server.stop()
        await scheduler.stop()
        await notifications.close()
        if user is not None:
            await user.stop()
        await feed.stop()
        store.close()
        container.report_store().close()
    return 0


def _universe_refresh(
    container,
    binance: BinanceGateway,
    history: BinanceHistory,  # type: ignore[no-untyped-def]
    symbols: list[str],
) -> Callable[[int], Awaitable[None]]:
    """Once a day, the most traded symbols again (when the configuration names none): new ones
    are warmed up and subscribed; symbols still holding a position stay until it closes.
    `symbols` is updated in place, for the status line."""
    settings: Settings = container.settings()
    first = [True]

    async def refresh(now_ms: int) -> None:
        if first[0] or settings.live.symbols:
            first[0] = False  # the start-up universe is fresh
            return
        tradable = container.filters()
        chosen = most_traded(await binance.ticker_24h(), tradable, settings.live.universe_size)
        held = {p.symbol for p in container.controller().positions.values()}
        wanted = sorted(set(chosen) | held)
        added = [s for s in wanted if s not in symbols]
        if not added and len(wanted) == len(symbols):
            return
        await _warm_up(container, history, added, settings)
        await container.feed().set_symbols(wanted)
        log.info("universe: %s", ", ".join(wanted))
        symbols[:] = wanted

    return refresh


def _runtime_stats(container, http: BinanceHttpClient, since_ms: int):  # type: ignore[no-untyped-def]
    """Counters of the session's connections, read when a report or a scrape asks."""

    def read() -> RuntimeStats:
        feed = container.feed().stats()
        return RuntimeStats(
            since_ms=since_ms,
            ws_reconnects=feed.reconnects,
            stale_periods=feed.stale_events,
            messages_dropped=sum(feed.dropped.values()) + feed.stream_overflows,
            rest_weight_used=http.limiter.spent.get(REQUEST_WEIGHT, 0),
        )

    return read


WARM_UP_BARS = 300  # enough for the slowest indicator (EMA 50, ADX) on every interval


async def _warm_up(
    container,
    history: BinanceHistory,
    symbols: list[str],  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    """Closed bars from REST for every symbol and interval, so the strategy starts with its
    indicators ready instead of hours later. Live quotes build the bars from then on."""
    data = container.bars()
    learner = settings.learner
    for interval in sorted({learner.lower_interval, settings.interval, learner.higher_interval}):
        for symbol in symbols:
            try:
                bars = await history.klines(symbol, interval, WARM_UP_BARS)
            except GatewayError as exc:
                log.warning("no history for %s %s: %s", symbol, interval, exc)
                continue
            for bar in bars:
                data.on_kline(symbol, interval, bar, True)


async def _working_orders(exchange: object, real: bool) -> list[WorkingOrder]:
    if real:
        assert isinstance(exchange, BinanceGateway)
        orders = [
            WorkingOrder(o.clientOrderId, o.symbol, o.reduceOnly, False)
            for o in await exchange.open_orders()
        ]
        algos = [
            WorkingOrder(a.clientAlgoId, a.symbol, a.reduceOnly, True)
            for a in await exchange.open_algo_orders()
        ]
        return orders + algos
    return []  # the paper exchange starts empty at every start


async def _reconcile_after_reconnect(controller, gateway) -> None:  # type: ignore[no-untyped-def]
    """After a user-stream gap, fills may have been missed: ask for the truth over REST."""
    held = {p.symbol: p.qty for p in await gateway.positions()}
    for p in list(controller.positions.values()):
        if p.status == "open" and p.symbol not in held:
            log.warning("position %s %s is flat on the exchange after a stream gap", p.id, p.symbol)
        elif p.status in ("entry_in_flight", "exit_in_flight"):
            await controller.resolve_in_flight(p)


async def _status_loop(
    container,
    symbols: list[str],
    options: LiveOptions,  # type: ignore[no-untyped-def]
    stop: asyncio.Event,
) -> None:
    clock = container.clock()
    feed = container.feed()
    controller = container.controller()
    breaker = container.breaker()
    store = container.store()
    period_ms = container.settings().live.status_interval_s * 1000
    while not stop.is_set():
        now = clock.now_ms()
        day_start = now - now % DAY_MS
        pnl = sum((t.pnl for t in store.trades() if t.close_ms >= day_start), Decimal(0))
        options.print_status(
            status_line(
                now,
                [(s, feed.latest(s)) for s in symbols],
                str(breaker.level),
                len(controller.positions),
                pnl,
                controller.halted,
                permission_summary(container.trader().permission_report()),
            )
        )
        await clock.sleep_until(now + period_ms)


async def _every(
    clock,
    period_ms: int,
    run: Callable[[int], Awaitable[None]],  # type: ignore[no-untyped-def]
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        now = clock.now_ms()
        await run(now)
        await clock.sleep_until(now + period_ms)


async def _status_server(
    container,
    settings: Settings,
    symbols: list[str],  # type: ignore[no-untyped-def]
    notifications: Notifications,
) -> StatusServer | None:
    live = settings.live
    if not live.status_port:
        return None
    clock = container.clock()
    controller = container.controller()
    feed = container.feed()
    source = ComponentsSource(
        clock=clock,
        mode=settings.mode,
        store=container.store(),
        positions=lambda: controller.positions.values(),
        breaker_level=lambda: str(container.breaker().level),
        symbols=lambda: symbols,
        latest=feed.latest,
        scheduler=container.scheduler(),
        notifier_stats=notifications.stats,
        runtime_stats=container.runtime_stats(),
        started_ms=clock.now_ms(),
        permissions=lambda: [v.describe() for v in container.trader().permission_report()],
    )
    token = resolve_token()
    server = StatusServer(source, token, host=live.status_host, port=live.status_port)
    announce(await server.start(), token)
    return server


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
