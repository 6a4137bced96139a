from decimal import Decimal

import pytest
from statemachine.exceptions import TransitionNotAllowed

from slt.domain.position import Position, PositionLifecycle
from slt.domain.values import Direction

from factories import open_position


def pending() -> Position:
    p = open_position()
    p.status = "pending_open"
    p.qty = Decimal(0)
    p.entry_price = Decimal(0)
    p.opened_ms = 0
    return p


@pytest.mark.parametrize(
    ("start", "events", "end"),
    [
        ("pending_open", ["entry_filled"], "open"),
        ("pending_open", ["entry_rejected"], "rejected"),
        ("pending_open", ["entry_canceled"], "canceled"),
        ("pending_open", ["entry_unknown", "entry_filled"], "open"),
        ("pending_open", ["entry_unknown", "entry_canceled"], "canceled"),
        ("open", ["entry_filled"], "open"),  # a further partial fill of the entry
        ("open", ["request_exit", "exit_filled"], "closed"),
        ("open", ["request_exit", "exit_rejected"], "open"),  # retried, never dropped
        ("open", ["request_exit", "exit_unknown", "exit_filled"], "closed"),
        ("open", ["request_exit", "exit_unknown", "exit_rejected"], "open"),
        ("open", ["exit_filled"], "closed"),  # the exchange-side stop executed
        ("open", ["request_exit", "entry_filled"], "closing"),  # the entry's last pieces
        ("open", ["request_exit", "exit_unknown", "entry_filled"], "exit_in_flight"),
    ],
)
def test_legal_paths(start: str, events: list[str], end: str) -> None:
    p = pending()
    p.status = start
    for event in events:
        getattr(p.machine, event)()
    assert p.status == end


@pytest.mark.parametrize(
    ("start", "event"),
    [
        ("pending_open", "request_exit"),
        ("pending_open", "exit_filled"),
        ("open", "entry_rejected"),
        ("open", "exit_rejected"),
        ("closing", "request_exit"),
        ("closed", "request_exit"),
        ("closed", "entry_filled"),
        ("rejected", "entry_filled"),
        ("canceled", "entry_filled"),
        ("entry_in_flight", "request_exit"),
        ("exit_in_flight", "request_exit"),
    ],
)
def test_illegal_transitions_raise(start: str, event: str) -> None:
    p = pending()
    p.status = start
    with pytest.raises(TransitionNotAllowed):
        getattr(p.machine, event)()
    assert p.status == start


def test_partial_entry_fills_average_the_price_and_open_on_the_first() -> None:
    p = pending()
    p.apply_entry_fill(Decimal("1"), Decimal("100"), Decimal("0.05"), 10)
    assert p.status == "open" and p.opened_ms == 10
    p.apply_entry_fill(Decimal("3"), Decimal("104"), Decimal("0.156"), 11)
    assert p.qty == Decimal(4)
    assert p.entry_price == Decimal(103)
    assert p.opened_ms == 10
    assert p.fees == Decimal("0.206")


def test_partial_exit_fills_close_only_when_flat() -> None:
    p = open_position(Direction.SHORT, entry="100", qty="2")
    p.machine.request_exit()
    assert not p.apply_exit_fill(Decimal(1), Decimal(90), Decimal("0.045"), Decimal(10), 5)
    assert p.status == "closing"
    assert p.apply_exit_fill(Decimal(1), Decimal(92), Decimal("0.046"), Decimal(8), 6)
    assert p.status == "closed" and p.closed_ms == 6
    assert p.exit_price == Decimal(91)
    assert p.net_pnl == Decimal(18) - Decimal("0.091")


def test_record_round_trip_resumes_the_machine_in_its_state() -> None:
    p = open_position()
    p.machine.request_exit()
    again = Position.from_record(p.to_record())
    assert again.status == "closing" and again.direction is Direction.LONG
    again.machine.exit_rejected()
    assert again.status == "open"


def test_transition_table_documents_every_state() -> None:
    table = f"{PositionLifecycle():md}"
    for state in ("Pending open", "Entry in flight", "Exit in flight", "Closing", "Closed"):
        assert state in table
