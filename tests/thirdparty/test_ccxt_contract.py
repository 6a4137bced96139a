"""Contract test: ccxt, a widely used third-party Binance client, against `slt emulator`.

The emulator runs as its own process on the bundled data at 100x pace (a quote every second
or so, so that streams have something to say). ccxt's binanceusdm is pointed at it by
overriding its `urls['api']` fapi entries and WebSocket URLs; the only option it needs is
`fetchCurrencies: False` (currencies come from the spot `/sapi` API, which a futures-only
endpoint does not serve). Each test makes its own client and leaves the account flat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from emulator_process import EmulatorProcess, emulator_process

ccxt = pytest.importorskip("ccxt")
ccxtpro = pytest.importorskip("ccxt.pro")

SYMBOL = "BTC/USDT:USDT"
TIMEOUT_S = 60.0
STREAM_TIMEOUT_S = 30.0
Client = Any  # ccxt.pro.binanceusdm: ccxt ships no type hints


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with emulator_process("--speed", "100") as process:
        yield process


def client(emulator: EmulatorProcess) -> Client:
    exchange = ccxtpro.binanceusdm(
        {
            "apiKey": emulator.api_key,
            "secret": emulator.api_secret,
            "options": {"fetchCurrencies": False},
        }
    )
    api = exchange.urls["api"]
    for name, url in list(api.items()):
        if name.startswith("fapi") and isinstance(url, str):
            api[name] = url.replace("https://fapi.binance.com", emulator.rest_url)
    api["ws"]["linear"] = emulator.ws_url + "/ws"
    api["ws"]["ws-api"]["linear"] = emulator.ws_url + "/ws-fapi/v1"
    return exchange


def run(emulator: EmulatorProcess, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        exchange = client(emulator)
        try:
            await exchange.load_markets()
            await body(exchange)
        finally:
            await flatten(exchange)
            await exchange.close()

    asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))


async def flatten(exchange: Client) -> None:
    """Cancel what a test left open and close its position, so tests do not depend on order."""
    await exchange.cancel_all_orders(SYMBOL)
    for algo in await exchange.fetch_open_orders(SYMBOL, params={"trigger": True}):
        await exchange.cancel_order(algo["id"], SYMBOL, params={"trigger": True})
    for position in await exchange.fetch_positions([SYMBOL]):
        if position["contracts"]:
            side = "sell" if position["side"] == "long" else "buy"
            await exchange.create_order(
                SYMBOL, "market", side, position["contracts"], None, {"reduceOnly": True}
            )


async def best_bid(exchange: Client) -> float:
    book = await exchange.fetch_order_book(SYMBOL, 5)
    return float(book["bids"][0][0])


def test_balance_lists_the_fresh_accounts_usdt(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        balance = await x.fetch_balance()
        # ccxt drops assets whose updateTime is 0: the account's creation time keeps USDT in.
        wallet = float(balance["info"]["totalWalletBalance"])
        assert balance["USDT"]["total"] == pytest.approx(wallet)
        assert 0 < balance["USDT"]["free"] <= balance["USDT"]["total"]

    run(emulator, body)


def test_leverage_margin_mode_and_account_settings(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        assert (await x.set_leverage(7, SYMBOL))["leverage"] == 7
        assert (await x.fetch_leverage(SYMBOL))["longLeverage"] == 7
        with pytest.raises(ccxt.MarginModeAlreadySet):  # cross already, as Binance answers
            await x.set_margin_mode("cross", SYMBOL)
        await x.set_margin_mode("isolated", SYMBOL)  # no position or order: allowed
        with pytest.raises(ccxt.MarginModeAlreadySet):
            await x.set_margin_mode("isolated", SYMBOL)
        await x.set_margin_mode("cross", SYMBOL)
        assert (await x.fetch_position_mode(SYMBOL))["hedged"] is False
        fee = await x.fetch_trading_fee(SYMBOL)
        assert (fee["maker"], fee["taker"]) == (0.0002, 0.0005)

    run(emulator, body)


def test_market_order_opens_a_position_with_trades_and_ledger(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        order = await x.create_order(SYMBOL, "market", "buy", 0.01)
        assert order["status"] == "closed" and order["filled"] == 0.01
        [position] = [p for p in await x.fetch_positions([SYMBOL]) if p["contracts"]]
        assert (position["side"], position["contracts"]) == ("long", 0.01)
        assert position["entryPrice"] == order["average"]
        assert position["maintenanceMarginPercentage"] == 0.004  # from GET leverageBracket
        closing = await x.create_order(SYMBOL, "market", "sell", 0.01, None, {"reduceOnly": True})
        trades = await x.fetch_my_trades(SYMBOL)
        mine = {t["order"]: t for t in trades}
        assert {order["id"], closing["id"]} <= set(mine)
        assert mine[closing["id"]]["side"] == "sell"
        assert mine[closing["id"]]["fee"]["cost"] > 0
        ledger = await x.fetch_ledger("USDT")
        kinds = {entry["type"] for entry in ledger}
        assert {"commission", "trade"} <= kinds  # COMMISSION and REALIZED_PNL rows

    run(emulator, body)


def test_limit_order_is_listed_modified_and_cancelled(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        bid = await best_bid(x)
        order = await x.create_order(SYMBOL, "limit", "buy", 0.01, round(bid * 0.95, 1))
        assert order["status"] == "open"
        assert [o["id"] for o in await x.fetch_open_orders(SYMBOL)] == [order["id"]]
        edited = await x.edit_order(
            order["id"], SYMBOL, "limit", "buy", 0.02, round(bid * 0.94, 1)
        )
        assert (edited["id"], edited["amount"]) == (order["id"], 0.02)
        cancelled = await x.cancel_order(order["id"], SYMBOL)
        assert cancelled["status"] == "canceled"
        history = {o["id"]: o["status"] for o in await x.fetch_orders(SYMBOL)}
        assert history[order["id"]] == "canceled"

    run(emulator, body)


def test_stop_order_goes_to_the_algo_service(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        await x.create_order(SYMBOL, "market", "buy", 0.01)
        bid = await best_bid(x)
        stop = await x.create_order(
            SYMBOL, "market", "sell", 0.01, None,
            {"stopLossPrice": round(bid * 0.9, 1), "reduceOnly": True},
        )
        assert stop["info"]["algoStatus"] == "NEW"
        assert stop["info"]["orderType"] == "STOP_MARKET"
        triggers = await x.fetch_open_orders(SYMBOL, params={"trigger": True})
        assert [o["id"] for o in triggers] == [stop["id"]]

    run(emulator, body)


def test_batch_orders_answer_per_entry(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        bid = await best_bid(x)
        orders = await x.create_orders(
            [
                {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01,
                 "price": round(bid * 0.95, 1)},
                {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.01,
                 "price": round(bid * 1.2, 1)},  # above PERCENT_PRICE's band: refused alone
            ]
        )
        # ccxt sorts the answers by time, and a refusal has none: match them by content.
        assert sorted(o["status"] for o in orders) == ["open", "rejected"]
        [refused] = [o for o in orders if o["status"] == "rejected"]
        assert refused["info"]["code"] == -4016

    run(emulator, body)


def test_funding_rates_and_history(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        rate = await x.fetch_funding_rate(SYMBOL)
        assert rate["fundingRate"] == 0.0001 and rate["markPrice"] > 0
        assert rate["fundingTimestamp"] % (8 * 3_600_000) == 0
        rates = await x.fetch_funding_rates([SYMBOL])
        assert rates[SYMBOL]["fundingRate"] == 0.0001
        history = await x.fetch_funding_rate_history(SYMBOL)
        assert history and all(h["timestamp"] % (8 * 3_600_000) == 0 for h in history)
        assert all(h["fundingRate"] == 0.0001 for h in history)
        assert await x.fetch_funding_history(SYMBOL) == []  # nothing charged yet

    run(emulator, body)


def test_market_data(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        book = await x.fetch_order_book(SYMBOL, 5)
        assert book["bids"][0][0] < book["asks"][0][0]
        candles = await x.fetch_ohlcv(SYMBOL, "5m", limit=3)
        assert len(candles) == 3 and all(c[3] <= c[1] <= c[2] for c in candles)
        marks = await x.fetch_mark_ohlcv(SYMBOL, "5m", limit=3)
        # mark = mid in the emulator; the last bar is still forming, and the replay moves on
        # between the two requests (a bar may close in between, shifting the window), so the
        # closed bars of both must agree where they share an open time.
        closed = {c[0]: c[:5] for c in candles[:-1]}
        shared = [m[:5] for m in marks[:-1] if m[0] in closed]
        assert shared and shared == [closed[m[0]] for m in shared]
        ticker = await x.fetch_ticker(SYMBOL)
        assert ticker["low"] <= ticker["last"] <= ticker["high"]
        interest = await x.fetch_open_interest(SYMBOL)
        assert interest["openInterestAmount"] == 0  # flat account: the only trader

    run(emulator, body)


def test_websocket_api_places_queries_and_cancels(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        bid = await best_bid(x)
        placed = await x.create_order_ws(SYMBOL, "limit", "buy", 0.01, round(bid * 0.95, 1))
        assert placed["status"] == "open"
        status = await x.fetch_order_ws(placed["id"], SYMBOL)
        assert status["id"] == placed["id"]
        cancelled = await x.cancel_order_ws(placed["id"], SYMBOL)
        assert cancelled["status"] == "canceled"
        balance = await x.fetch_balance_ws()
        assert balance["USDT"]["total"] > 0

    run(emulator, body)


def test_market_streams(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        ticker = await asyncio.wait_for(x.watch_ticker(SYMBOL), STREAM_TIMEOUT_S)
        assert ticker["symbol"] == SYMBOL and ticker["last"] > 0
        book = await asyncio.wait_for(x.watch_order_book(SYMBOL), STREAM_TIMEOUT_S)
        assert book["bids"][0][0] < book["asks"][0][0]

    run(emulator, body)


def test_trade_and_candle_streams(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        trades = await asyncio.wait_for(x.watch_trades(SYMBOL), STREAM_TIMEOUT_S)
        assert trades and all(t["price"] > 0 and t["amount"] > 0 for t in trades)
        candles = await asyncio.wait_for(x.watch_ohlcv(SYMBOL, "5m"), STREAM_TIMEOUT_S)
        assert candles and all(c[3] <= c[4] <= c[2] for c in candles)

    run(emulator, body)


def test_user_stream_reports_orders(emulator: EmulatorProcess) -> None:
    async def body(x: Client) -> None:
        watching = asyncio.ensure_future(x.watch_orders(SYMBOL))
        await asyncio.wait_for(_user_stream_connected(x), STREAM_TIMEOUT_S)
        placed = await x.create_order(SYMBOL, "market", "buy", 0.01)
        seen = await asyncio.wait_for(watching, STREAM_TIMEOUT_S)
        assert placed["id"] in {o["id"] for o in seen}
        assert Decimal(str(seen[-1]["amount"])) == Decimal("0.01")
        positions = asyncio.ensure_future(x.watch_positions([SYMBOL]))
        balance = asyncio.ensure_future(x.watch_balance())
        await x.create_order(SYMBOL, "market", "buy", 0.01)
        held = await asyncio.wait_for(positions, STREAM_TIMEOUT_S)
        # ccxt may answer first from its REST snapshot (0.01): wait for the stream's update.
        while held[-1]["contracts"] != 0.02:
            held = await asyncio.wait_for(x.watch_positions([SYMBOL]), STREAM_TIMEOUT_S)
        assert held[-1]["side"] == "long"
        assert (await asyncio.wait_for(balance, STREAM_TIMEOUT_S))["USDT"]["total"] > 0

    run(emulator, body)


async def _user_stream_connected(x: Client) -> None:
    """Until ccxt's listenKey connection is open: events before it would not reach it. ccxt
    opens it after fetching the key over REST, and offers nothing to await until then."""
    while not (urls := [u for u in x.clients if "listenKey" in u]):
        await asyncio.sleep(0.01)  # waiting for a condition, not a timing assertion
    await x.clients[urls[0]].connected
