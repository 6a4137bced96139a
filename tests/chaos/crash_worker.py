"""A bot process for the kill -9 trials: recover from the store, then open and close positions
on BTCUSDT against the emulator until killed (or, with --finish, close everything and exit).

Prints `recovered` once start-up reconciliation is done, then a line per step.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from decimal import Decimal
from pathlib import Path

from slt.adapters.binance import BinanceGateway, BinanceHttpClient, RestConfig
from slt.adapters.binance.ws.market import BinanceQuoteFeed, QuoteFeedConfig
from slt.adapters.binance.ws.streams import StreamsConfig
from slt.adapters.binance.ws.user import (
    ListenKeyCalls,
    UserDataStream,
    UserSinks,
    UserStreamConfig,
)
from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.adapters.sqlite_store import SqliteStore
from slt.application.guarded_gateway import GuardedGateway
from slt.application.position_controller import ExitSettings, PositionController
from slt.application.position_controller.recovery import recover
from slt.data import bundled_filters
from slt.domain.breaker import CircuitBreaker
from slt.domain.exits import ExitDecision, ExitReason
from slt.domain.reconcile import WorkingOrder
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction

SYMBOL = "BTCUSDT"


async def main(args: argparse.Namespace) -> int:
    clock = LiveClock()
    filters = {SYMBOL: bundled_filters()[SYMBOL]}
    creds = Credentials(args.key, args.secret)
    async with BinanceHttpClient(RestConfig(base_url=args.rest), clock, creds) as http:
        binance = BinanceGateway(http)
        store = SqliteStore(Path(args.db))
        gateway = GuardedGateway(binance, CircuitBreaker(), clock, store)
        controller = PositionController(
            clock, gateway, store, filters, ExitSettings(max_hold_ms=0, exchange_stop=True)
        )
        feed = BinanceQuoteFeed(
            clock,
            QuoteFeedConfig(streams=StreamsConfig(base_url=args.ws)),
            rng=random.Random(args.seed),
        )
        feed.add_listener(controller.on_quote)
        user = UserDataStream(
            clock,
            ListenKeyCalls(binance.create_listen_key, binance.keepalive_listen_key),
            UserSinks(fill=binance.deliver_fill),
            reconcile=lambda: controller.resolve_stuck(clock.now_ms()),
            config=UserStreamConfig(base_url=args.ws),
            rng=random.Random(args.seed + 1),
        )
        await feed.subscribe([SYMBOL])
        await feed.start()
        await user.start()
        await asyncio.wait_for(user.connection.wait_connected(), 10)
        working = [
            WorkingOrder(o.clientOrderId, o.symbol, o.reduceOnly, False)
            for o in await binance.open_orders()
        ]
        working += [
            WorkingOrder(a.clientAlgoId, a.symbol, a.reduceOnly, True)
            for a in await binance.open_algo_orders()
        ]
        await recover(controller, gateway, store, working, "adopt", clock.now_ms())
        print("recovered", flush=True)
        rng = random.Random(args.seed)
        for step in range(10_000):
            await controller.resolve_stuck(clock.now_ms())
            open_ = [p for p in controller.positions.values() if p.status == "open"]
            if args.finish:
                if not controller.positions:
                    break
                for p in open_:
                    controller.request_exit(p, ExitDecision(ExitReason.END_OF_DATA, 0.0))
            elif not controller.positions:
                age = feed.latest(SYMBOL)
                if age is not None:
                    price = Decimal(repr(age.quote.ask))
                    candidate = Candidate(
                        SYMBOL,
                        Direction.LONG,
                        clock.now_ms(),
                        age.quote.mid,
                        age.quote.mid * 0.01,
                        2.0,
                        0.0,
                    )
                    await controller.open_position(
                        candidate, Sizing(Decimal("0.01"), price / 100, 5, Decimal(10)), price
                    )
            elif open_ and rng.random() < 0.3:
                controller.request_exit(open_[0], ExitDecision(ExitReason.TAKE_PROFIT, 0.0))
            print(f"step {step} positions {len(controller.positions)}", flush=True)
            await asyncio.sleep(rng.uniform(0.005, 0.05))
        await user.stop()
        await feed.stop()
        store.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("rest", "ws", "db", "key", "secret"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finish", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
