"""The simulated exchange's realism: where stops fill, funding every 8 h, liquidation.

Money values are worked out by hand in the comments, in exact decimals.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from slt.adapters.fake_exchange import FakeExchange
from slt.config import ConfigError, load_settings
from slt.domain.orders import Fill, OrderRequest, OrderStatus, OrderType
from slt.domain.realism import Realism, RecordedFunding
from slt.domain.values import Quote, Side
from tests.test_fake_exchange import BTC, BTC_FILTERS, ManualClock, run

H8 = 8 * 3_600_000
BAR = 300_000  # 5m


def exchange(realism: Realism | None = None) -> tuple[FakeExchange, list[Fill]]:
    ex = FakeExchange({BTC: BTC_FILTERS}, ManualClock(0), wallet=D(10_000), realism=realism)
    fills: list[Fill] = []
    ex.add_fill_listener(fills.append)
    return ex, fills


def at(ex: FakeExchange, ts: int, bid: float, ask: float) -> None:
    ex.on_quote(Quote(BTC, ts, bid, 1.0, ask, 1.0))


def long_with_stop(ex: FakeExchange, stop: str) -> None:
    at(ex, BAR, 100.0, 100.1)
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(5))))
    run(ex.place(OrderRequest("s", BTC, Side.SELL, OrderType.STOP_MARKET, D(5),
                              stop_price=D(stop), reduce_only=True)))


def test_inside_a_kline_bar_a_stop_fills_at_its_trigger_less_slippage() -> None:
    ex, fills = exchange(Realism(slippage_bps=D(10)))
    ex.set_bar_intervals({BTC: BAR})
    long_with_stop(ex, "99.0")
    at(ex, BAR + BAR // 3, 97.0, 97.1)  # the bar's low, reached through 99.0
    # 99.0 * (1 - 0.001) = 98.901, rounded down to the 0.1 tick: 98.9 (not the low, 97.0)
    assert fills[-1].client_id == "s" and fills[-1].price == D("98.9")


def test_a_gap_at_a_bar_open_fills_at_the_open() -> None:
    ex, fills = exchange()
    ex.set_bar_intervals({BTC: BAR})
    long_with_stop(ex, "99.0")
    at(ex, 2 * BAR, 96.0, 96.1)  # the next bar opens below the stop: nothing traded between
    assert fills[-1].price == D("96.0")


def test_recorded_quotes_fill_a_stop_at_the_first_quote_beyond_it() -> None:
    ex, fills = exchange()  # no bar intervals: every quote is a real one
    long_with_stop(ex, "99.0")
    at(ex, BAR + 7, 98.7, 98.8)
    assert fills[-1].price == D("98.7")


def exit_at(ex: FakeExchange, level: str | None) -> Fill:
    reacts_to = None if level is None else D(level)
    run(ex.place(OrderRequest("x", BTC, Side.SELL, OrderType.MARKET, D(5), reduce_only=True,
                              reacts_to=reacts_to)))
    return ex.fills[-1]


def test_a_take_profit_exit_inside_a_kline_bar_fills_at_its_target_not_the_high() -> None:
    ex, _ = exchange(Realism(slippage_bps=D(10)))
    ex.set_bar_intervals({BTC: BAR})
    at(ex, BAR, 100.0, 100.1)
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(5))))
    at(ex, BAR + 2 * BAR // 3, 104.0, 104.1)  # the bar's high, reached through the target 102
    # 102 * (1 - 0.001) = 101.898, rounded down to the tick: 101.8 (not the high's bid 104.0)
    assert exit_at(ex, "102").price == D("101.8")


def test_a_price_rule_exit_at_a_bar_open_or_on_recorded_quotes_fills_at_the_quote() -> None:
    ex, _ = exchange(Realism(slippage_bps=D(10)))
    ex.set_bar_intervals({BTC: BAR})
    at(ex, BAR, 100.0, 100.1)
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(5))))
    at(ex, 2 * BAR, 104.0, 104.1)  # the next bar opens beyond the target: a gap
    assert exit_at(ex, "102").price == D("103.8")  # 104.0 less 0.1%, rounded down
    recorded, _ = exchange(Realism(slippage_bps=D(10)))  # bookTicker: the quote is the fill
    at(recorded, BAR, 100.0, 100.1)
    run(recorded.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(5))))
    at(recorded, BAR + 7, 102.3, 102.4)
    assert exit_at(recorded, "102").price == D("102.3")


def test_funding_every_8_hours_at_the_recorded_rate_else_the_default() -> None:
    rates = RecordedFunding({BTC: [(H8, D("0.0001")), (2 * H8, D("-0.0002"))]}, D("0.00005"))
    ex, _ = exchange(Realism(funding=rates))
    at(ex, H8 - 60_000, 100.0, 100.0)
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(10))))
    wallet = run(ex.balance()).wallet
    at(ex, H8 + 1000, 110.0, 110.0)  # a long pays 10 * 110 * 0.0001 = 0.11
    assert run(ex.balance()).wallet == wallet - D("0.11")
    at(ex, 2 * H8, 100.0, 100.0)  # a negative rate pays the long: 10 * 100 * 0.0002 = 0.2
    assert run(ex.balance()).wallet == wallet - D("0.11") + D("0.2")
    at(ex, 4 * H8, 100.0, 100.0)  # 3 H8 (no record within 8 h: default) and 4 H8, each 0.05
    assert ex.funding_paid == D("0.11") - D("0.2") + D("0.1")


def test_no_funding_without_a_position_or_a_rate() -> None:
    ex, _ = exchange()
    at(ex, 1, 100.0, 100.0)
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(10))))
    at(ex, 3 * H8, 100.0, 100.0)
    assert ex.funding_paid == 0


def test_a_position_past_its_liquidation_price_is_closed_by_the_exchange() -> None:
    ex, fills = exchange(Realism(maintenance_margin_rate=D("0.004")))
    at(ex, 1, 100.0, 100.0)
    run(ex.set_leverage(BTC, 10))
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(10))))
    run(ex.place(OrderRequest("s", BTC, Side.SELL, OrderType.STOP_MARKET, D(10),
                              stop_price=D("50"), reduce_only=True)))
    # liquidation price: 100 * (1 - 1/10 + 0.004) = 90.4
    at(ex, 2, 90.5, 90.6)
    assert ex.liquidations == 0
    at(ex, 3, 90.4, 90.5)
    assert ex.liquidations == 1
    assert fills[-1].client_id == "autoclose-1" and fills[-1].price == D("90.4")
    assert run(ex.positions()) == []
    assert run(ex.query(BTC, "s")).status is OrderStatus.CANCELED


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("stop_slippage_bps = -1", "simulation.stop_slippage_bps"),
        ("maintenance_margin_rate = 0.7", "simulation.maintenance_margin_rate"),
        ("funding_rate = 0.5", "simulation.funding_rate"),
    ],
)
def test_bad_realism_settings_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    config = tmp_path / "slt.toml"
    config.write_text(f"[simulation]\n{text}\n")
    with pytest.raises(ConfigError, match=key):
        load_settings(config)


def test_the_controller_closes_a_liquidated_position_with_reason_liquidation() -> None:
    from test_position_controller import Rig

    async def main() -> None:
        rig = Rig()
        p = await rig.open(stop_distance=5_000.0)  # stop far below the liquidation price
        # default leverage 10: 10000.1 * (1 - 0.1 + 0.004) = 9040.0904
        await rig.tick(9_040.0, 9_040.1)
        assert p.status == "closed" and p.exit_reason == "liquidation"
        [trade] = rig.store.trades()
        assert trade.exit_reason == "liquidation" and trade.exit_price == D("9040.0")
        assert await rig.exchange.positions() == [] and rig.controller.positions == {}

    run(main())
