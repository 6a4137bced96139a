"""Start-up reconciliation: what the store believes against what the exchange says.

The exchange is the truth about positions and orders. Each difference is a Mismatch with a
kind, and each kind has one documented policy:

- `unknown_position`: the exchange holds a position the store does not know (opened by hand,
  or the store was lost). Policy `halt` (default): no new entries until an operator acts;
  `adopt`: track it, with a protective stop at the hard-loss distance.
- `closed_while_down`: the store has an open position, the exchange is flat (its stop fired,
  or it was closed by hand). Always: close it in the store, as `stop_loss` at the stop's fill
  when the stop's query shows one, else as `closed_while_down` at the best price known (never
  at 0).
- `size_mismatch`: both hold the position, sizes differ (fills while down). Always: adopt the
  exchange's size, since exits must match what is really held, and resize the stop to it.
- `direction_mismatch`: the two hold the symbol in opposite directions. Always halt: nothing
  safe can be inferred.
- `unprotected`: an open position has no working protective stop. Always: place it again
  before anything else.
- `in_flight`: an order whose outcome was unknown at shutdown. Always: query it by client id
  before anything else, never resend blind.
- `orphan_order`: a working order with our client-id prefix that no open position owns.
  Always: cancel it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from slt.domain.position import Position
from slt.domain.values import ExchangePosition

CLIENT_ID_PREFIX = "slt"


class MismatchKind(StrEnum):
    UNKNOWN_POSITION = "unknown_position"
    CLOSED_WHILE_DOWN = "closed_while_down"
    SIZE_MISMATCH = "size_mismatch"
    DIRECTION_MISMATCH = "direction_mismatch"
    UNPROTECTED = "unprotected"
    IN_FLIGHT = "in_flight"
    ORPHAN_ORDER = "orphan_order"


# Kinds that stop new entries under the default policy.
HALTING = frozenset({MismatchKind.UNKNOWN_POSITION, MismatchKind.DIRECTION_MISMATCH})


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """An order the exchange reports as working (open orders and open algo orders)."""

    client_id: str
    symbol: str
    reduce_only: bool
    conditional: bool


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: MismatchKind
    symbol: str
    position_id: int | None
    detail: str
    exchange_qty: Decimal = Decimal(0)  # signed, as the exchange reports it
    client_id: str = ""


def stop_client_id(position_id: int, attempt: int = 1) -> str:
    """Protective stops are numbered: a stop placed again after a restart needs a new id."""
    return f"{CLIENT_ID_PREFIX}{position_id}-s{attempt}"


def reconcile(
    local: Sequence[Position],
    exchange: Iterable[ExchangePosition],
    working: Iterable[WorkingOrder],
) -> list[Mismatch]:
    """Every difference, in a deterministic order (by symbol, then kind)."""
    held = {p.symbol: p for p in exchange if p.qty != 0}
    orders = list(working)
    mismatches: list[Mismatch] = []
    owned: set[str] = set()
    for p in local:
        mine = [o for o in orders if _owned_by(o, p)]
        owned.update(o.client_id for o in mine)
        if p.status in ("entry_in_flight", "exit_in_flight", "pending_open", "closing"):
            held.pop(p.symbol, None)  # whatever is held there is this position's, in some state
            mismatches.append(
                Mismatch(MismatchKind.IN_FLIGHT, p.symbol, p.id, f"position in {p.status}")
            )
            continue
        there = held.pop(p.symbol, None)
        if there is None:
            mismatches.append(
                Mismatch(MismatchKind.CLOSED_WHILE_DOWN, p.symbol, p.id, "exchange is flat")
            )
            continue
        signed = p.direction.sign * (p.qty - p.exit_qty)
        if (there.qty > 0) != (signed > 0):
            mismatches.append(
                Mismatch(
                    MismatchKind.DIRECTION_MISMATCH,
                    p.symbol,
                    p.id,
                    f"store {signed}, exchange {there.qty}",
                    there.qty,
                )
            )
            continue
        if there.qty != signed:
            mismatches.append(
                Mismatch(
                    MismatchKind.SIZE_MISMATCH,
                    p.symbol,
                    p.id,
                    f"store {signed}, exchange {there.qty}",
                    there.qty,
                )
            )
        if p.stop and not any(o.conditional and o.reduce_only for o in mine):
            mismatches.append(
                Mismatch(MismatchKind.UNPROTECTED, p.symbol, p.id, "no working protective stop")
            )
    for symbol, there in held.items():
        mismatches.append(
            Mismatch(
                MismatchKind.UNKNOWN_POSITION,
                symbol,
                None,
                f"exchange holds {there.qty} at {there.entry_price}",
                there.qty,
            )
        )
    for o in orders:
        if o.client_id.startswith(CLIENT_ID_PREFIX) and o.client_id not in owned:
            mismatches.append(
                Mismatch(
                    MismatchKind.ORPHAN_ORDER,
                    o.symbol,
                    None,
                    "no open position owns it",
                    client_id=o.client_id,
                )
            )
    mismatches.sort(key=lambda m: (m.symbol, list(MismatchKind).index(m.kind)))
    return mismatches


def _owned_by(order: WorkingOrder, p: Position) -> bool:
    return order.client_id.startswith(f"{CLIENT_ID_PREFIX}{p.id}-")


def halts_trading(mismatches: Iterable[Mismatch], policy: str) -> bool:
    """True when the default `halt` policy applies to some mismatch; `adopt` halts only on
    what cannot be adopted."""
    kinds = {m.kind for m in mismatches}
    if policy == "adopt":
        return MismatchKind.DIRECTION_MISMATCH in kinds
    return bool(kinds & HALTING)
