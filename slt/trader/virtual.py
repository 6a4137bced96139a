"""Virtual (paper) positions for candidates that were not taken.

They follow the same exit rules as real positions: the price rules through the same ExitGuard,
checked on the 10 s virtual cycle against the latest quote (so a virtual trailing stop sees the
best price at 10 s resolution), and the reversal rule on each closed bar (`check_reversals`).
Each close labels its candidate's features with the outcome in R (profit per unit of risk,
after taker fees on both legs).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from slt.domain.exits import ExitDecision, ExitGuard, evaluate_exits
from slt.domain.position import Position
from slt.domain.strategy import Candidate
from slt.domain.values import Quote
from slt.ports.store import Store
from slt.position_controller import ExitSettings

QuoteLookup = Callable[[str], Quote | None]


def outcome_sample(
    candidate: Candidate,
    *,
    entry: float,
    exit_price: float,
    fee_rate: float,
    exit_reason: str,
    hold_ms: int,
    virtual: bool,
    not_taken: str = "",
) -> dict[str, Any]:
    s = candidate.direction.sign
    fees = fee_rate * (entry + exit_price)
    r = (s * (exit_price - entry) - fees) / candidate.stop_distance
    return {
        "symbol": candidate.symbol,
        "decision_ms": candidate.ts_ms,
        "direction": candidate.direction.value,
        "features": dict(candidate.features),
        "virtual": virtual,
        "not_taken": not_taken,
        "r_multiple": round(r, 6),
        "win": r > 0,
        "exit_reason": exit_reason,
        "hold_ms": hold_ms,
    }


class VirtualBook:
    def __init__(self, store: Store, settings: ExitSettings, fee_rate: float) -> None:
        self._store = store
        self._settings = settings
        self._fee_rate = fee_rate
        self._open: list[tuple[ExitGuard, Candidate, str]] = []
        self._next_id = -1  # negative ids never collide with real positions
        self.opened = 0
        self.closed = 0

    def __len__(self) -> int:
        return len(self._open)

    def open(self, candidate: Candidate, quote: Quote, reason: str, now_ms: int) -> None:
        s = candidate.direction.sign
        entry = quote.ask if s > 0 else quote.bid
        dist = candidate.stop_distance
        p = Position(
            id=self._next_id,
            symbol=candidate.symbol,
            direction=candidate.direction,
            planned_qty=Decimal(1),
            stop=Decimal(repr(entry - s * dist)),
            take_profit=Decimal(repr(entry + s * dist * candidate.reward_risk)),
            trail_distance=Decimal(repr(candidate.trail_distance)),
            trail_activation=Decimal(repr(dist)) * self._settings.trail_activation_r,
            max_hold_ms=self._settings.max_hold_ms,
            leverage=1,
            created_ms=now_ms,
            status="open",  # virtual: no orders, so no lifecycle to walk
            qty=Decimal(1),
            entry_price=Decimal(repr(entry)),
            opened_ms=now_ms,
            best_price=Decimal(repr(entry)),
        )
        self._next_id -= 1
        self._open.append((ExitGuard(p), candidate, reason))
        self.opened += 1

    def cycle(self, now_ms: int, latest: QuoteLookup) -> int:
        """Check every virtual position on the latest quotes; close those an exit rule ends."""
        closing = []
        for entry in self._open:
            guard = entry[0]
            q = latest(guard.symbol)
            # The time rule needs no fresh quote; the price rules do.
            if q is not None and (guard.check(q) or now_ms >= guard.deadline):
                guard.sync()
                decision = evaluate_exits(guard.position, q, None, now_ms)
                if decision is not None:
                    closing.append((entry, decision))
        return self._close(closing, now_ms)

    def check_reversals(self, symbol: str, momentum: float, now_ms: int, q: Quote) -> int:
        """The reversal rule, on a closed bar of `symbol`."""
        closing = []
        for entry in self._open:
            guard = entry[0]
            if guard.symbol == symbol:
                guard.sync()
                decision = evaluate_exits(guard.position, q, {"momentum": momentum}, now_ms)
                if decision is not None:
                    closing.append((entry, decision))
        return self._close(closing, now_ms)

    def _close(
        self, closing: list[tuple[tuple[ExitGuard, Candidate, str], ExitDecision]], now_ms: int
    ) -> int:
        if not closing:
            return 0
        done = {id(entry) for entry, _ in closing}
        self._open = [entry for entry in self._open if id(entry) not in done]
        samples = [
            outcome_sample(
                candidate,
                entry=float(guard.position.entry_price),
                exit_price=decision.price,
                fee_rate=self._fee_rate,
                exit_reason=decision.reason.value,
                hold_ms=now_ms - guard.position.opened_ms,
                virtual=True,
                not_taken=reason,
            )
            for (guard, candidate, reason), decision in closing
        ]
        self._store.add_samples(samples)
        self.closed += len(samples)
        return len(samples)
