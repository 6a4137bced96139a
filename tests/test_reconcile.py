from decimal import Decimal

from slt.domain.reconcile import (
    MismatchKind,
    WorkingOrder,
    halts_trading,
    reconcile,
    stop_client_id,
)
from slt.domain.values import Direction, ExchangePosition

from factories import open_position


def held(symbol: str, qty: str) -> ExchangePosition:
    return ExchangePosition(symbol, Decimal(qty), Decimal(100), Decimal(0), 5)


def stop_of(p) -> WorkingOrder:  # type: ignore[no-untyped-def]
    return WorkingOrder(stop_client_id(p.id), p.symbol, True, True)


def kinds(mismatches) -> list[tuple[str, MismatchKind]]:  # type: ignore[no-untyped-def]
    return [(m.symbol, m.kind) for m in mismatches]


def test_agreeing_states_have_no_mismatch() -> None:
    p = open_position(qty="2")
    assert reconcile([p], [held("BTCUSDT", "2")], [stop_of(p)]) == []


def test_short_sizes_compare_signed() -> None:
    p = open_position(Direction.SHORT, qty="2", stop="105", take_profit="90")
    assert reconcile([p], [held("BTCUSDT", "-2")], [stop_of(p)]) == []


def test_every_kind_is_found() -> None:
    closed = open_position(symbol="AAAUSDT")
    closed.id = 1
    resized = open_position(symbol="BBBUSDT", qty="2")
    resized.id = 2
    flipped = open_position(symbol="CCCUSDT")
    flipped.id = 3
    bare = open_position(symbol="DDDUSDT", qty="2")
    bare.id = 4
    flying = open_position(symbol="EEEUSDT")
    flying.id = 5
    flying.status = "exit_in_flight"
    mismatches = reconcile(
        [closed, resized, flipped, bare, flying],
        [
            held("BBBUSDT", "1.5"),
            held("CCCUSDT", "-2"),
            held("DDDUSDT", "2"),
            held("EEEUSDT", "2"),
            held("ZZZUSDT", "3"),
        ],
        [
            stop_of(closed),
            stop_of(resized),
            stop_of(flipped),
            WorkingOrder("slt99-s1", "QQQUSDT", True, True),
            WorkingOrder("manual-1", "QQQUSDT", False, False),
        ],
    )
    assert kinds(mismatches) == [
        ("AAAUSDT", MismatchKind.CLOSED_WHILE_DOWN),
        ("BBBUSDT", MismatchKind.SIZE_MISMATCH),
        ("CCCUSDT", MismatchKind.DIRECTION_MISMATCH),
        ("DDDUSDT", MismatchKind.UNPROTECTED),
        ("EEEUSDT", MismatchKind.IN_FLIGHT),
        ("QQQUSDT", MismatchKind.ORPHAN_ORDER),
        ("ZZZUSDT", MismatchKind.UNKNOWN_POSITION),
    ]
    resized_m = next(m for m in mismatches if m.kind is MismatchKind.SIZE_MISMATCH)
    assert resized_m.exchange_qty == Decimal("1.5")
    assert halts_trading(mismatches, "halt") and halts_trading(mismatches, "adopt")


def test_unknown_position_halts_by_default_but_can_be_adopted() -> None:
    mismatches = reconcile([], [held("BTCUSDT", "1")], [])
    assert kinds(mismatches) == [("BTCUSDT", MismatchKind.UNKNOWN_POSITION)]
    assert halts_trading(mismatches, "halt")
    assert not halts_trading(mismatches, "adopt")
    benign = reconcile([open_position()], [], [])
    assert not halts_trading(benign, "halt")
