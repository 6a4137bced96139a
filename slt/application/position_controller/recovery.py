"""Start-up: resume the store's positions and apply the reconciliation policies.

See slt.domain.reconcile for the mismatch kinds and their policies; this module carries them
out against a PositionController and the exchange.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slt.application.position_controller.controller import PositionController
from slt.domain.exits import ExitReason
from slt.domain.position import Position
from slt.domain.reconcile import (
    Mismatch,
    MismatchKind,
    WorkingOrder,
    halts_trading,
    reconcile,
)
from slt.domain.values import Direction, ExchangePosition
from slt.ports.order_gateway import GatewayError, OrderGateway
from slt.ports.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    mismatches: tuple[Mismatch, ...]
    halted: bool  # new entries stay blocked until an operator acts

    def lines(self) -> list[str]:
        return [f"{m.kind} {m.symbol}: {m.detail}" for m in self.mismatches]


async def recover(
    controller: PositionController,
    gateway: OrderGateway,
    store: Store,
    working: list[WorkingOrder],
    policy: str,
    now_ms: int,
) -> RecoveryReport:
    """Resume the store's open positions, compare with the exchange, act on every mismatch."""
    local = [Position.from_record(r) for r in store.open_positions()]
    exchange = await gateway.positions()
    mismatches = reconcile(local, exchange, working)
    by_id = {p.id: p for p in local}
    held = {e.symbol: e for e in exchange}
    for p in local:
        controller.track(p)
    acted: set[int] = set()
    for m in mismatches:
        p = by_id.get(m.position_id) if m.position_id is not None else None
        log.warning("reconcile: %s %s: %s", m.kind, m.symbol, m.detail)
        try:
            await _act(controller, gateway, m, p, held.get(m.symbol), policy, now_ms)
        except GatewayError as exc:
            log.error("reconcile: could not act on %s %s: %s", m.kind, m.symbol, exc)
        if m.position_id is not None:
            acted.add(m.position_id)
    for p in local:
        if p.id not in acted and p.status == "open":
            controller.ensure_protected(p)  # its stop sized to what it holds
    return RecoveryReport(tuple(mismatches), halts_trading(mismatches, policy))


async def _act(
    controller: PositionController,
    gateway: OrderGateway,
    m: Mismatch,
    p: Position | None,
    held: ExchangePosition | None,
    policy: str,
    now_ms: int,
) -> None:
    if m.kind is MismatchKind.IN_FLIGHT and p is not None:
        await controller.resolve_in_flight(p)
    elif m.kind is MismatchKind.CLOSED_WHILE_DOWN and p is not None:
        await controller.settle_flat(p, ExitReason.CLOSED_WHILE_DOWN)
    elif m.kind is MismatchKind.SIZE_MISMATCH and p is not None:
        controller.adopt_size(p, abs(m.exchange_qty))
    elif m.kind is MismatchKind.UNPROTECTED and p is not None:
        await controller.protect(p)
    elif m.kind is MismatchKind.ORPHAN_ORDER:
        await gateway.cancel(m.symbol, m.client_id)
    elif m.kind is MismatchKind.UNKNOWN_POSITION and policy == "adopt" and held is not None:
        direction = Direction.LONG if held.qty > 0 else Direction.SHORT
        adopted = controller.adopt(m.symbol, direction, abs(held.qty), held.entry_price,
                                   held.leverage or 1, now_ms)
        await controller.protect(adopted)


__all__ = ["RecoveryReport", "WorkingOrder", "recover"]
