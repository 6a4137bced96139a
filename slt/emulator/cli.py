"""`slt emulator`: serve replayed market data on the Binance protocol until interrupted.

Kline files give both kline history and quotes: the first `--warmup-bars` bars of each are
served as closed history, the rest is replayed as bookTicker quotes (four per bar, see
slt.adapters.replay). Market time is data time moved by a whole number of bar intervals so that
the replay starts at the current minute, bars stay on their interval grid, and at `--speed 1`
market time is wall time. At other speeds market time runs at the replay's pace while server
time (`/fapi/v1/time`, which signatures are checked against) stays wall time.

The fault switches are served on `/_emulator/faults` behind a bearer token (`--control-token`,
else SLT_EMULATOR_TOKEN, else one made up and printed at start); `--faults FILE` applies a
schedule of them (see slt.emulator.control).

Funding is charged to open positions at every funding time (00:00, 08:00, 16:00 UTC) on the
emulator's clock: at the recorded rate where a `--data` folder holds Binance's funding-rate files
(`SYMBOL-fundingRate-*`, as `slt download` fetches them; moved to market time like the quotes),
else at the configured rate (0.0001).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from slt.adapters.clocks.live import LiveClock
from slt.adapters.replay import (
    DataSource,
    FundingRates,
    ReplayError,
    expand_sources,
    inspect_sources,
    open_replay,
    parse_data_arg,
    read_bars,
)
from slt.adapters.replay.klines import infer_interval
from slt.adapters.replay.layout import Kind, plan_source
from slt.data import bundled_filters, bundled_sources
from slt.domain.filters import SymbolFilters, inferred_filters
from slt.domain.realism import RecordedFunding
from slt.domain.values import Bar
from slt.emulator.config import EmulatorConfig
from slt.emulator.control import (
    CONTROL_PREFIX,
    Command,
    load_schedule,
    run_schedule,
)
from slt.emulator.replay_pump import replay_into
from slt.emulator.server import Emulator

QUOTES_ONLY_GRID_MS = 1_000
TOKEN_ENV = "SLT_EMULATOR_TOKEN"


@dataclass(frozen=True, slots=True)
class Session:
    """What to serve: trading rules, kline history, and where the live replay starts."""

    sources: tuple[DataSource, ...]
    filters: dict[str, SymbolFilters]
    history: tuple[tuple[str, int, tuple[Bar, ...]], ...]  # (symbol, interval ms, bars)
    start_ms: int  # data time of the first replayed quote
    grid_ms: int  # the market-time offset is a multiple of this
    funding: FundingRates  # recorded rates found in the data folders (may hold none)


def plan_session(sources: Sequence[DataSource], warmup_bars: int) -> Session:
    """Read what the files hold; raise ReplayError or ValueError for unusable input."""
    funding = FundingRates.load([s.path for s in sources if s.path.is_dir()])
    sources = expand_sources(sources)  # folders become their market data files
    infos = inspect_sources(list(sources))
    if not infos:
        raise ValueError("no market data in the given files")
    known = bundled_filters()
    filters = {
        s: known.get(s) or inferred_filters(s, i.price_decimals, i.reference_price)
        for s, i in sorted(infos.items())
    }
    series: list[tuple[str, int, list[Bar]]] = []
    for source in sources:
        plan = plan_source(source)
        interval = infer_interval(plan) if plan.layout.kind is Kind.KLINES else None
        if interval is not None and plan.symbol is not None:
            series.append((plan.symbol, interval, list(read_bars(source))))
    start = max(
        (bars[min(warmup_bars, len(bars) - 1)].open_ms for _, _, bars in series if bars),
        default=min(i.first_ts_ms for i in infos.values()),
    )
    return Session(
        sources=tuple(sources),
        filters=filters,
        history=tuple((s, i, tuple(b for b in bars if b.open_ms < start)) for s, i, bars in series),
        start_ms=start,
        grid_ms=max((i for _, i, _ in series), default=QUOTES_ONLY_GRID_MS),
        funding=funding,
    )


def market_time_funding(rates: FundingRates, offset_ms: int, default: Decimal) -> RecordedFunding:
    """The recorded rates moved to market time like the quotes, `default` for the rest."""
    return RecordedFunding(
        {s: [(e.time_ms + offset_ms, e.rate) for e in rates.events(s, 0, 2**62)]
         for s in rates.symbols},
        default,
    )


async def serve(
    session: Session,
    config: EmulatorConfig,
    *,
    speed: float,
    spread_bps: float,
    stop: asyncio.Event,
    ready: Callable[[Emulator], None] = lambda _: None,
    schedule: Sequence[Command] = (),
) -> int:
    """Run the emulator on `session` until `stop` is set; return the quotes pushed."""
    clock = LiveClock()
    now = clock.now_ms()
    offset = (now - session.start_ms) // session.grid_ms * session.grid_ms
    funding = market_time_funding(session.funding, offset, config.funding_rate)
    emulator = Emulator(config, clock, funding=funding)
    for symbol, interval, bars in session.history:
        emulator.load_bars(symbol, interval, bars, offset)
    filters = session.filters
    replay = open_replay(
        list(session.sources),
        spread_bps=spread_bps,
        tick_size=lambda s: filters[s].tick_size if s in filters else None,
        start_ms=session.start_ms,
    )
    await emulator.start()
    pump = emulator.clock.spawn(
        replay_into(emulator, replay, speed, offset_ms=offset, origin_ms=now), "emulator-replay"
    )
    faults = emulator.clock.spawn(
        run_schedule(emulator.faults, emulator.clock, schedule), "emulator-faults"
    )
    try:
        ready(emulator)
        await stop.wait()
    finally:
        faults.cancel()
        pump.cancel()
        await emulator.stop()
        replay.close()
    return emulator.market.update_id


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slt emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--data",
        action="append",
        metavar="[SYMBOL=]PATH",
        help="market data file; repeat for several (default: the data bundled with slt)",
    )
    parser.add_argument("--key", help="API key clients must send (default: the emulator's)")
    parser.add_argument("--secret", help="API secret requests are signed with")
    parser.add_argument("--speed", type=float, default=1.0, help="replay pace (1 = recorded)")
    parser.add_argument(
        "--warmup-bars", type=int, default=1500, help="bars per kline file served as history"
    )
    parser.add_argument(
        "--spread-bps", type=float, default=1.0, help="spread of quotes made from klines"
    )
    parser.add_argument(
        "--faults", type=Path, metavar="FILE", help="TOML or JSON schedule of fault switches"
    )
    parser.add_argument(
        "--control-token",
        help=f"bearer token of {CONTROL_PREFIX}/faults (default: ${TOKEN_ENV}, else a new one)",
    )
    return parser


def run_emulator(argv: Sequence[str] | None = None) -> int:
    """Entry point of `slt emulator`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if not args.speed > 0:
            raise ValueError(f"--speed {args.speed} must be positive")
        sources = [parse_data_arg(d) for d in args.data] if args.data else bundled_sources()
        session = plan_session(sources, max(args.warmup_bars, 0))
        schedule = load_schedule(args.faults) if args.faults else []
    except (ReplayError, ValueError) as error:  # FaultSpecError is a ValueError
        print(f"slt emulator: {error}", file=sys.stderr)
        return 2
    token = args.control_token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
    defaults = EmulatorConfig(filters=session.filters)
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.key or defaults.api_key,
        api_secret=args.secret or defaults.api_secret,
        filters=session.filters,
        control_token=token,
    )
    asyncio.run(_until_interrupted(session, config, args.speed, args.spread_bps, schedule))
    return 0


async def _until_interrupted(
    session: Session,
    config: EmulatorConfig,
    speed: float,
    spread_bps: float,
    schedule: Sequence[Command],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def announce(emulator: Emulator) -> None:
        print(
            f"Binance USDT-M emulator: REST {emulator.rest_url}  WS {emulator.ws_url}\n"
            f"symbols: {', '.join(session.filters)}\n"
            f"api key: {config.api_key}\napi secret: {config.api_secret}\n"
            f"control: {emulator.rest_url}{CONTROL_PREFIX}/faults  token: {config.control_token}\n"
            f"fault schedule: {len(schedule)} switch(es)\n"
            "Ctrl-C stops it.",
            flush=True,
        )

    await serve(
        session,
        config,
        speed=speed,
        spread_bps=spread_bps,
        stop=stop,
        ready=announce,
        schedule=schedule,
    )
