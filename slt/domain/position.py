"""A position and its lifecycle.

The lifecycle is a python-statemachine chart bound to the Position (state stored in
`Position.status`), so a position loaded from the store resumes in its state. Transitions are
taken only when something happens to the position's orders (a fill, a rejection, an exit
request); the per-quote exit check never touches the machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from statemachine import State, StateChart

from slt.domain.values import Direction


class PositionLifecycle(StateChart):
    """pending_open -> open -> closing -> closed, with every failure path explicit.

    An order whose outcome is unknown (timeout, disconnect) parks the position in an
    `*_in_flight` state until a query resolves it; a rejected, expired or canceled exit returns
    the position to `open` so the exit is retried, never dropped. An entry fill may still arrive
    once an exit is on its way (an entry filled in pieces): the position grows in place.
    """

    allow_event_without_transition = False

    pending_open = State(initial=True)
    entry_in_flight = State()
    open = State()
    closing = State()
    exit_in_flight = State()
    closed = State(final=True)
    rejected = State(final=True)
    canceled = State(final=True)

    entry_filled = (
        pending_open.to(open)
        | entry_in_flight.to(open)
        | open.to.itself()
        | closing.to.itself()
        | exit_in_flight.to.itself()
    )
    entry_rejected = pending_open.to(rejected)
    entry_canceled = pending_open.to(canceled) | entry_in_flight.to(canceled)
    entry_unknown = pending_open.to(entry_in_flight)

    request_exit = open.to(closing)
    exit_rejected = closing.to(open) | exit_in_flight.to(open)
    exit_unknown = closing.to(exit_in_flight)
    exit_filled = closing.to(closed) | exit_in_flight.to(closed) | open.to(closed)


FINAL_STATUSES = frozenset({"closed", "rejected", "canceled"})


@dataclass(slots=True)
class Position:
    """One position of the bot, real or virtual, from entry order to close.

    Prices are Decimal where they came from (or go to) the exchange; `stop`, `take_profit` and
    `trail_distance` are the exit plan in price units.
    """

    id: int
    symbol: str
    direction: Direction
    planned_qty: Decimal
    stop: Decimal
    take_profit: Decimal
    trail_distance: Decimal
    trail_activation: Decimal
    max_hold_ms: int
    leverage: int
    created_ms: int
    hard_loss_fraction: Decimal = Decimal(0)
    status: str = "pending_open"
    qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    opened_ms: int = 0
    best_price: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    exit_qty: Decimal = Decimal(0)
    exit_value: Decimal = Decimal(0)
    exit_reason: str = ""
    closed_ms: int = 0
    exit_attempts: int = 0
    # The one exit order in flight, saved in the same transaction as `closing`.
    exit_client_id: str = ""
    exit_failures: int = 0  # consecutive failed exit attempts, for the backoff
    next_exit_ms: int = 0  # no exit is resent before this instant (backoff, Retry-After, ban)
    funding: Decimal = Decimal(0)  # funding fees received (+) or paid (-) while open
    _machine: PositionLifecycle | None = field(default=None, repr=False, compare=False)

    @property
    def machine(self) -> PositionLifecycle:
        # Built on first use: creating a chart costs ~0.3 ms, and most positions loaded for
        # reports never transition.
        if self._machine is None:
            self._machine = PositionLifecycle(model=self, state_field="status")
        return self._machine

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def margin(self) -> Decimal:
        return self.qty * self.entry_price / self.leverage if self.leverage else Decimal(0)

    @property
    def exit_price(self) -> Decimal:
        return self.exit_value / self.exit_qty if self.exit_qty else Decimal(0)

    def apply_entry_fill(self, qty: Decimal, price: Decimal, fee: Decimal, ts_ms: int) -> None:
        """Add an entry execution; the first one opens the position."""
        total = self.qty + qty
        self.entry_price = (self.entry_price * self.qty + price * qty) / total
        self.qty = total
        self.fees += fee
        if not self.opened_ms:
            self.opened_ms = ts_ms
            self.best_price = price
        self.machine.entry_filled()

    def apply_exit_fill(
        self, qty: Decimal, price: Decimal, fee: Decimal, realized: Decimal, ts_ms: int
    ) -> bool:
        """Add an exit execution; True when it flattened the position (now closed)."""
        self.exit_qty += qty
        self.exit_value += price * qty
        self.fees += fee
        self.realized_pnl += realized
        if self.exit_qty < self.qty:
            return False
        self.closed_ms = ts_ms
        self.machine.exit_filled()
        return True

    @property
    def remaining(self) -> Decimal:
        """What the exchange should still hold for this position."""
        return self.qty - self.exit_qty

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees + self.funding

    def to_record(self) -> dict[str, Any]:
        """The persisted fields (shallow: every field is an immutable value)."""
        record = {name: getattr(self, name) for name in _RECORD_FIELDS}
        record["direction"] = self.direction.value
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Position:
        # A field added after the record was saved comes back as None: it takes its default.
        fields = {
            k: v for k, v in record.items() if k in cls.__dataclass_fields__ and v is not None
        }
        fields["direction"] = Direction(fields["direction"])
        return cls(**fields)


_RECORD_FIELDS = tuple(f.name for f in fields(Position) if not f.name.startswith("_"))
