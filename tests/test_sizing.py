from __future__ import annotations

import dataclasses
from decimal import Decimal
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from slt.domain.filters import SymbolFilters
from slt.domain.sizing import (
    RejectCode,
    Rejection,
    RiskLimits,
    Sizing,
    entry_gate,
    size_entry,
)

BTC = SymbolFilters(
    symbol="BTCUSDT",
    tick_size=D("0.1"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    min_notional=D("5"),
)
LIMITS = RiskLimits()


def size(**overrides: object) -> Sizing | Rejection:
    kwargs: dict[str, object] = {
        "equity": D("1000"),
        "available": D("1000"),
        "entry": D("100"),
        "stop": D("98"),
        "filters": BTC,
        "limits": LIMITS,
        "taker_fee": D("0"),
    }
    kwargs.update(overrides)
    return size_entry(**kwargs)  # type: ignore[arg-type]


def sized(**overrides: object) -> Sizing:
    result = size(**overrides)
    assert isinstance(result, Sizing), result
    return result


# --- sizing, worked by hand ----------------------------------------------------------------------


def test_fees_count_towards_the_risk() -> None:
    # loss per unit = 2 + 0.0005 * (100 + 98) = 2.099; 10 / 2.099 = 4.7641...
    # 4.764 * 2.099 = 9.999636 <= 10 < 10.001735 = 4.765 * 2.099
    result = sized(taker_fee=D("0.0005"))
    assert result == Sizing(D("4.764"), D("476.4"), leverage=1, risk_amount=D("9.999636"))
    assert str(result.qty) == "4.764"


def test_short_stop_above_entry() -> None:
    # loss per unit = 2 + 0.0005 * (100 + 102) = 2.101; 10 / 2.101 = 4.7596...
    result = sized(stop=D("102"), taker_fee=D("0.0005"))
    assert (result.qty, result.risk_amount) == (D("4.759"), D("9.998659"))


def test_risk_budget_may_be_used_exactly() -> None:
    # 10 / 5 = 2 exactly: equality with the budget is allowed
    assert sized(stop=D("95")) == Sizing(D("2.000"), D("200.000"), 1, D("10.000"))


@pytest.mark.parametrize(
    ("step", "market_step", "market", "qty"),
    [
        (D("0.001"), None, True, D("3.333")),
        (D("0.01"), None, True, D("3.33")),
        (D("1"), None, True, D("3")),
        (D("0.001"), D("0.1"), True, D("3.3")),  # MARKET_LOT_SIZE wins for market entries
        (D("0.001"), D("0.1"), False, D("3.333")),
    ],
)
def test_qty_rounds_down_to_the_step(step: D, market_step: D | None, market: bool, qty: D) -> None:
    filters = dataclasses.replace(BTC, step_size=step, min_qty=step, market_step_size=market_step)
    # 10 / 3 = 3.333...
    assert sized(stop=D("97"), filters=filters, market=market).qty == qty


def test_leverage_cap() -> None:
    # 10 / 0.1 = 100 units = 10 000 USDT, but 1000 equity * 5 allows 5 000 only
    assert sized(stop=D("99.9")) == Sizing(D("50.000"), D("5000.000"), 5, D("5.0000"))


def test_available_margin_cap() -> None:
    # 200 available * 5 = 1 000 USDT of notional at most
    assert sized(stop=D("99.9"), available=D("200")) == Sizing(
        D("10.000"), D("1000.000"), 5, D("1.0000")
    )


@pytest.mark.parametrize(
    ("available", "leverage"),
    [(D("1000"), 1), (D("500"), 1), (D("499.99"), 2), (D("250"), 2), (D("249"), 3)],
)
def test_leverage_is_the_smallest_that_covers_the_notional(available: D, leverage: int) -> None:
    result = sized(stop=D("98"), available=available)  # 5 units, 500 USDT
    assert (result.notional, result.leverage) == (D("500.000"), leverage)


def test_max_leverage_is_a_limit_setting() -> None:
    limits = RiskLimits(max_leverage=2)
    assert sized(stop=D("99.9"), limits=limits).qty == D("20.000")


def test_max_position_notional_cap() -> None:
    limits = RiskLimits(max_position_notional=D("300"))
    assert sized(limits=limits) == Sizing(D("3.000"), D("300.000"), 1, D("6.000"))


def test_max_qty_cap() -> None:
    filters = dataclasses.replace(BTC, max_qty=D("1.5"))
    assert sized(filters=filters).qty == D("1.500")


def test_market_max_qty_cap() -> None:
    filters = dataclasses.replace(BTC, market_max_qty=D("1"))
    assert sized(filters=filters).qty == D("1.000")
    assert sized(filters=filters, market=False).qty == D("5.000")


# --- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"stop": D("100")}, RejectCode.ZERO_STOP_DISTANCE),
        ({"entry": D("0")}, RejectCode.INVALID_PRICE),
        ({"stop": D("-1")}, RejectCode.INVALID_PRICE),
        ({"equity": D("0")}, RejectCode.NO_EQUITY),
        ({"available": D("0")}, RejectCode.NO_MARGIN),
        ({"available": D("-5")}, RejectCode.NO_MARGIN),
        # budget 1, 2 000 per unit: 0.0005 rounds down to 0
        ({"equity": D("100"), "entry": D("50000"), "stop": D("48000")}, RejectCode.BELOW_MIN_QTY),
        # 0.005 is a whole number of steps but below a 0.01 minimum: not bumped up
        (
            {
                "equity": D("100"),
                "entry": D("50000"),
                "stop": D("49800"),
                "filters": dataclasses.replace(BTC, min_qty=D("0.01")),
            },
            RejectCode.BELOW_MIN_QTY,
        ),
        # 1 / 0.5 = 2 units at 1 USDT: 2 USDT < 5 minimum notional
        ({"equity": D("100"), "entry": D("1"), "stop": D("0.5")}, RejectCode.BELOW_MIN_NOTIONAL),
    ],
)
def test_rejections(overrides: dict[str, object], code: RejectCode) -> None:
    result = size(**overrides)
    assert isinstance(result, Rejection)
    assert result.code is code


def test_min_qty_and_min_notional_boundaries_pass() -> None:
    # budget 1 / 1000 per unit = 0.001 = min qty; notional 50
    assert sized(equity=D("100"), entry=D("50000"), stop=D("49000")).qty == D("0.001")
    # 1 / 0.2 = 5 units at 1 USDT = 5 USDT = min notional
    assert sized(equity=D("100"), entry=D("1"), stop=D("0.8")).notional == D("5")


def test_negative_fee_is_a_bug() -> None:
    with pytest.raises(ValueError, match="taker_fee"):
        size(taker_fee=D("-0.0001"))


def test_results_are_exact_beyond_28_digits() -> None:
    # With the default 28-digit context the products below would be rounded.
    equity = D("123456789.123456789123456789")
    entry = D("1.00000000000000000000000001")
    stop = D("0.90000000000000000000000003")
    result = sized(equity=equity, available=equity, entry=entry, stop=stop, taker_fee=D("0.0003"))
    loss = Fraction(entry - stop) + Fraction(D("0.0003")) * (Fraction(entry) + Fraction(stop))
    assert Fraction(result.risk_amount) == Fraction(result.qty) * loss
    assert Fraction(result.notional) == Fraction(result.qty) * Fraction(entry)


# --- property -------------------------------------------------------------------------------------

STEPS = [D("1"), D("0.1"), D("0.001"), D("0.00001")]
prices = st.decimals(min_value=D("0.0001"), max_value=D("100000"), places=6)


@given(
    equity=st.decimals(min_value=D("1"), max_value=D("10000000"), places=8),
    available_share=st.decimals(min_value=D("0"), max_value=D("1"), places=4),
    entry=prices,
    stop=prices,
    step=st.sampled_from(STEPS),
    risk=st.decimals(min_value=D("0.0001"), max_value=D("0.1"), places=4),
    max_leverage=st.integers(min_value=1, max_value=125),
    cap=st.none() | st.decimals(min_value=D("1"), max_value=D("1000000"), places=2),
    fee=st.decimals(min_value=D("0"), max_value=D("0.001"), places=5),
)
def test_sizing_never_exceeds_the_risk_budget(
    equity: D,
    available_share: D,
    entry: D,
    stop: D,
    step: D,
    risk: D,
    max_leverage: int,
    cap: D | None,
    fee: D,
) -> None:
    assume(entry != stop)
    available = equity * available_share
    limits = RiskLimits(risk_per_trade=risk, max_leverage=max_leverage, max_position_notional=cap)
    filters = dataclasses.replace(
        BTC, step_size=step, min_qty=step, max_qty=D(0), min_notional=D(0)
    )
    result = size(
        equity=equity, available=available, entry=entry, stop=stop,
        filters=filters, limits=limits, taker_fee=fee,
    )  # fmt: skip
    budget = Fraction(equity) * Fraction(risk)
    if isinstance(result, Rejection):
        assert result.code in (RejectCode.NO_MARGIN, RejectCode.BELOW_MIN_QTY)
        return
    qty = Fraction(result.qty)
    assert qty > 0
    assert (qty / Fraction(step)).denominator == 1
    assert qty * abs(Fraction(entry) - Fraction(stop)) <= budget
    assert Fraction(result.risk_amount) <= budget
    notional = Fraction(result.notional)
    assert notional <= Fraction(available) * max_leverage
    assert notional <= Fraction(equity) * max_leverage
    assert cap is None or notional <= Fraction(cap)
    assert 1 <= result.leverage <= max_leverage
    # margin at the chosen leverage plus the entry fee fit the available balance, and the
    # leverage is the smallest that achieves that
    room = Fraction(available) - notional * Fraction(fee)
    assert notional <= room * result.leverage
    assert result.leverage == 1 or notional > room * (result.leverage - 1)
    # and not needlessly small: one more step would break a limit
    more = qty + Fraction(step)
    e, s = Fraction(entry), Fraction(stop)
    loss = abs(e - s) + Fraction(fee) * (e + s)
    assert (
        more * loss > budget
        or more * e * (1 + Fraction(fee) * max_leverage)
        > min(Fraction(equity), Fraction(available)) * max_leverage
        or (cap is not None and more * e > Fraction(cap))
    )


# --- entry gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "open_symbols", "realized", "unrealized", "code"),
    [
        ("BTCUSDT", [], D("0"), D("0"), None),
        ("BTCUSDT", ["BTCUSDT"], D("0"), D("0"), RejectCode.SYMBOL_ALREADY_OPEN),
        ("ETHUSDT", ["BTCUSDT"], D("0"), D("0"), None),
        ("F", ["A", "B", "C", "D"], D("0"), D("0"), None),
        ("F", ["A", "B", "C", "D", "E"], D("0"), D("0"), RejectCode.MAX_OPEN_POSITIONS),
        # day start 10 000, limit 3 % = 300
        ("BTCUSDT", [], D("-299.99"), D("0"), None),
        ("BTCUSDT", [], D("-300"), D("0"), RejectCode.DAILY_LOSS_LIMIT),
        ("BTCUSDT", [], D("-200"), D("-100"), RejectCode.DAILY_LOSS_LIMIT),
        ("BTCUSDT", [], D("100"), D("-400"), RejectCode.DAILY_LOSS_LIMIT),
        ("BTCUSDT", [], D("-400"), D("100.01"), None),
        ("BTCUSDT", [], D("500"), D("0"), None),
    ],
)
def test_entry_gate(
    symbol: str, open_symbols: list[str], realized: D, unrealized: D, code: RejectCode | None
) -> None:
    result = entry_gate(
        symbol=symbol,
        open_symbols=open_symbols,
        day_start_equity=D("10000"),
        day_realized_pnl=realized,
        unrealized_pnl=unrealized,
        limits=LIMITS,
    )
    assert (result.code if result else None) is code


def test_entry_gate_follows_the_limits() -> None:
    limits = RiskLimits(max_open_positions=1, daily_loss_limit=D("0.5"))
    common = {"day_start_equity": D("1000"), "limits": limits}
    assert entry_gate(symbol="B", open_symbols={"A"}, day_realized_pnl=D("0"), **common)
    assert not entry_gate(symbol="B", open_symbols=(), day_realized_pnl=D("-499"), **common)
    assert entry_gate(symbol="B", open_symbols=(), day_realized_pnl=D("-500"), **common)


# --- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_per_trade", D("0")),
        ("risk_per_trade", D("-0.01")),
        ("risk_per_trade", D("1.5")),
        ("risk_per_trade", D("NaN")),
        ("risk_per_trade", 0.01),
        ("max_leverage", 0),
        ("max_leverage", 126),
        ("max_leverage", True),
        ("max_leverage", 2.0),
        ("max_open_positions", 0),
        ("daily_loss_limit", D("0")),
        ("daily_loss_limit", D("Infinity")),
        ("max_position_notional", D("0")),
        ("max_position_notional", D("-1")),
        ("max_position_notional", 100.0),
    ],
)
def test_limits_reject_nonsense_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RiskLimits(**{field: value})  # type: ignore[arg-type]


def test_limits_defaults() -> None:
    assert RiskLimits() == RiskLimits(D("0.01"), 5, 5, D("0.03"), None)
    assert RiskLimits(max_leverage=125, risk_per_trade=D("1")).max_leverage == 125


@given(
    equity=st.integers(100, 100_000).map(Decimal),
    available_pct=st.integers(1, 100),
    entry=st.integers(1, 100_000).map(Decimal),
    stop_pct=st.integers(1, 50),
    max_leverage=st.integers(1, 20),
)
def test_margin_and_entry_fee_always_fit_the_available_balance(
    equity: Decimal, available_pct: int, entry: Decimal, stop_pct: int, max_leverage: int
) -> None:
    available = equity * available_pct / 100
    fee = Decimal("0.0005")
    filters = SymbolFilters(
        symbol="X",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal(10**9),
        min_notional=Decimal(0),
    )
    result = size_entry(
        equity=equity,
        available=available,
        entry=entry,
        stop=entry * (1 - Decimal(stop_pct) / 1000),
        filters=filters,
        limits=RiskLimits(risk_per_trade=Decimal("0.05"), max_leverage=max_leverage),
        taker_fee=fee,
    )
    if isinstance(result, Sizing):
        assert result.leverage <= max_leverage
        assert result.notional / result.leverage + result.notional * fee <= available


def test_entry_gate_stops_entries_once_equity_fell_max_drawdown_from_its_peak() -> None:
    limits = RiskLimits(max_drawdown=D("0.15"))
    common = {"symbol": "B", "open_symbols": (), "day_start_equity": D("850"),
              "day_realized_pnl": D("0"), "peak_equity": D("1000"), "limits": limits}
    # the new entry's risk (1% of equity) counts: 858.59 - 8.5859 = 850.0041 stays above 850
    assert entry_gate(equity=D("858.59"), **common) is None
    rejection = entry_gate(equity=D("858.58"), **common)
    assert rejection is not None and rejection.code is RejectCode.MAX_DRAWDOWN
    assert entry_gate(equity=D("850"), **{**common, "peak_equity": None}) is None
