"""A `slt live` session: start-up checks, the loops, a status line, and a clean shutdown.

Start-up, in this order, before any order can be sent:
0. the state file is locked (a second bot on it is refused) and the circuit breaker resumes
   its persisted level and holds, so a restart during an IP ban does not hammer the exchange;
1. server time sync (signed requests need it) and exchangeInfo (symbol filters);
2. with real orders: the account must be in one-way position mode (hedge mode is refused);
3. the universe: the configured symbols, or the most traded USDT perpetuals;
4. with real orders: the margin type (`live.margin_type`) of every traded symbol;
5. reconciliation of the store with the exchange (slt.domain.reconcile: the exchange wins;
   an unknown position halts new entries unless `live.on_mismatch = "adopt"`);
6. market streams, the user-data stream (real orders), then the scheduler's loops.

Steps 1-5 wait out 429s, bans, 5xx and refused connections (slt.application.live.patience): start-up
ends only on refused credentials or a configuration the exchange refuses.

While running, every REST request goes through the circuit breaker by priority. The exchange's
account events (position amounts, algo order states, funding) reach the PositionController,
and so do REST snapshots of the positions after every user-stream reconnect and every
`live.position_snapshot_interval_s`. While the stream of a symbol holding a position is stale,
its quotes come from REST (`live.rest_quote_interval_s`), so exits keep being checked.

Paper mode (the default) trades a FakeExchange fed with the live quotes: real market data,
simulated fills, its own state file; its simulated account starts afresh at every start, so
positions still open at shutdown are closed at their last quote (exit reason `shutdown`).
On SIGINT/SIGTERM: entries stop, protective stops stay on the exchange, the store is flushed.
SIGHUP reloads the configuration (slt.entrypoints.live_operator).
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
from slt.adapters.binance.common.errors import NotServed
from slt.adapters.binance.common.weights import REQUEST_WEIGHT
from slt.adapters.binance.funding import BinanceFundingHistory
from slt.adapters.binance.ws.user import ListenKeyCalls, UserDataStream, UserSinks, UserStreamConfig
from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.adapters.notify.env import notifiers_from_env
from slt.adapters.sqlite_store import SqliteStore
from slt.adapters.state_lock import StateLock, StateLocked
from slt.adapters.status.server import StatusServer, announce, resolve_token
from slt.application.control import SHUTDOWN_REASON
from slt.application.guarded_gateway import BreakerGuard, restore_breaker
from slt.application.live.patience import Patience
from slt.application.live.status import status_line
from slt.application.live.universe import most_traded
from slt.application.notify import FeedWatch, Notifications
from slt.application.position_controller.recovery import recover
from slt.application.reporting import RuntimeStats
from slt.application.status import ComponentsSource
from slt.config import LiveConfig, Settings
from slt.container import build_container, listen_to_quotes
from slt.domain.account_events import AlgoOrderUpdate, AlgoStatus
from slt.domain.filters import SymbolFilters
from slt.domain.orders import Priority
from slt.domain.permission import summary as permission_summary
from slt.domain.reconcile import WorkingOrder
from slt.domain.values import DAY_MS
from slt.entrypoints.live_operator import OperatorSession
from slt.ports.order_gateway import GatewayError, OrderRejected

log = logging.getLogger(__name__)


class StartupRefused(RuntimeError):
    """Start-up found a state it will not trade in; the message says what to do."""


@dataclass(frozen=True, slots=True)
class LiveOptions:
    real_orders: bool  # False: paper trading
    credentials: Credentials | None
    seed: int = 0
    print_status: Callable[[str], None] = print
    # Reads the configuration again as at start-up (/reload_config, SIGHUP); None: no reload.
    reload_settings: Callable[[], Settings] | None = None


async def run_live(settings: Settings, options: LiveOptions, stop: asyncio.Event) -> int:
    """Run until `stop` is set; return the process exit code."""
    mode = "live" if options.real_orders else "paper"
    if options.real_orders and options.credentials is None:
        raise StartupRefused("real orders need credentials (BINANCE_API_KEY/SECRET or a key file)")
    settings = dataclasses.replace(settings, mode=mode)
    state = Path(settings.live.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    db = state / f"{mode}.db"
    try:
        with StateLock(db):
            return await _locked(settings, options, stop, db)
    except StateLocked as exc:
        raise StartupRefused(str(exc)) from None


async def _locked(
    settings: Settings, options: LiveOptions, stop: asyncio.Event, db: Path
) -> int:
    clock = LiveClock()
    # Opened before the first request: the breaker resumes the level and holds it saved.
    with SqliteStore(db) as store:
        breaker = restore_breaker(store, clock.now_ms())
        live = settings.live
        rng = random.Random(options.seed)
        guard = BreakerGuard(breaker, clock, store)
        rest = RestConfig(base_url=live.rest_url, recv_window_ms=live.recv_window_ms)
        async with BinanceHttpClient(rest, clock, options.credentials, guard=guard) as http:
            # The limiter holds what the breaker held when the last run ended: one truth for both.
            http.limiter.hold(breaker.ban_until_ms)
            patience = Patience(
                clock,
                rng,
                options.print_status,
                round(live.startup_backoff_cap_s * 1000),
                lambda: max(breaker.ban_until_ms, breaker.retry_until_ms),
                stop,
            )
            binance = BinanceGateway(http)
            started = await patience.run(
                "connecting", lambda: _connect(http, binance, live, options)
            )
            if started is None:
                return 0  # stopped while waiting
            filters, symbols = started
            container = build_container(
                settings,
                filters,
                clock.now_ms(),
                db.parent / settings.mode,
                str(db),
                seed=options.seed,
                binance=binance,
                rng=rng,
            )
            container.store.override(providers.Object(store))
            container.breaker.override(providers.Object(breaker))
            history = BinanceHistory(http)
            container.runtime_stats.override(
                providers.Object(_runtime_stats(container, http, clock.now_ms()))
            )
            container.trader().use_funding(funding := BinanceFundingHistory(http))
            return await _session(
                container, binance, history, symbols, options, stop, patience, funding
            )


async def _connect(
    http: BinanceHttpClient, binance: BinanceGateway, live: LiveConfig, options: LiveOptions
) -> tuple[dict[str, SymbolFilters], list[str]]:
    """Time sync, filters, position mode, universe and margin type: what must hold before any
    order. Raises StartupRefused for what the user must fix."""
    try:
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
        if options.real_orders:
            await _apply_margin_type(binance, symbols, live.margin_type, options.print_status)
    except NotServed as exc:
        raise StartupRefused(
            f"live.rest_url {live.rest_url!r} does not serve Binance: {exc}"
        ) from None
    # Every tradable symbol's filters: the universe may change while the bot runs.
    return dict(all_filters), symbols


async def _apply_margin_type(
    binance: BinanceGateway, symbols: list[str], margin_type: str, say: Callable[[str], None]
) -> None:
    changed = []
    for symbol in symbols:
        try:
            if await binance.set_margin_type(symbol, margin_type):
                changed.append(symbol)
        except OrderRejected as exc:
            # -4047/-4048: open orders or a position; the type changes once they are gone,
            # and refusing to start would leave that position unwatched.
            say(f"margin type: {symbol} stays as it is ({exc})")
    if changed:
        say(f"margin type: {margin_type} for {', '.join(changed)}")


async def _session(  # type: ignore[no-untyped-def]
    container,
    binance: BinanceGateway,
    history: BinanceHistory,
    symbols: list[str],
    options: LiveOptions,
    stop: asyncio.Event,
    patience: Patience,
    funding: BinanceFundingHistory,
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

    notifications = Notifications.for_notifiers(
        notifiers_from_env(telegram_api=settings.live.telegram_api), clock
    )
    notifications.start()
    operator = OperatorSession(container, notifications, options.reload_settings)

    async def reconcile():  # type: ignore[no-untyped-def]
        working = await _working_orders(exchange, options.real_orders)
        return await recover(
            controller, gateway, store, working, settings.live.on_mismatch, clock.now_ms()
        )

    report = await patience.run("reconciling with the exchange", reconcile)
    if report is None:
        container.report_store().close()
        return 0  # stopped while waiting
    # One path for what the exchange says: stream events and REST snapshots alike.
    gateway.add_account_listener(controller.on_account_event)
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
            UserSinks(fill=binance.deliver_fill, account=binance.deliver_account),
            reconcile=lambda: _reconcile_after_reconnect(controller, binance, clock),
            config=UserStreamConfig(base_url=settings.live.ws_url),
            rng=container.rng(),
            fee_to_usdt=_usdt_value(feed),
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
    live = settings.live
    rest_quotes = clock.spawn(
        _every(
            clock,
            round(live.rest_quote_interval_s * 1000),
            lambda now: _refresh_stale(feed, controller),
            stop,
        ),
        name="rest-quotes",
    )
    # Settled funding rates for the `funding` feature (slt.adapters.binance.funding).
    funding_refresh = clock.spawn(
        _every(clock, FUNDING_REFRESH_MS, lambda now: funding.refresh(list(symbols)), stop),
        name="funding",
    )
    loops = [status, feed_watch, resolver, universe, rest_quotes, funding_refresh]
    if options.real_orders:
        loops.append(
            clock.spawn(
                _every(
                    clock,
                    live.position_snapshot_interval_s * 1000,
                    lambda now: _snapshot(controller, binance, now, routine=True),
                    stop,
                ),
                name="position-snapshot",
            )
        )
    server = await _status_server(container, settings, symbols, notifications, operator)
    operator.started(symbols)
    try:
        await stop.wait()
    finally:
        controller.halt_entries(SHUTDOWN_REASON)
        if not options.real_orders:
            await controller.close_for_shutdown()  # the paper exchange ends with the process
        for loop in loops:
            loop.cancel()
        if server is not None:
            await server.stop()
        await scheduler.stop()
        await operator.close()
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
# A new settlement shows within this; ten symbols cost 60 of the 500 per 5 min an hour.
FUNDING_REFRESH_MS = 10 * 60_000


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


def _usdt_value(feed) -> Callable[[str, Decimal], Decimal | None]:  # type: ignore[no-untyped-def]
    """A commission paid in another asset (BNB), at that asset's USDT mid when the feed follows
    it; None otherwise, and the fill keeps the fee in its own asset."""

    def convert(asset: str, amount: Decimal) -> Decimal | None:
        age = feed.latest(f"{asset}USDT")
        if age is None or age.stale:
            return None
        return amount * Decimal(repr(age.quote.mid))

    return convert


async def _reconcile_after_reconnect(  # type: ignore[no-untyped-def]
    controller, binance: BinanceGateway, clock
) -> None:
    """After a user-stream gap, events may have been missed: the truth over REST, as snapshot
    events, then the orders whose outcome is still open are asked for."""
    await _snapshot(controller, binance, clock.now_ms(), routine=False)
    for p in list(controller.positions.values()):
        if p.status in ("entry_in_flight", "exit_in_flight"):
            await controller.resolve_in_flight(p)


async def _snapshot(  # type: ignore[no-untyped-def]
    controller, binance: BinanceGateway, now_ms: int, *, routine: bool
) -> None:
    """The exchange's position amounts (every symbol the bot holds, flat or not) and its open
    conditional orders, fed through the account listeners like stream events. A routine check
    is LOW priority and only logs a failure; the one after a stream gap is neither."""
    priority = Priority.LOW if routine else None
    try:
        updates = await binance.position_snapshot(
            now_ms, controller.open_symbols(), priority=priority
        )
        algos = await binance.open_algo_orders(priority=priority)
    except GatewayError as exc:
        if not routine:
            raise
        log.warning("position snapshot failed: %s", exc)
        return
    for update in updates:
        binance.deliver_account(update)
    for a in algos:
        status = AlgoStatus(a.algoStatus)
        binance.deliver_account(AlgoOrderUpdate(a.clientAlgoId, a.symbol, status, "", now_ms))


async def _refresh_stale(feed, controller) -> None:  # type: ignore[no-untyped-def]
    """REST quotes for the symbols holding a position whose stream is stale (one request)."""
    held = controller.open_symbols()
    if held:
        await feed.refresh_stale(held)


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
    operator: OperatorSession,
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
        halted=lambda: controller.halted,
        permissions=lambda: [v.describe() for v in container.trader().permission_report()],
    )
    token = resolve_token()
    server = StatusServer(
        source, token, host=live.status_host, port=live.status_port,
        commands=operator.commands.run,
    )
    announce(await server.start(), token)
    return server


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The session takes SIGHUP over once it runs (a reload); until then it must not kill.
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning("SIGHUP during start-up ignored"))
