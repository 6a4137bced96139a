"""What the exchange says about the account reaches the bot: recorded ACCOUNT_UPDATE, ALGO_UPDATE
and liquidation/ADL/foreign fills pushed over a loopback user stream, through the production
decoder and the gateway, out as domain events and Fills; malformed ones counted and dropped."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from test_ws_loopback import FAST, FakeBinance, Rest, run, trade

from slt.adapters.binance.gateway import BinanceGateway
from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.binance.ws.user import (
    ListenKeyCalls,
    UserDataStream,
    UserSinks,
    UserStreamConfig,
)
from slt.adapters.clocks.live import LiveClock
from slt.adapters.credentials import Credentials
from slt.domain.account_events import (
    AccountEvent,
    AlgoOrderUpdate,
    AlgoStatus,
    BalanceChange,
    PositionUpdate,
)
from slt.domain.orders import Fill, OrderRequest, OrderType
from slt.domain.values import Quote, Side
from slt.emulator import Emulator, EmulatorConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance_ws"
SHARED_DOCS = Path("/work/shared/data/binance/ws/docs/ACCOUNT_UPDATE__docs-example.json")
DOCS = FIXTURES.parent / "binance" / "ws" / "ACCOUNT_UPDATE__docs-example.json"


def load(rel: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / rel).read_bytes())


class Bot:
    """The gateway and user stream as `slt live` wires them, with listeners recording."""

    def __init__(self, server: FakeBinance, http: BinanceHttpClient) -> None:
        self.rest = Rest()
        self.gateway = gw = BinanceGateway(http)
        self.fills: list[Fill] = []
        self.events: list[AccountEvent] = []
        gw.add_fill_listener(self.fills.append)
        gw.add_account_listener(self.events.append)
        self.stream = UserDataStream(
            LiveClock(),
            ListenKeyCalls(create=self.rest.create, keepalive=self.rest.keepalive),
            UserSinks(fill=gw.deliver_fill, account=gw.deliver_account),
            self.rest.reconcile,
            UserStreamConfig(base_url=server.url, transport=FAST),
            rng=random.Random(1),
        )


def with_bot(test: Any) -> None:
    async def main(server: FakeBinance) -> None:
        http = BinanceHttpClient(RestConfig(), LiveClock())  # never sends: no REST here
        bot = Bot(server, http)
        await bot.stream.start()
        await server.until(lambda: bot.rest.reconciles == 1, "connected")
        try:
            await test(server, bot)
        finally:
            await bot.stream.stop()

    run(main)


def test_account_update_becomes_position_amounts_and_balance_changes() -> None:
    docs = orjson.loads((SHARED_DOCS if SHARED_DOCS.exists() else DOCS).read_bytes())

    async def main(server: FakeBinance, bot: Bot) -> None:
        await server.push_user(docs)
        await server.push_user(load("synthetic/ACCOUNT_UPDATE__FUNDING_FEE__cross.json"))
        await server.until(lambda: len(bot.events) == 3, "three account events")
        assert bot.events == [
            # one-way rows only: the LONG/SHORT rows of the docs' hedge example are left out
            PositionUpdate("BTCUSDT", Decimal("0"), Decimal("0.00000"), "ORDER", 1564745798939),
            BalanceChange("USDT", Decimal("50.12345678"), "ORDER", "", 1564745798939),
            BalanceChange(
                "USDT", Decimal("-0.04210000"), "FUNDING_FEE", "BTCUSDT", 1767254400000
            ),
        ]

    with_bot(main)


def test_portfolio_margin_account_updates_carry_the_position_amount() -> None:
    lines = (FIXTURES / "user/ACCOUNT_UPDATE__portfolio-margin-UM__reason_ORDER.jsonl")
    frames = [orjson.loads(line) for line in lines.read_bytes().splitlines() if line.strip()]
    rows = [p for f in frames for p in f["a"]["P"]]

    async def main(server: FakeBinance, bot: Bot) -> None:
        for frame in frames:
            await server.push_user(frame)
        positions = lambda: [e for e in bot.events if isinstance(e, PositionUpdate)]  # noqa: E731
        await server.until(lambda: len(positions()) == len(rows), "every position row")
        assert [(e.symbol, e.amount) for e in positions()] == [
            (p["s"], Decimal(p["pa"])) for p in rows
        ]
        assert {e.cause for e in positions()} == {"ORDER"}

    with_bot(main)


def test_algo_updates_say_when_a_stop_stops_protecting() -> None:
    async def main(server: FakeBinance, bot: Bot) -> None:
        for name in ("NEW", "TRIGGERED", "EXPIRED"):
            await server.push_user(load(f"synthetic/ALGO_UPDATE__{name}__STOP_MARKET.json"))
        await server.until(lambda: len(bot.events) == 3, "three algo updates")
        assert [e.status for e in bot.events if isinstance(e, AlgoOrderUpdate)] == [
            AlgoStatus.NEW, AlgoStatus.TRIGGERED, AlgoStatus.EXPIRED
        ]
        expired = bot.events[2]
        assert expired == AlgoOrderUpdate(
            "slt-stop-000044", "BTCUSDT", AlgoStatus.EXPIRED, "Reduce only order is rejected",
            1767240000000,
        )
        assert not expired.status.protects

    with_bot(main)


def test_liquidation_adl_and_foreign_fills_reach_the_fill_listeners() -> None:
    foreign = trade(4242)
    foreign["o"]["c"] = "web_8f3kq2"  # closed by hand on the website

    async def main(server: FakeBinance, bot: Bot) -> None:
        await server.push_user(load("synthetic/ORDER_TRADE_UPDATE__CALCULATED__liquidation.json"))
        await server.push_user(load("synthetic/ORDER_TRADE_UPDATE__CALCULATED__adl.json"))
        await server.push_user(foreign)
        await server.until(lambda: len(bot.fills) == 3, "three fills")
        liquidation, adl, manual = bot.fills
        assert (liquidation.exec_type, liquidation.side, liquidation.qty, liquidation.price) == (
            "LIQUIDATION", Side.SELL, Decimal("0.010"), Decimal("81230.50"))
        assert liquidation.realized_pnl == Decimal("-128.05000000")
        assert (adl.exec_type, adl.symbol, adl.client_id) == ("ADL", "ETHUSDT", "adl_autoclose")
        assert (manual.exec_type, manual.client_id) == ("TRADE", "web_8f3kq2")

    with_bot(main)


def test_a_fee_in_bnb_is_never_booked_as_usdt() -> None:
    async def main(server: FakeBinance, bot: Bot) -> None:
        await server.push_user(load("synthetic/ORDER_TRADE_UPDATE__TRADE__BNB-commission.json"))
        await server.until(lambda: len(bot.fills) == 1, "the fill")
        fill = bot.fills[0]
        assert (fill.fee, fill.fee_asset) == (Decimal("0.00051234"), "BNB")
        assert bot.stream.stats().unconverted_fees == 1

    with_bot(main)


def test_malformed_account_and_algo_updates_are_counted_and_dropped() -> None:
    bad_amount = load("synthetic/ACCOUNT_UPDATE__FUNDING_FEE__cross.json")
    bad_amount["a"]["P"] = [{"s": "BTCUSDT", "pa": "lots", "ep": "1", "ps": "BOTH"}]
    bad_status = load("synthetic/ALGO_UPDATE__NEW__STOP_MARKET.json")
    bad_status["o"]["X"] = "SOMETHING_NEW"
    no_symbol = load("synthetic/ORDER_TRADE_UPDATE__CALCULATED__liquidation.json")
    del no_symbol["o"]["t"]

    async def main(server: FakeBinance, bot: Bot) -> None:
        for frame in (bad_amount, bad_status, no_symbol):
            await server.push_user(frame)
        await server.push_user(load("synthetic/ALGO_UPDATE__NEW__STOP_MARKET.json"))
        await server.until(lambda: len(bot.events) == 1, "the good event after the bad ones")
        assert isinstance(bot.events[0], AlgoOrderUpdate) and bot.fills == []
        assert dict(bot.stream.stats().dropped) == {
            "bad_value": 2, "missing_field": 1}

    with_bot(main)


def test_position_snapshot_reports_flat_symbols_the_bot_asks_about() -> None:
    async def main() -> None:
        async with Emulator(EmulatorConfig(), LiveClock()) as emulator:
            emulator.push_quote(Quote("BTCUSDT", LiveClock().now_ms(), 50_000.0, 1, 50_000.1, 1))
            await emulator.exchange.place(
                OrderRequest("m-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.010"))
            )
            creds = Credentials(emulator.config.api_key, emulator.config.api_secret)
            config = RestConfig(base_url=emulator.rest_url)
            async with BinanceHttpClient(config, LiveClock(), creds) as http:
                events = await BinanceGateway(http).position_snapshot(7, ["ETHUSDT"])
        assert [(e.symbol, e.amount, e.cause, e.ts_ms) for e in events] == [
            ("BTCUSDT", Decimal("0.010"), "SNAPSHOT", 7),
            ("ETHUSDT", Decimal("0"), "SNAPSHOT", 7),
        ]

    asyncio.run(main())
