"""Account settings and history endpoints: brackets, margin and position modes, symbol
configuration, commission, userTrades and income."""

from __future__ import annotations

from decimal import Decimal

from slt.domain.values import DAY_MS
from slt.emulator.history import IncomeType

from emu_helpers import BTC, START_MS, ManualClock, async_test, quote, running

ORDER = "/fapi/v1/order"


def market(side: str, qty: str, **extra: str) -> dict[str, str]:
    return {"symbol": BTC, "side": side, "type": "MARKET", "quantity": qty, **extra}


@async_test
async def test_a_fresh_account_dates_its_balance_from_its_creation() -> None:
    async with running() as (_, client):
        [usdt] = await client.ok("GET", "/fapi/v2/balance")
        account = await client.ok("GET", "/fapi/v3/account")
    assert usdt["updateTime"] == START_MS  # not 0, which clients read as "never valid"
    assert account["assets"][0]["updateTime"] == START_MS


@async_test
async def test_leverage_brackets_follow_the_symbols_and_the_leverage_cap() -> None:
    async with running() as (emu, client):
        every = await client.ok("GET", "/fapi/v1/leverageBracket")
        one = await client.ok("GET", "/fapi/v1/leverageBracket", symbol=BTC)
        status, _, refused = await client.signed("GET", "/fapi/v1/leverageBracket", symbol="NOPE")
    assert [b["symbol"] for b in every] == ["BTCUSDT", "ETHUSDT"]
    assert one["symbol"] == BTC
    assert one["brackets"][0]["initialLeverage"] == emu.config.max_leverage
    assert (status, refused["code"]) == (400, -1121)


@async_test
async def test_symbol_config_and_commission_show_the_accounts_settings() -> None:
    async with running() as (emu, client):
        await client.ok("POST", "/fapi/v1/leverage", symbol=BTC, leverage=7)
        configs = await client.ok("GET", "/fapi/v1/symbolConfig")
        fees = await client.ok("GET", "/fapi/v1/commissionRate", symbol=BTC)
    assert {c["symbol"]: c["leverage"] for c in configs} == {
        BTC: 7,
        "ETHUSDT": emu.config.default_leverage,
    }
    assert configs[0]["marginType"] == "CROSSED"
    assert Decimal(fees["makerCommissionRate"]) == emu.config.maker_fee
    assert Decimal(fees["takerCommissionRate"]) == emu.config.taker_fee


@async_test
async def test_margin_type_changes_on_an_idle_symbol_and_multi_assets_mode_stays_single() -> None:
    async with running() as (emu, client):
        same = await client.signed("POST", "/fapi/v1/marginType", symbol=BTC, marginType="CROSSED")
        changed = await client.ok("POST", "/fapi/v1/marginType", symbol=BTC, marginType="ISOLATED")
        [config] = await client.ok("GET", "/fapi/v1/symbolConfig", symbol=BTC)
        emu.push_quote(quote(50_000.0, 50_000.1))
        await client.ok("POST", ORDER, **market("BUY", "0.010"))
        held = await client.signed("POST", "/fapi/v1/marginType", symbol=BTC, marginType="CROSSED")
        mode = await client.ok("GET", "/fapi/v1/multiAssetsMargin")
        unchanged = await client.signed(
            "POST", "/fapi/v1/multiAssetsMargin", multiAssetsMargin="false"
        )
        multi = await client.signed("POST", "/fapi/v1/multiAssetsMargin", multiAssetsMargin="true")
    assert same[2]["code"] == -4046  # Binance's "No need to change margin type."
    assert changed == {"code": 200, "msg": "success"}
    assert config["marginType"] == "ISOLATED"
    assert held[2]["code"] == -4048  # not with a position open
    assert mode == {"multiAssetsMargin": False}
    assert unchanged[2]["code"] == -4171
    assert multi[2]["code"] == -1130


@async_test
async def test_position_mode_changes_only_on_an_idle_account() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        path = "/fapi/v1/positionSide/dual"
        same = await client.signed("POST", path, dualSidePosition="false")
        await client.ok("POST", ORDER, **market("BUY", "0.010"))
        held = await client.signed("POST", path, dualSidePosition="true")
        await client.ok("POST", ORDER, **market("SELL", "0.010", reduceOnly="true"))
        changed = await client.ok("POST", path, dualSidePosition="true")
        mode = await client.ok("GET", path)
        hedged = await client.signed("POST", ORDER, **market("BUY", "0.010"))
    assert same[2]["code"] == -4059
    assert held[2]["code"] == -4068
    assert changed == {"code": 200, "msg": "success"}
    assert mode == {"dualSidePosition": True}
    assert hedged[2]["code"] == -4061  # hedge mode is not emulated


@async_test
async def test_user_trades_and_income_book_every_fill() -> None:
    clock = ManualClock()
    async with running(clock=clock) as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        opened = await client.ok("POST", ORDER, **market("BUY", "0.010"))
        clock.advance(1_000)
        emu.push_quote(quote(50_100.0, 50_100.1, ts_ms=clock.now_ms()))
        closed = await client.ok("POST", ORDER, **market("SELL", "0.010", reduceOnly="true"))
        emu.venue.history.add_income(BTC, IncomeType.FUNDING_FEE, Decimal("-0.5"), clock.t)
        trades = await client.ok("GET", "/fapi/v1/userTrades", symbol=BTC)
        of_close = await client.ok(
            "GET", "/fapi/v1/userTrades", symbol=BTC, orderId=closed["orderId"]
        )
        from_second = await client.ok("GET", "/fapi/v1/userTrades", symbol=BTC, fromId=2)
        income = await client.ok("GET", "/fapi/v1/income")
        funding = await client.ok("GET", "/fapi/v1/income", incomeType="FUNDING_FEE")
        later = await client.ok("GET", "/fapi/v1/income", startTime=clock.t + 1)
        bonus = await client.ok("GET", "/fapi/v1/income", incomeType="WELCOME_BONUS")
        bad = await client.signed("GET", "/fapi/v1/income", incomeType="BONUS")
    assert [(t["orderId"], t["side"], t["buyer"]) for t in trades] == [
        (opened["orderId"], "BUY", True),
        (closed["orderId"], "SELL", False),
    ]
    assert trades[0]["price"] == "50000.1" and trades[1]["price"] == "50100.0"
    assert Decimal(trades[1]["realizedPnl"]) == Decimal("0.999")  # (50100 - 50000.1) x 0.01
    assert [t["id"] for t in of_close] == [trades[1]["id"]]
    assert [t["id"] for t in from_second] == [2]
    kinds = [(r["incomeType"], Decimal(r["income"])) for r in income]
    assert kinds == [
        ("COMMISSION", -Decimal(trades[0]["commission"])),
        ("REALIZED_PNL", Decimal("0.999")),
        ("COMMISSION", -Decimal(trades[1]["commission"])),
        ("FUNDING_FEE", Decimal("-0.5")),
    ]
    assert income[1]["tradeId"] == str(trades[1]["id"]) and income[3]["tradeId"] == ""
    assert [r["incomeType"] for r in funding] == ["FUNDING_FEE"]
    assert later == [] and bonus == []  # a valid type the emulator never books
    assert bad[2]["code"] == -1130


@async_test
async def test_history_defaults_to_the_last_seven_days() -> None:
    clock = ManualClock()
    async with running(clock=clock) as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        await client.ok("POST", ORDER, **market("BUY", "0.010"))
        clock.advance(8 * DAY_MS)
        assert await client.ok("GET", "/fapi/v1/userTrades", symbol=BTC) == []
        # The open position paid funding three times a day; the last 7 days (both ends
        # included) hold 22 of those 24 funding times, and not the opening commission.
        recent = await client.ok("GET", "/fapi/v1/income")
        assert {r["incomeType"] for r in recent} == {"FUNDING_FEE"} and len(recent) == 22
        old = await client.ok("GET", "/fapi/v1/userTrades", symbol=BTC, startTime=START_MS)
        assert len(old) == 1
