"""Funding on the emulator's clock: at 00:00, 08:00 and 16:00 UTC every open position pays or
receives qty * mark * rate, as an ACCOUNT_UPDATE FUNDING_FEE on the user stream, a change of the
wallet and a FUNDING_FEE income row. The clock is a ManualClock: nothing sleeps."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import aiohttp

from slt.domain.realism import RecordedFunding
from slt.domain.values import DAY_MS, HOUR_MS
from slt.emulator import Emulator

from emu_helpers import (
    BTC,
    CONFIG,
    START_MS,
    Client,
    ManualClock,
    async_test,
    barrier,
    quote,
    receive_json,
)

FIRST = START_MS + 8 * HOUR_MS  # START_MS is 00:00 UTC: the next funding time is 08:00
ORDER = "/fapi/v1/order"


def market(side: str, qty: str) -> dict[str, str]:
    return {"symbol": BTC, "side": side, "type": "MARKET", "quantity": qty}


@contextlib.asynccontextmanager
async def user_stream(
    clock: ManualClock, funding: RecordedFunding | None = None
) -> AsyncIterator[tuple[Emulator, Client, aiohttp.ClientWebSocketResponse]]:
    # A listenKey that outlives the test's days (keepalives are not what is tested here).
    config = replace(CONFIG, listen_key_ttl_ms=7 * DAY_MS)
    emulator = Emulator(config, clock, funding=funding)
    await emulator.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(emulator, session)
            emulator.push_quote(quote(50_000.0, 50_000.2))
            key = await client.listen_key()
            ws = await session.ws_connect(f"{emulator.ws_url}/private/ws?listenKey={key}")
            yield emulator, client, ws
    finally:
        await emulator.stop()


async def wallet(client: Client) -> Decimal:
    rows = await client.ok("GET", "/fapi/v2/balance")
    return Decimal(next(r["balance"] for r in rows if r["asset"] == "USDT"))


async def to_funding_time(clock: ManualClock, at_ms: int) -> None:
    await clock.wait_for_sleeper(at_ms)
    clock.advance(at_ms - clock.now_ms())


@async_test
async def test_a_long_pays_at_the_funding_time_and_is_told_on_the_user_stream() -> None:
    clock = ManualClock()
    async with user_stream(clock) as (emu, client, ws):
        await client.ok("POST", ORDER, **market("BUY", "0.010"))
        await barrier(ws)  # the order's own events
        before = await wallet(client)
        clock.advance(FIRST - 1 - clock.now_ms())
        emu.push_quote(quote(50_100.0, 50_100.2, ts_ms=clock.now_ms()))
        assert await barrier(ws) == []  # one millisecond early: nothing yet
        await to_funding_time(clock, FIRST)
        event = await receive_json(ws)
        paid = Decimal("-0.05010010")  # 0.010 x mark 50100.1 x default rate 0.0001
        assert event == {
            "e": "ACCOUNT_UPDATE", "E": FIRST, "T": FIRST,
            "a": {"m": "FUNDING_FEE", "S": BTC, "P": [],
                  "B": [{"a": "USDT", "wb": format(before + paid, "f"),
                         "cw": format(before + paid, "f"), "bc": "-0.05010010"}]},
        }
        assert await wallet(client) == before + paid
        income = await client.ok("GET", "/fapi/v1/income", incomeType="FUNDING_FEE")
        assert [(r["symbol"], Decimal(r["income"]), r["time"]) for r in income] == [
            (BTC, paid, FIRST)
        ]
        assert await barrier(ws) == []  # once per funding time


@async_test
async def test_recorded_rates_shown_and_charged_short_receives_flat_pays_none() -> None:
    clock = ManualClock()
    recorded = RecordedFunding({BTC: [(FIRST, Decimal("0.0003"))]}, default=Decimal("-0.0001"))
    async with user_stream(clock, recorded) as (_, client, ws):
        await client.ok("POST", ORDER, **market("SELL", "0.020"))
        await barrier(ws)
        _, _, premium = await client.public("/fapi/v1/premiumIndex", symbol=BTC)
        assert (premium["lastFundingRate"], premium["nextFundingTime"]) == ("0.00030000", FIRST)
        await to_funding_time(clock, FIRST)
        received = await receive_json(ws)
        # 0.020 x mark 50000.1 x the recorded 0.0003, received by the short
        assert received["a"]["B"][0]["bc"] == "0.30000060"
        await to_funding_time(clock, FIRST + 8 * HOUR_MS)
        paid = await receive_json(ws)  # no record for this time: the default rate, negative
        assert (paid["T"], paid["a"]["B"][0]["bc"]) == (FIRST + 8 * HOUR_MS, "-0.10000020")
        await client.ok("POST", ORDER, **market("BUY", "0.020"), reduceOnly="true")
        await barrier(ws)
        await to_funding_time(clock, FIRST + 16 * HOUR_MS)
        assert await barrier(ws) == []
        income = await client.ok("GET", "/fapi/v1/income", incomeType="FUNDING_FEE")
        assert [Decimal(r["income"]) for r in income] == [
            Decimal("0.30000060"), Decimal("-0.10000020")
        ]


@async_test
async def test_a_clock_jump_settles_every_funding_time_it_passed_once() -> None:
    clock = ManualClock()
    async with user_stream(clock) as (_, client, ws):
        await client.ok("POST", ORDER, **market("BUY", "0.010"))
        await barrier(ws)
        await clock.wait_for_sleeper(FIRST)
        clock.advance(24 * HOUR_MS + 5)  # past 08:00, 16:00 and the next 00:00
        events = [await receive_json(ws) for _ in range(3)]
        assert [e["T"] for e in events] == [FIRST + i * 8 * HOUR_MS for i in range(3)]
        assert {e["a"]["m"] for e in events} == {"FUNDING_FEE"}
        assert await barrier(ws) == []
        assert FIRST + 24 * HOUR_MS in clock.pending()  # and waits for the next one
