"""Composition root: the one place where adapters are chosen and wired to ports.

`mode` selects the adapters, here and nowhere else:

| mode | clock | market data | orders |
|---|---|---|---|
| simulate | SimulatedClock | ReplayFeed (recorded files) | FakeExchange |
| paper | LiveClock | BinanceQuoteFeed (Binance streams) | FakeExchange, fed the live quotes |
| live | LiveClock | BinanceQuoteFeed | BinanceGateway (real orders) |

Whatever the exchange adapter, the bot talks to it through the circuit breaker (`gateway`: the
fake exchange wrapped in GuardedGateway; live, Binance's HTTP client guards every request);
only the driver of a session sees `exchange` itself, to push market data into a FakeExchange.
`binance` (the REST gateway, for market data in paper and orders in live) and `rng` are built
by the session that owns the HTTP connection and passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.clocks.live import LiveClock
from slt.adapters.clocks.simulated import SimulatedClock
from slt.adapters.fake_exchange import FakeExchange
from slt.adapters.process_memory import release_free_memory
from slt.adapters.replay.feed import ReplayFeed
from slt.adapters.reporting.daily import DailyReporter, PermissionLines
from slt.adapters.reporting.store import ModelRecord, ReportStore
from slt.adapters.sqlite_store import SqliteStore
from slt.application.data_service import DataService
from slt.application.guarded_gateway import GuardedGateway
from slt.application.learner.permissions import verdicts_from_store
from slt.application.learner.registry import ModelCard, ModelRegistry
from slt.application.learner.samples import OUTCOME
from slt.application.position_controller import ExitSettings, PositionController
from slt.application.scheduler import Job, UnifiedScheduler
from slt.application.trader import SelfLearningTrader, VirtualBook
from slt.config import Settings
from slt.domain.breaker import CircuitBreaker
from slt.domain.filters import SymbolFilters
from slt.ports.store import Store


def _exit_settings(settings: Settings) -> ExitSettings:
    e = settings.exits
    return ExitSettings(
        max_hold_ms=e.max_hold_minutes * 60_000,
        hard_loss_fraction=e.hard_loss_fraction,
        trail_activation_r=e.trail_activation_r,
        exchange_stop=e.exchange_stop,
        on_mismatch=settings.live.on_mismatch,
    )


def _intervals(settings: Settings) -> tuple[str, ...]:
    learner = settings.learner
    return (learner.lower_interval, settings.interval, learner.higher_interval)


def _stale_after_ms(settings: Settings) -> int:
    seconds = (
        settings.simulation.stale_after_s
        if settings.mode == "simulate"
        else (settings.stale_after_s)
    )
    return round(seconds * 1000)


def _quote_feed_config(settings: Settings) -> QuoteFeedConfig:
    return QuoteFeedConfig(
        streams=StreamsConfig(base_url=settings.live.ws_url),
        stale_after_ms=_stale_after_ms(settings),
    )


def _pretrain_records(settings: Settings) -> list[dict[str, Any]]:
    """The outcome records of the state files named in learner.pretrain_from: the newest
    `learner.max_samples` of them, all the training window can hold."""
    records: deque[dict[str, Any]] = deque(maxlen=settings.learner.max_samples)
    for name in settings.learner.pretrain_from:
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"learner.pretrain_from: {name}: no such file")
        store = SqliteStore(path)
        try:
            records.extend(r for r in store.iter_samples() if r.get("type") == OUTCOME)
        finally:
            store.close()
    return list(records)


def _permission_lines(settings: Settings, seed: int) -> PermissionLines:
    """The daily report's permission section, rebuilt from the stored outcomes as the trader
    judged them (same settings, same seed)."""
    learner = settings.learner
    params = learner.permission_params(seed)

    def lines(store: Store, at_ms: int) -> list[str]:
        verdicts = verdicts_from_store(store, params, learner.min_expected_r, at_ms)
        return [v.describe() for v in verdicts]

    return lines


def _report_then_trim(reporter: DailyReporter) -> Callable[[int], Awaitable[None]]:
    """The daily job: the day's report, then the heap's free pages back to the system (the
    report is the day's biggest transient allocation)."""

    async def run(now_ms: int) -> None:
        try:
            await reporter.report(now_ms)
        finally:
            release_free_memory()

    return run


def _on_new_model(report_store: ReportStore) -> Callable[[ModelCard], None]:
    """Each registered model becomes a row the daily report compares live results with; and
    the heap's free pages go back to the system, since training just freed its arrays (a
    trim takes well under a millisecond here: 0.26 ms median in the soak)."""

    def record(card: ModelCard) -> None:
        release_free_memory()
        v = card.validation
        report_store.record_model(
            ModelRecord(
                version=str(card.version),
                activated_ms=card.trained_at_ms,
                validation_hit_rate=v.get("model_hit_rate"),
                validation_expectancy_r=v.get("model_mean_r"),
                validation_samples=v.get("model_taken", 0),
                training_samples=card.n_samples,
                live=card.live,
            )
        )

    return record


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    filters = providers.Dependency(instance_of=dict)  # symbol -> SymbolFilters
    start_ms = providers.Dependency(instance_of=int)
    out_dir = providers.Dependency(instance_of=Path)
    db_path = providers.Dependency(instance_of=str)

    mode = providers.Callable(lambda s: s.mode, settings)
    exit_settings = providers.Singleton(_exit_settings, settings)

    binance = providers.Dependency()  # BinanceGateway, paper and live only
    rng = providers.Dependency()  # random.Random for reconnect jitter, paper and live only

    clock = providers.Selector(
        mode,
        simulate=providers.Singleton(SimulatedClock, start_ms),
        paper=providers.Singleton(LiveClock),
        live=providers.Singleton(LiveClock),
    )
    # A simulation's state is rebuilt by rerunning it: no need to pay for a disk flush per write.
    store = providers.Singleton(
        SqliteStore, db_path, durable=providers.Callable(lambda s: s.mode != "simulate", settings)
    )
    fake_exchange = providers.Singleton(
        FakeExchange,
        filters,
        clock,
        wallet=settings.provided.exchange.wallet,
        taker_fee=settings.provided.exchange.taker_fee,
        maker_fee=settings.provided.exchange.maker_fee,
        realism=providers.Callable(lambda s: s.simulation.realism(), settings),
    )
    exchange = providers.Selector(mode, simulate=fake_exchange, paper=fake_exchange, live=binance)
    breaker = providers.Singleton(CircuitBreaker)
    guarded_fake = providers.Singleton(GuardedGateway, fake_exchange, breaker, clock, store)
    # Live, the Binance HTTP client runs every request through the breaker itself (the session
    # gives it a BreakerGuard), so the gateway is not wrapped a second time.
    gateway = providers.Selector(mode, simulate=guarded_fake, paper=guarded_fake, live=binance)
    quote_feed = providers.Singleton(
        BinanceQuoteFeed,
        clock,
        providers.Callable(_quote_feed_config, settings),
        rng=rng,
        rest_fallback=binance.provided.book_tickers,
    )
    feed = providers.Selector(
        mode,
        simulate=providers.Singleton(
            ReplayFeed, clock, providers.Callable(_stale_after_ms, settings)
        ),
        paper=quote_feed,
        live=quote_feed,
    )
    bars = providers.Singleton(
        DataService,
        providers.Callable(_intervals, settings),
        params=providers.Callable(lambda s: s.strategy.indicator_params(), settings),
    )
    controller = providers.Singleton(
        PositionController, clock, gateway, store, filters, exit_settings
    )
    virtual = providers.Singleton(
        VirtualBook,
        store,
        exit_settings,
        providers.Callable(lambda s: float(s.exchange.taker_fee), settings),
        providers.Callable(lambda s: float(s.simulation.stop_slippage_bps), settings),
    )
    seed = providers.Dependency(instance_of=int, default=0)
    report_store = providers.Singleton(ReportStore, db_path)
    # Connectivity counters for reports and metrics; a live session provides them.
    runtime_stats = providers.Object(None)
    trader = providers.Singleton(
        SelfLearningTrader,
        clock=clock,
        gateway=gateway,
        feed=feed,
        data=bars,
        controller=controller,
        virtual=virtual,
        store=store,
        filters=filters,
        limits=settings.provided.risk,
        params=settings.provided.strategy,
        taker_fee=settings.provided.exchange.taker_fee,
        interval=settings.provided.interval,
        learner=settings.provided.learner,
        registry=providers.Singleton(
            ModelRegistry,
            providers.Callable(lambda d: d / "models", out_dir),
            on_register=providers.Callable(_on_new_model, report_store),
        ),
        seed=seed,
        pretrain=providers.Callable(_pretrain_records, settings),
    )
    reporter = providers.Singleton(
        DailyReporter,
        store,
        gateway,
        providers.Callable(lambda d: d / "reports", out_dir),
        # A chart per simulated day would double a simulation's run time: Markdown there,
        # Markdown with the self-contained HTML and its equity PNG for the operator live.
        formats=providers.Callable(
            lambda s: ("md",) if s.mode == "simulate" else ("md", "html", "png"), settings
        ),
        report_store=report_store,
        runtime_stats=runtime_stats,
        permissions=providers.Callable(_permission_lines, settings, seed),
    )
    jobs = providers.List(
        providers.Factory(
            Job,
            name="trading",
            period_ms=providers.Callable(lambda s: s.trading_period_s * 1000, settings),
            run=trader.provided.trading_cycle,
            due=trader.provided.trading_due,
        ),
        providers.Factory(
            Job,
            name="virtual",
            period_ms=providers.Callable(lambda s: s.virtual_period_s * 1000, settings),
            run=trader.provided.virtual_cycle,
            due=trader.provided.virtual_due,
        ),
        providers.Factory(
            Job,
            name="daily_report",
            period_ms=86_400_000,
            run=providers.Callable(_report_then_trim, reporter),
        ),
    )
    scheduler = providers.Singleton(UnifiedScheduler, clock, jobs)


def listen_to_quotes(container: Container) -> None:
    """Wire the quote path: feed -> simulated exchange (when there is one) -> candles ->
    PositionController. The order matters: the simulated exchange sees each quote before the
    bot reacts to it, so an order sent in reaction fills at that quote."""
    feed = container.feed()
    if container.settings().mode != "live":
        feed.add_listener(container.exchange().on_quote)
    feed.add_listener(container.bars().on_quote)
    feed.add_listener(container.controller().on_quote)


def build_container(
    settings: Settings,
    filters: dict[str, SymbolFilters],
    start_ms: int,
    out_dir: Path,
    db_path: str | None = None,
    seed: int = 0,
    **live_parts: object,
) -> Container:
    """`live_parts`: `binance` and `rng` for the paper and live modes."""
    return Container(
        settings=settings,
        filters=filters,
        start_ms=start_ms,
        out_dir=out_dir,
        db_path=db_path or str(out_dir / "state.db"),
        seed=seed,
        **live_parts,
    )


def runtime_settings_applier(container: Container) -> Callable[[Settings], None]:
    """Installs the runtime part of a reloaded configuration (slt.application.control.reload) in the
    running trader, PositionController and virtual book; a refused value raises ValueError
    before anything changes."""

    def apply(settings: Settings) -> None:
        exits = _exit_settings(settings)  # validates
        container.trader().update_rules(settings.risk, settings.strategy)
        container.controller().update_exit_settings(exits)
        container.virtual().update_exit_settings(exits)
        container.settings.override(providers.Object(settings))

    return apply
