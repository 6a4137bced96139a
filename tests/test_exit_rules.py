from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slt.domain.exits import (
    ExitGuard,
    ExitReason,
    evaluate_exits,
    hard_loss_limit,
    max_holding,
    reversal,
    stop_loss,
    take_profit,
    trailing_stop,
)
from slt.domain.values import Direction

from factories import open_position, quote

LONG, SHORT = Direction.LONG, Direction.SHORT


@pytest.mark.parametrize(
    ("rule", "direction", "kwargs", "bid", "ask", "fires"),
    [
        # stop-loss: longs look at the bid, shorts at the ask
        (stop_loss, LONG, {"stop": "95"}, 95.0, 95.1, True),
        (stop_loss, LONG, {"stop": "95"}, 95.1, 94.0, False),  # ask below stop is irrelevant
        (stop_loss, SHORT, {"stop": "105", "take_profit": "90"}, 104.9, 105.0, True),
        (stop_loss, SHORT, {"stop": "105", "take_profit": "90"}, 106.0, 104.9, False),
        # take-profit
        (take_profit, LONG, {"take_profit": "110"}, 110.0, 110.1, True),
        (take_profit, LONG, {"take_profit": "110"}, 109.9, 110.5, False),
        (take_profit, SHORT, {"stop": "105", "take_profit": "90"}, 89.9, 90.0, True),
        (take_profit, SHORT, {"stop": "105", "take_profit": "90"}, 89.0, 90.1, False),
        # trailing: best 108, distance 3, activation 5 reached -> level 105
        (
            trailing_stop,
            LONG,
            {"trail_distance": "3", "trail_activation": "5", "best": "108"},
            105.0,
            105.1,
            True,
        ),
        (
            trailing_stop,
            LONG,
            {"trail_distance": "3", "trail_activation": "5", "best": "108"},
            105.1,
            105.2,
            False,
        ),
        # not yet activated: best only 104 < 100 + 5
        (
            trailing_stop,
            LONG,
            {"trail_distance": "3", "trail_activation": "5", "best": "104"},
            100.5,
            100.6,
            False,
        ),
        (
            trailing_stop,
            SHORT,
            {
                "stop": "110",
                "take_profit": "80",
                "trail_distance": "3",
                "trail_activation": "5",
                "best": "92",
            },
            94.9,
            95.0,
            True,
        ),
        (
            trailing_stop,
            SHORT,
            {
                "stop": "110",
                "take_profit": "80",
                "trail_distance": "3",
                "trail_activation": "5",
                "best": "92",
            },
            94.8,
            94.9,
            False,
        ),
        # hard loss: margin = 2*100/5 = 40, 50 % -> loss 20 -> 10 per unit -> level 90
        (hard_loss_limit, LONG, {"stop": "0", "hard_loss_fraction": "0.5"}, 90.0, 90.1, True),
        (hard_loss_limit, LONG, {"stop": "0", "hard_loss_fraction": "0.5"}, 90.1, 89.0, False),
        (
            hard_loss_limit,
            SHORT,
            {"stop": "0", "take_profit": "0", "hard_loss_fraction": "0.5"},
            109.0,
            110.0,
            True,
        ),
        (
            hard_loss_limit,
            SHORT,
            {"stop": "0", "take_profit": "0", "hard_loss_fraction": "0.5"},
            109.0,
            109.9,
            False,
        ),
    ],
)
def test_price_rules(rule, direction, kwargs, bid, ask, fires) -> None:  # type: ignore[no-untyped-def]
    p = open_position(direction, **kwargs)
    decision = rule(p, quote(bid, ask), None, 2_000)
    assert (decision is not None) is fires
    if decision is not None:
        assert decision.price == (bid if direction is LONG else ask)


def test_level_rules_name_the_level_price_went_through() -> None:
    # a quote far beyond each level: the decision keeps the quote and names the level
    p = open_position(LONG, stop="95", take_profit="110", trail_distance="3",
                      trail_activation="5", best="108")
    tp = take_profit(p, quote(115.0, 115.1), None, 2_000)
    assert tp is not None and tp.price == 115.0 and tp.level == 110.0
    sl = stop_loss(p, quote(90.0, 90.1), None, 2_000)
    assert sl is not None and sl.level == 95.0
    trail = trailing_stop(p, quote(101.0, 101.1), None, 2_000)
    assert trail is not None and trail.level == 105.0
    short = open_position(SHORT, stop="105", take_profit="90")
    assert stop_loss(short, quote(106.9, 107.0), None, 2_000).level == 105.0  # type: ignore[union-attr]
    assert max_holding(open_position(max_hold_ms=1), quote(1, 1.1), None, 9_999).level is None  # type: ignore[union-attr]


def test_max_holding_fires_at_the_deadline_not_before() -> None:
    p = open_position(max_hold_ms=60_000, opened_ms=1_000)
    assert max_holding(p, quote(100, 100.1), None, 60_999) is None
    decision = max_holding(p, quote(100, 100.1), None, 61_000)
    assert decision is not None and decision.reason is ExitReason.MAX_HOLDING


@pytest.mark.parametrize(
    ("direction", "bid", "ask", "momentum", "fires"),
    [
        (LONG, 99.0, 99.1, -0.5, True),  # under water and momentum down
        (LONG, 101.0, 101.1, -0.5, False),  # in profit: let the stop/trail handle it
        (LONG, 99.0, 99.1, 0.5, False),  # momentum still with the position
        (SHORT, 100.9, 101.0, 0.5, True),
        (SHORT, 100.9, 101.0, -0.5, False),
    ],
)
def test_reversal(direction, bid, ask, momentum, fires) -> None:  # type: ignore[no-untyped-def]
    p = open_position(direction, stop="0", take_profit="0")
    assert (reversal(p, quote(bid, ask), {"momentum": momentum}, 2_000) is not None) is fires
    assert reversal(p, quote(bid, ask), None, 2_000) is None


def test_most_protective_reason_wins_when_several_fire() -> None:
    p = open_position(stop="95", hard_loss_fraction="0.5", max_hold_ms=1)
    decision = evaluate_exits(p, quote(80.0, 80.1), None, 10_000)
    assert decision is not None and decision.reason is ExitReason.HARD_LOSS_LIMIT
    decision = evaluate_exits(p, quote(94.0, 94.1), None, 10_000)
    assert decision is not None and decision.reason is ExitReason.STOP_LOSS


def test_guard_tracks_best_price_and_syncs_it_back() -> None:
    p = open_position(trail_distance="3", trail_activation="5", stop="95", take_profit="0")
    guard = ExitGuard(p)
    assert not guard.check(quote(107.0, 107.1))
    assert not guard.check(quote(104.5, 104.6))  # 107 - 3 = 104 not reached
    assert guard.check(quote(104.0, 104.1))
    guard.sync()
    assert p.best_price == Decimal("107.0")
    decision = evaluate_exits(p, quote(104.0, 104.1), None, 2_000)
    assert decision is not None and decision.reason is ExitReason.TRAILING_STOP


prices = st.floats(min_value=50, max_value=150, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from([LONG, SHORT]),
    stop_off=st.integers(0, 30),
    tp_off=st.integers(0, 30),
    trail=st.integers(0, 10),
    act=st.integers(0, 10),
    hard=st.sampled_from(["0", "0.25", "0.5", "1"]),
    hold=st.sampled_from([0, 5_000]),
    path=st.lists(st.tuples(prices, st.integers(0, 20)), min_size=1, max_size=30),
)
def test_guard_agrees_with_the_rules(direction, stop_off, tp_off, trail, act, hard, hold, path):  # type: ignore[no-untyped-def]
    s = direction.sign
    p = open_position(
        direction,
        stop=str(100 - s * stop_off) if stop_off else "0",
        take_profit=str(100 + s * tp_off) if tp_off else "0",
        trail_distance=str(trail),
        trail_activation=str(act),
        hard_loss_fraction=hard,
        max_hold_ms=hold,
    )
    guard = ExitGuard(p)
    ts = 1_000
    for mid, spread_ticks in path:
        ts += 1_000
        q = quote(mid, round(mid + spread_ticks * 0.01, 2), ts)
        tripped = guard.check(q)
        guard.sync()
        decision = evaluate_exits(p, q, None, ts)
        assert tripped == (decision is not None), (q, decision)
        if tripped:
            break
