import json
from dataclasses import replace
from decimal import Decimal
from importlib import resources

import pytest

from slt.domain.filters import (
    FilterViolation,
    SymbolFilters,
    filters_from_exchange_info,
    inferred_filters,
)
from slt.domain.values import Side

BTC = SymbolFilters(
    symbol="BTCUSDT",
    tick_size=Decimal("0.10"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal(1000),
    min_notional=Decimal(100),
    min_price=Decimal("261.10"),
    max_price=Decimal(809484),
    market_step_size=Decimal("0.001"),
    market_min_qty=Decimal("0.001"),
    market_max_qty=Decimal(120),
)


@pytest.mark.parametrize(
    ("price", "up", "expected"),
    [("90815.57", False, "90815.5"), ("90815.57", True, "90815.6"), ("90815.5", True, "90815.5")],
)
def test_round_price_snaps_to_the_tick(price: str, up: bool, expected: str) -> None:
    assert BTC.round_price(Decimal(price), up=up) == Decimal(expected)


def test_round_qty_floors_to_the_step() -> None:
    assert BTC.round_qty(Decimal("0.0129")) == Decimal("0.012")
    assert BTC.round_qty(0.0129) == Decimal("0.012")


@pytest.mark.parametrize(
    ("qty", "price", "market", "reduce_only", "code"),
    [
        ("0", "90000", True, False, -4003),
        ("0.0015", "90000", True, False, -4023),
        ("121", "90000", True, False, -4005),  # MARKET_LOT_SIZE max is smaller
        ("0.001", "90000", True, False, -4164),  # 90 USDT < 100
        ("0.002", "90000.05", False, False, -4014),
        ("0.002", "200", False, False, -4013),
    ],
)
def test_check_rejects_with_binance_codes(qty, price, market, reduce_only, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FilterViolation) as info:
        BTC.check(Decimal(qty), Decimal(price), market=market, reduce_only=reduce_only)
    assert info.value.code == code


def test_reduce_only_is_exempt_from_min_notional_and_limit_can_exceed_market_max() -> None:
    BTC.check(Decimal("0.001"), Decimal(90000), market=True, reduce_only=True)
    BTC.check(Decimal(500), Decimal("90000.1"), market=False, reduce_only=False)


def test_bundled_exchange_info_parses_for_every_bundled_symbol() -> None:
    payload = json.loads((resources.files("slt") / "data" / "exchange_info.json").read_bytes())
    filters = filters_from_exchange_info(payload)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"):
        f = filters[symbol]
        assert f.tick_size > 0 and f.step_size > 0 and f.min_notional > 0


def test_exchange_info_without_lot_size_is_a_clear_error() -> None:
    payload = {"symbols": [{"symbol": "X", "status": "TRADING", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.1", "minPrice": "0", "maxPrice": "0"}]}]}
    with pytest.raises(ValueError, match="X lacks filter 'LOT_SIZE'"):
        filters_from_exchange_info(payload)


@pytest.mark.parametrize(("price", "step"), [(90815.5, "0.00001"), (0.1234, "1"), (3.21, "0.1")])
def test_inferred_filters_make_one_step_worth_under_a_dollar(price: float, step: str) -> None:
    f = inferred_filters("NEWUSDT", 3, price)
    assert f.step_size == Decimal(step)
    assert f.tick_size == Decimal("0.001")
    assert Decimal("0.1") <= f.step_size * Decimal(repr(price)) <= 1


BANDED = replace(BTC, percent_up=Decimal("1.15"), percent_down=Decimal("0.85"))


@pytest.mark.parametrize(
    ("side", "price", "market", "code"),
    [
        (Side.BUY, "115000.1", False, -4016),  # above mark x 1.15
        (Side.SELL, "84999.9", False, -4024),  # below mark x 0.85
        (Side.BUY, "115000.1", True, -4131),  # a market buy would take an ask outside the band
        (Side.SELL, "84999.9", True, -4131),
    ],
)
def test_percent_price_refuses_outside_the_band(
    side: Side, price: str, market: bool, code: int
) -> None:
    with pytest.raises(FilterViolation) as refused:
        BANDED.check_percent_price(side, Decimal(price), Decimal(100_000), market=market)
    assert refused.value.code == code


def test_percent_price_bounds_only_the_side_it_limits() -> None:
    mark = Decimal(100_000)
    BANDED.check_percent_price(Side.BUY, Decimal(115_000), mark)  # the bound itself passes
    BANDED.check_percent_price(Side.BUY, Decimal(1_000), mark)  # a low bid is fine
    BANDED.check_percent_price(Side.SELL, Decimal(85_000), mark)
    BANDED.check_percent_price(Side.SELL, Decimal(900_000), mark)  # a high ask is fine
    BTC.check_percent_price(Side.BUY, Decimal(900_000), mark)  # no PERCENT_PRICE filter
    BANDED.check_percent_price(Side.BUY, Decimal(900_000), Decimal(0))  # no mark yet


def test_percent_price_is_read_from_exchange_info() -> None:
    raw = json.loads((resources.files("slt") / "data" / "exchange_info.json").read_text())
    btc = filters_from_exchange_info(raw)["BTCUSDT"]
    assert (btc.percent_up, btc.percent_down) == (Decimal("1.1500"), Decimal("0.8500"))
