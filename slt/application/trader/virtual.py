"""Virtual (paper) positions for candidates that were not taken.

They follow the same exit rules as real positions: the price rules through the same
ExitGuard, checked on the 10 s virtual cycle against the latest quote (so a virtual trailing
stop sees the best price at 10 s resolution), the time limit (`max_holding`) on the same cycle,
and the reversal rule on each closed bar (`check_reversals`; not for families without
reversal exits). The exit plan is the one a real entry at the same quote would get: stop,
target and trail distances from the candidate, trail activation and holding limit from the
exit settings. A virtual position has no margin, so the hard loss limit (a fraction of margin)
does not apply to it.

Fills: an exit by a price level (stop, trailing stop, target) is labelled at the level worsened
by the slippage (`slt.domain.realism.trigger_fill`), as the simulated exchange fills a real
position's exit on a kline's path, never at the quote the 10 s cycle sees: price went through
the level on its way there, and at a kline's extreme that quote lies far beyond it (labelling
targets there made the 1R families' take-profits worth +1.28 R on the bundled data and earned
`trend/1R` a permission it lost with real money). Other exits (time, reversal) are labelled at
the quote.

Each open is written to the store's sample log (`virtual_open`) and each close as an
`outcome`, so a restart resumes the open ones (`restore`) and loses no label. A restored
position's trailing stop restarts from the best price recorded at its open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from slt.application.learner.samples import (
    VIRTUAL_OPEN,
    Decision,
    Outcome,
    decision_from_record,
    decision_record,
    open_records,
    outcome_record,
)
from slt.application.position_controller import ExitSettings
from slt.domain.exits import ExitDecision, ExitGuard, evaluate_exits
from slt.domain.position import Position
from slt.domain.realism import trigger_fill
from slt.domain.values import Direction, Quote
from slt.ports.store import Store

QuoteLookup = Callable[[str], Quote | None]
OutcomeListener = Callable[[dict[str, Any]], None]
NEVER = 2**62


_Open = tuple[ExitGuard, Decision, str]


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


class VirtualBook:
    def __init__(
        self, store: Store, settings: ExitSettings, fee_rate: float, slippage_bps: float = 0.0
    ) -> None:
        self._store = store
        self._settings = settings
        self._fee_rate = fee_rate
        self._slippage_bps = Decimal(repr(slippage_bps))
        self._open: list[_Open] = []
        # The cycle checks only symbols quoted since the last one (a quote already checked
        # cannot trip a price rule again), and the time rule once a deadline has come.
        self._watched: set[str] = set()
        self._quoted: set[str] = set()
        self._next_deadline = NEVER
        self._listeners: list[OutcomeListener] = []
        self._next_id = -1  # negative ids never collide with real positions
        self.opened = 0
        self.closed = 0

    def __len__(self) -> int:
        return len(self._open)

    def update_exit_settings(self, settings: ExitSettings) -> None:
        """For virtual positions opened from now on, as for real ones."""
        self._settings = settings

    def add_outcome_listener(self, listener: OutcomeListener) -> None:
        self._listeners.append(listener)

    def on_quote(self, q: Quote) -> None:
        """Price-feed listener: note that the symbol has news for the next cycle."""
        if q.symbol in self._watched:
            self._quoted.add(q.symbol)

    def open(self, decision: Decision, quote: Quote, reason: str, now_ms: int) -> None:
        c = decision.candidate
        s = c.direction.sign
        entry = quote.ask if s > 0 else quote.bid
        dist = c.stop_distance
        plan = {
            "entry": entry,
            "stop": entry - s * dist,
            "take_profit": entry + s * dist * c.reward_risk,
            "trail_distance": c.trail_distance,
            "trail_activation": float(_d(dist) * self._settings.trail_activation_r),
            "max_hold_ms": self._settings.max_hold_ms,
            "opened_ms": now_ms,
        }
        vid = self._next_id
        self._next_id -= 1
        self._store.add_samples(
            [
                {
                    "type": VIRTUAL_OPEN,
                    "virtual_id": vid,
                    "not_taken": reason,
                    "decision": decision_record(decision),
                    "plan": plan,
                }
            ]
        )
        self._track(vid, decision, reason, plan)
        self.opened += 1

    def restore(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Resume the virtual positions of a previous run that had not closed; return how many."""

        def below(r: Mapping[str, Any]) -> None:
            # Below every id ever handed out, closed ones included: an id names one outcome.
            if r.get("type") == VIRTUAL_OPEN:
                self._next_id = min(self._next_id, r["virtual_id"] - 1)

        resumed = open_records(records, VIRTUAL_OPEN, "virtual_id", below)
        for r in resumed:
            decision = decision_from_record(r["decision"])
            self._track(r["virtual_id"], decision, r["not_taken"], r["plan"])
        return len(resumed)

    def _track(self, vid: int, decision: Decision, reason: str, plan: Mapping[str, Any]) -> None:
        c = decision.candidate
        entry = _d(plan["entry"])
        p = Position(
            id=vid,
            symbol=c.symbol,
            direction=Direction(c.direction),
            planned_qty=Decimal(1),
            stop=_d(plan["stop"]),
            take_profit=_d(plan["take_profit"]),
            trail_distance=_d(plan["trail_distance"]),
            trail_activation=_d(plan["trail_activation"]),
            max_hold_ms=plan["max_hold_ms"],
            leverage=1,
            created_ms=plan["opened_ms"],
            status="open",  # virtual: no orders, so no lifecycle to walk
            qty=Decimal(1),
            entry_price=entry,
            opened_ms=plan["opened_ms"],
            best_price=entry,
        )
        guard = ExitGuard(p)
        self._open.append((guard, decision, reason))
        self._watched.add(c.symbol)
        self._quoted.add(c.symbol)
        self._next_deadline = min(self._next_deadline, guard.deadline)

    def due(self, now_ms: int) -> bool:
        """Whether `cycle(now_ms)` has anything to check: a watched symbol was quoted since the
        last cycle, or a holding deadline has come."""
        return bool(self._quoted) or now_ms >= self._next_deadline

    def cycle(self, now_ms: int, latest: QuoteLookup) -> int:
        """Check every virtual position on the latest quotes; close those an exit rule ends."""
        if not self.due(now_ms):
            return 0
        quoted, self._quoted = self._quoted, set()
        closing = []
        quotes: dict[str, Quote | None] = {}
        for entry in self._open:
            guard = entry[0]
            symbol = guard.symbol
            if symbol not in quoted and now_ms < guard.deadline:
                continue
            q = quotes[symbol] if symbol in quotes else quotes.setdefault(symbol, latest(symbol))
            # The time rule needs no fresh quote; the price rules do.
            if q is None:
                continue
            if guard.check(q) or now_ms >= guard.deadline:
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
            if guard.symbol == symbol and entry[1].candidate.reversal_exit:
                guard.sync()
                decision = evaluate_exits(guard.position, q, {"momentum": momentum}, now_ms)
                if decision is not None:
                    closing.append((entry, decision))
        return self._close(closing, now_ms)

    def _close(self, closing: list[tuple[_Open, ExitDecision]], now_ms: int) -> int:
        if not closing:
            return 0
        done = {id(entry) for entry, _ in closing}
        self._open = [entry for entry in self._open if id(entry) not in done]
        self._watched = {guard.symbol for guard, _, _ in self._open}
        self._next_deadline = min((guard.deadline for guard, _, _ in self._open), default=NEVER)
        records = [
            outcome_record(entry[1], self._outcome(entry, exit_, now_ms))
            for entry, exit_ in closing
        ]
        self._store.add_samples(records)
        self.closed += len(records)
        for record in records:
            for listener in self._listeners:
                listener(record)
        return len(records)

    def _outcome(self, open_: _Open, exit_: ExitDecision, now_ms: int) -> Outcome:
        guard, decision, reason = open_
        p = guard.position
        entry = float(p.entry_price)
        dist = decision.candidate.stop_distance
        price = self._fill_price(p, exit_)
        fees_r = self._fee_rate * (entry + price) / dist
        return Outcome(
            ref=p.id,
            virtual=True,
            r_multiple=p.direction.sign * (price - entry) / dist - fees_r,
            exit_reason=exit_.reason.value,
            close_ms=now_ms,
            hold_ms=now_ms - p.opened_ms,
            fees_r=fees_r,
            not_taken=reason,
        )

    def _fill_price(self, p: Position, exit_: ExitDecision) -> float:
        if exit_.level is None:
            return exit_.price
        buy = p.direction is Direction.SHORT  # the exit side
        level = Decimal(repr(exit_.level))
        return float(trigger_fill(level, Decimal(0), buy, True, self._slippage_bps))
