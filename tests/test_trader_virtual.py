"""Virtual positions: same exit rules, labelled outcomes, and nothing lost across a restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from slt.adapters.sqlite_store import SqliteStore
from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.samples import OUTCOME, VIRTUAL_OPEN, Decision, labelled
from slt.application.position_controller import ExitSettings
from slt.application.trader.virtual import VirtualBook
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Quote

FEE = 0.0005
SETTINGS = ExitSettings(max_hold_ms=3_600_000, trail_activation_r=Decimal(1))


def decision(symbol: str, direction: Direction, ts: int = 1_000) -> Decision:
    features = tuple((name, float(i)) for i, name in enumerate(FEATURE_NAMES))
    c = Candidate(symbol, direction, ts, 100.0, 2.0, 2.0, 0.0, features, "breakout")
    return Decision(c, ts, 0.1, 3, "")


def quote(symbol: str, ts: int, bid: float, ask: float | None = None) -> Quote:
    return Quote(symbol, ts, bid, 1.0, ask if ask is not None else bid + 0.1, 1.0)


def outcomes(store: SqliteStore) -> list[dict]:
    return [s for s in store.samples() if s.get("type") == OUTCOME]


def test_take_profit_and_stop_loss_are_labelled_in_r_after_fees() -> None:
    store = SqliteStore(":memory:")
    book = VirtualBook(store, SETTINGS, FEE)
    long, short = decision("AAA", Direction.LONG), decision("BBB", Direction.SHORT)
    book.open(long, quote("AAA", 1_000, 99.9, 100.0), "below_threshold", 1_000)
    book.open(short, quote("BBB", 1_000, 100.0, 100.1), "max_open_positions", 1_000)
    latest = {"AAA": quote("AAA", 5_000, 104.5), "BBB": quote("BBB", 5_000, 102.9, 103.0)}
    assert book.cycle(10_000, latest.get) == 2
    by_symbol = {o["symbol"]: o for o in outcomes(store)}
    tp, sl = by_symbol["AAA"], by_symbol["BBB"]
    # long entered at the ask 100.0, target 104.0: labelled at the target, not the bid 104.5
    # beyond it (price went through the target on its way there)
    assert tp["exit_reason"] == "take_profit" and tp["virtual"] and tp["win"]
    assert tp["r_multiple"] == pytest.approx((4.0 - FEE * (100.0 + 104.0)) / 2.0, abs=1e-6)
    assert tp["fees_r"] == pytest.approx(FEE * 204.0 / 2.0, abs=1e-6)
    # short entered at the bid 100.0, stop 102.0: labelled at the stop, not the ask 103.0
    assert sl["exit_reason"] == "stop_loss" and not sl["win"]
    assert sl["r_multiple"] == pytest.approx(-1.0 - FEE * 202.0 / 2.0, abs=1e-6)
    assert sl["not_taken"] == "max_open_positions" and sl["hold_ms"] == 9_000
    assert tp["features"]["ltf_rsi"] == 1.0 and tp["score"] == 0.1 and tp["model_version"] == 3
    rows = labelled(outcomes(store))
    assert [list(r.features) for r in rows] == [[float(i) for i in range(len(FEATURE_NAMES))]] * 2
    assert len(book) == 0 and book.closed == 2


def test_levels_are_worsened_by_the_slippage_like_a_triggered_exchange_order() -> None:
    store = SqliteStore(":memory:")
    book = VirtualBook(store, SETTINGS, FEE, slippage_bps=10.0)  # 0.1%
    book.open(decision("AAA", Direction.LONG), quote("AAA", 0, 99.9, 100.0), "x", 0)
    book.open(decision("BBB", Direction.SHORT), quote("BBB", 0, 100.0, 100.1), "x", 0)
    latest = {"AAA": quote("AAA", 5, 110.0), "BBB": quote("BBB", 5, 102.9, 103.0)}
    assert book.cycle(10, latest.get) == 2
    by_symbol = {o["symbol"]: o for o in outcomes(store)}
    tp, sl = by_symbol["AAA"], by_symbol["BBB"]
    # the long sells at its target 104 less 0.1%; the short buys at its stop 102 plus 0.1%
    assert tp["r_multiple"] + tp["fees_r"] == pytest.approx((104.0 * 0.999 - 100.0) / 2.0)
    assert sl["r_multiple"] + sl["fees_r"] == pytest.approx((100.0 - 102.0 * 1.001) / 2.0)


def test_positions_expire_after_the_maximum_holding_time() -> None:
    store = SqliteStore(":memory:")
    book = VirtualBook(store, SETTINGS, FEE)
    book.open(decision("AAA", Direction.LONG), quote("AAA", 0, 99.9, 100.0), "explore", 0)
    still = quote("AAA", 10, 100.5)
    assert book.cycle(3_599_999, lambda s: still) == 0
    assert book.cycle(3_600_000, lambda s: still) == 1
    assert outcomes(store)[0]["exit_reason"] == "max_holding"


def test_reversal_closes_a_losing_virtual_position_on_a_closed_bar() -> None:
    book = VirtualBook(SqliteStore(":memory:"), SETTINGS, FEE)
    book.open(decision("AAA", Direction.LONG), quote("AAA", 0, 99.9, 100.0), "explore", 0)
    assert book.check_reversals("AAA", +1.0, 60_000, quote("AAA", 60_000, 99.5)) == 0
    assert book.check_reversals("AAA", -1.0, 60_000, quote("AAA", 60_000, 99.5)) == 1


def test_open_virtual_positions_survive_a_restart_and_close_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStore(db)
    book = VirtualBook(store, SETTINGS, FEE)
    for symbol in ("BBB", "CCC", "AAA"):
        book.open(decision(symbol, Direction.LONG), quote(symbol, 0, 99.9, 100.0), "explore", 0)
    # AAA, the last opened (lowest id), closes before the restart.
    assert book.cycle(10_000, {"AAA": quote("AAA", 5_000, 104.5)}.get) == 1
    store.close()

    store = SqliteStore(db)
    restarted = VirtualBook(store, SETTINGS, FEE)
    assert restarted.restore(store.samples()) == 2
    assert len(restarted) == 2
    # The restored positions keep their exit plans: BBB's stop at 98.0, CCC's target at 104.0.
    latest = {"BBB": quote("BBB", 20_000, 97.0), "CCC": quote("CCC", 20_000, 104.2)}
    assert restarted.cycle(30_000, latest.get) == 2
    reasons = {o["symbol"]: o["exit_reason"] for o in outcomes(store)}
    assert reasons == {"AAA": "take_profit", "BBB": "stop_loss", "CCC": "take_profit"}
    # New ids continue below the restored ones: no two virtual positions share an id.
    restarted.open(decision("DDD", Direction.LONG), quote("DDD", 0, 99.9, 100.0), "explore", 0)
    ids = [s["virtual_id"] for s in store.samples() if s.get("type") == VIRTUAL_OPEN]
    assert len(ids) == len(set(ids)) == 4
    assert VirtualBook(store, SETTINGS, FEE).restore(store.samples()) == 1
