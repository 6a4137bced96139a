"""PositionController.

Reacts to each quote through `on_quote` (a synchronous feed listener): a symbol's open positions
are checked by their ExitGuards, and only when one trips does the controller leave the hot path
to take a state-machine transition and send an exit. Fills, from whichever stream delivers
them, drive the positions' lifecycles in `on_fill`.

Every position gets a reduce-only STOP_MARKET at its stop on the exchange as soon as it opens,
so it stays protected while the bot is down; take-profit, trailing, time and reversal exits are
the controller's own market orders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from slt.domain.exits import ExitDecision, ExitGuard, ExitReason, evaluate_exits
from slt.domain.filters import SymbolFilters
from slt.domain.orders import (
    LIQUIDATION_CLIENT_PREFIX,
    Fill,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
)
from slt.domain.position import Position
from slt.domain.reconcile import stop_client_id
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, Quote
from slt.ports.clock import Clock
from slt.ports.order_gateway import (
    GatewayError,
    GatewayUnavailable,
    OrderGateway,
    OrderOutcomeUnknown,
    OrderRejected,
)
from slt.ports.store import Store, TradeRecord

log = logging.getLogger(__name__)

ClosedListener = Callable[[Position], None]
OpenedListener = Callable[[Position], None]
# (position, placed, detail): a protective stop was placed, or could not be
ProtectionListener = Callable[[Position, bool, str], None]


@dataclass(frozen=True, slots=True)
class ExitSettings:
    max_hold_ms: int = 24 * 3_600_000
    hard_loss_fraction: Decimal = Decimal("0.5")  # of margin
    trail_activation_r: Decimal = Decimal(1)  # trailing starts once this many R in profit
    exchange_stop: bool = True  # keep a reduce-only stop order on the exchange

    def __post_init__(self) -> None:
        if self.max_hold_ms < 0:
            raise ValueError("exits.max_hold_minutes must not be negative")
        if not self.hard_loss_fraction >= 0:
            raise ValueError("exits.hard_loss_fraction must not be negative")
        if self.trail_activation_r < 0:
            raise ValueError("exits.trail_activation_r must not be negative")


FILL_WAIT_MS = 5_000


class EntriesHalted(GatewayUnavailable):
    """New entries are stopped (start-up mismatch, shutdown, operator); exits go on."""


class PositionController:
    def __init__(
        self,
        clock: Clock,
        gateway: OrderGateway,
        store: Store,
        filters: dict[str, SymbolFilters],
        settings: ExitSettings,
    ) -> None:
        self._clock = clock
        self._gateway = gateway
        self._store = store
        self._filters = filters
        self._settings = settings
        self.positions: dict[int, Position] = {}
        self._guards: dict[str, list[ExitGuard]] = {}
        self._orders: dict[str, tuple[Position, str]] = {}
        self._plans: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
        self._closed_listeners: list[ClosedListener] = []
        # Acknowledged entry/exit orders and when: their fills are expected on the stream.
        self._acked: dict[str, tuple[int, OrderRequest]] = {}
        self._opened_listeners: list[OpenedListener] = []
        self._protection_listeners: list[ProtectionListener] = []
        self.halted = ""  # why new entries are refused; empty while they are allowed
        gateway.add_fill_listener(self.on_fill)

    # -- queries ---------------------------------------------------------------------------

    def open_symbols(self) -> set[str]:
        return {p.symbol for p in self.positions.values()}

    def add_closed_listener(self, listener: ClosedListener) -> None:
        self._closed_listeners.append(listener)

    def add_opened_listener(self, listener: OpenedListener) -> None:
        """Called once per position, at its first entry fill."""
        self._opened_listeners.append(listener)

    def add_protection_listener(self, listener: ProtectionListener) -> None:
        self._protection_listeners.append(listener)

    def halt_entries(self, reason: str) -> None:
        """Refuse new entries from now on; open positions keep every exit and protection."""
        if not self.halted:
            log.info("new entries halted: %s", reason)  # the status line shows it too
        self.halted = self.halted or reason

    # -- hot path --------------------------------------------------------------------------

    def on_quote(self, q: Quote) -> None:
        guards = self._guards.get(q.symbol)
        if guards:
            for guard in guards:
                if guard.check(q):
                    self._tripped(guard, q)
                    return  # the list changed; other positions of the symbol see the next quote

    def _tripped(self, guard: ExitGuard, q: Quote) -> None:
        guard.sync()
        p = guard.position
        decision = evaluate_exits(p, q, None, q.ts_ms)
        if decision is not None:
            self.request_exit(p, decision)

    # -- entries ---------------------------------------------------------------------------

    async def open_position(
        self, candidate: Candidate, sizing: Sizing, entry_price: Decimal
    ) -> Position:
        """Send a market entry for `candidate`; exits are planned around the actual fill."""
        if self.halted:
            raise EntriesHalted(self.halted)
        s = candidate.direction.sign
        filters = self._filters[candidate.symbol]
        stop_dist = Decimal(repr(candidate.stop_distance))
        target_dist = stop_dist * Decimal(repr(candidate.reward_risk))
        trail_dist = Decimal(repr(candidate.trail_distance))
        now = self._clock.now_ms()
        p = Position(
            id=self._store.next_position_id(),
            symbol=candidate.symbol,
            direction=candidate.direction,
            planned_qty=sizing.qty,
            stop=filters.round_price(entry_price - s * stop_dist, up=s < 0),
            take_profit=filters.round_price(entry_price + s * target_dist, up=s > 0),
            trail_distance=trail_dist,
            trail_activation=stop_dist * self._settings.trail_activation_r,
            max_hold_ms=self._settings.max_hold_ms,
            leverage=sizing.leverage,
            created_ms=now,
            hard_loss_fraction=self._settings.hard_loss_fraction,
        )
        self._plans[p.id] = (stop_dist, target_dist, trail_dist)
        self.positions[p.id] = p
        self._store.save_position(p.to_record())
        order = OrderRequest(
            client_id=f"slt{p.id}-e",
            symbol=p.symbol,
            side=p.direction.entry_side,
            type=OrderType.MARKET,
            qty=sizing.qty,
        )
        await self._send(p, "entry", order)
        return p

    # -- exits -----------------------------------------------------------------------------

    def request_exit(self, p: Position, decision: ExitDecision) -> None:
        """Take the position to `closing` and send a reduce-only market exit."""
        if p.status != "open":
            return
        self._unguard(p)
        p.exit_reason = decision.reason.value
        p.exit_attempts += 1
        p.machine.request_exit()
        self._store.save_position(p.to_record())
        order = OrderRequest(
            client_id=f"slt{p.id}-x{p.exit_attempts}",
            symbol=p.symbol,
            side=p.direction.exit_side,
            type=OrderType.MARKET,
            qty=p.qty - p.exit_qty,
            reduce_only=True,
        )
        self._clock.spawn(self._send(p, "exit", order), name=f"exit-{p.id}")

    def check_indicators(self, symbol: str, momentum: float, now_ms: int, q: Quote) -> None:
        """Rules that need indicators (reversal) and time (max holding), on a closed bar."""
        for guard in list(self._guards.get(symbol, ())):
            guard.sync()
            decision = evaluate_exits(guard.position, q, {"momentum": momentum}, now_ms)
            if decision is not None:
                self.request_exit(guard.position, decision)

    def close_all(self, reason: ExitReason, quotes: dict[str, Quote]) -> None:
        for p in sorted(self.positions.values(), key=lambda p: p.id):
            q = quotes.get(p.symbol)
            if p.status == "open" and q is not None:
                self.request_exit(p, ExitDecision(reason, q.mid))

    # -- orders and fills ------------------------------------------------------------------

    async def _send(self, p: Position, purpose: str, order: OrderRequest) -> bool:
        """Send an order; True when the exchange acknowledged it."""
        self._orders[order.client_id] = (p, purpose)
        self._store.save_order(p.id, purpose, order)
        try:
            state = await self._gateway.place(order)
        except OrderRejected as exc:
            self._rejected(p, purpose, order, exc)
            return False
        except OrderOutcomeUnknown:
            self._unknown(p, purpose)
            state = await self._resolve(p, purpose, order)
            return state is not None and not (state.status.is_final and not state.filled_qty)
        except GatewayError as exc:
            self._rejected(p, purpose, order, exc)
            return False
        self._store.update_order(state)
        if purpose != "stop":
            self._acked[order.client_id] = (self._clock.now_ms(), order)
        return True

    def _rejected(self, p: Position, purpose: str, order: OrderRequest, exc: Exception) -> None:
        log.warning("%s order %s refused: %s", purpose, order.client_id, exc)
        if purpose == "entry" and p.status == "pending_open":
            p.machine.entry_rejected()
            self._forget(p)
        elif purpose == "exit" and p.status in ("closing", "exit_in_flight"):
            # Back to open with its guard: the next quote retries the exit.
            p.machine.exit_rejected()
            self._guard(p)
        self._store.save_position(p.to_record())

    def _unknown(self, p: Position, purpose: str) -> None:
        if purpose == "entry" and p.status == "pending_open":
            p.machine.entry_unknown()
        elif purpose == "exit" and p.status == "closing":
            p.machine.exit_unknown()
        self._store.save_position(p.to_record())

    async def _resolve(
        self, p: Position, purpose: str, order: OrderRequest
    ) -> OrderState | None:
        """Find out what became of an order whose acknowledgement was lost: never resend blind.

        Fills of a found order normally arrive through `on_fill`; a filled order whose fills
        were lost (a user-stream gap) is settled from the query. An order the exchange never
        received (or that ended unfilled) is treated as refused, which for an exit means a
        retry. If the query fails too, the position stays in flight: `resolve_stuck` (run
        periodically by a live session) and start-up reconciliation ask again.
        """
        try:
            state = await self._gateway.query(order.symbol, order.client_id)
        except GatewayError as exc:
            log.warning("cannot resolve %s yet: %s", order.client_id, exc)
            return None
        if state is not None:
            self._store.update_order(state)
        waiting = "pending_open" if purpose == "entry" else "closing"
        in_flight = p.status in (f"{purpose}_in_flight", waiting)
        if state is not None and in_flight and state.status is OrderStatus.FILLED:
            self._settle_from_query(p, purpose, state)
            return state
        if state is None or (state.status.is_final and not state.filled_qty):
            if purpose == "entry" and p.status == "entry_in_flight":
                p.machine.entry_canceled()
                self._forget(p)
            elif purpose == "exit" and p.status == "exit_in_flight":
                p.machine.exit_rejected()
                self._guard(p)
            self._store.save_position(p.to_record())
        return state

    def _settle_from_query(self, p: Position, purpose: str, state: OrderState) -> None:
        """The order filled but its fills never came: take the query's quantity and average
        price as one fill (fee unknown: zero). Late fill events of that order are ignored."""
        self._orders.pop(state.client_id, None)
        if purpose == "entry":
            qty = state.filled_qty - p.qty
        else:
            qty = min(state.filled_qty, p.qty - p.exit_qty)
        if qty <= 0:
            return
        realized = (
            p.direction.sign * (state.avg_price - p.entry_price) * qty if purpose != "entry"
            else Decimal(0)
        )
        log.warning("%s settled from its query: %s at %s", state.client_id, qty, state.avg_price)
        side = p.direction.entry_side if purpose == "entry" else p.direction.exit_side
        fill = Fill(p.symbol, state.client_id, 0, side, qty, state.avg_price, Decimal(0),
                    realized, self._clock.now_ms(), state.status)
        self._apply_fill(p, purpose, fill)

    def on_fill(self, fill: Fill) -> None:
        entry = self._orders.get(fill.client_id)
        if entry is None and fill.client_id.startswith(LIQUIDATION_CLIENT_PREFIX):
            entry = self._liquidated(fill.symbol)
        if entry is None or not self._store.add_fill(fill):
            return  # not ours, or a duplicate delivery
        p, purpose = entry
        self._apply_fill(p, purpose, fill)

    def _liquidated(self, symbol: str) -> tuple[Position, str] | None:
        """The position the exchange's liquidation engine just closed: the open one of
        `symbol` (one per symbol), whatever exit was in flight."""
        for p in self.positions.values():
            if p.symbol == symbol and p.qty and not p.closed_ms:
                p.exit_reason = ExitReason.LIQUIDATION.value
                return p, ExitReason.LIQUIDATION.value
        return None

    def _apply_fill(self, p: Position, purpose: str, fill: Fill) -> None:
        if purpose == "entry":
            first = p.qty == 0
            p.apply_entry_fill(fill.qty, fill.price, fill.fee, fill.ts_ms)
            if first:
                self._anchor_plan(p)
            self._unguard(p)
            self._guard(p)
            if first:
                for opened in self._opened_listeners:
                    opened(p)
                if self._settings.exchange_stop and p.stop:
                    self._clock.spawn(self._protect(p), name=f"protect-{p.id}")
        elif p.apply_exit_fill(fill.qty, fill.price, fill.fee, fill.realized_pnl, fill.ts_ms):
            if not p.exit_reason:
                p.exit_reason = ExitReason.STOP_LOSS.value if purpose == "stop" else purpose
            self._closed(p)
            return
        self._store.save_position(p.to_record())

    def _anchor_plan(self, p: Position) -> None:
        """Re-centre stop and target on the fill price, keeping the planned distances."""
        plan = self._plans.pop(p.id, None)
        if plan is None:
            return
        stop_dist, target_dist, _ = plan
        s = p.direction.sign
        filters = self._filters[p.symbol]
        p.stop = filters.round_price(p.entry_price - s * stop_dist, up=s < 0)
        p.take_profit = filters.round_price(p.entry_price + s * target_dist, up=s > 0)

    async def protect(self, p: Position) -> None:
        """Place the position's reduce-only stop on the exchange (again, after a restart)."""
        await self._protect(p)

    async def _protect(self, p: Position) -> None:
        placed = sum(1 for _, purpose in self._orders_of(p) if purpose == "stop")
        order = OrderRequest(
            client_id=stop_client_id(p.id, placed + 1),
            symbol=p.symbol,
            side=p.direction.exit_side,
            type=OrderType.STOP_MARKET,
            qty=p.qty - p.exit_qty,
            stop_price=p.stop,
            reduce_only=True,
        )
        placed = await self._send(p, "stop", order)
        for listener in self._protection_listeners:
            listener(p, placed, f"stop {p.stop}" if placed else "refused: see the log")
        if not placed and p.status == "open":
            # A position the exchange does not protect must not depend on this process
            # staying alive: close it.
            log.warning("position %s has no confirmed protective stop: closing it", p.id)
            self.request_exit(p, ExitDecision(ExitReason.UNPROTECTED, float(p.entry_price)))

    def _orders_of(self, p: Position) -> list[tuple[str, str]]:
        return [(cid, purpose) for cid, (q, purpose) in self._orders.items() if q is p]

    def _closed(self, p: Position) -> None:
        self._unguard(p)
        self._forget(p)
        self._store.save_position(p.to_record())
        self._store.add_trade(
            TradeRecord(
                position_id=p.id,
                symbol=p.symbol,
                side=p.direction.value,
                qty=p.qty,
                entry_price=p.entry_price,
                exit_price=p.exit_price,
                fees=p.fees,
                pnl=p.net_pnl,
                open_ms=p.opened_ms,
                close_ms=p.closed_ms,
                exit_reason=p.exit_reason,
            )
        )
        for client_id, purpose in self._orders_of(p):
            if purpose == "stop":
                self._clock.spawn(
                    self._cancel_quietly(p.symbol, client_id), name=f"unprotect-{p.id}"
                )
        for listener in self._closed_listeners:
            listener(p)

    async def _cancel_quietly(self, symbol: str, client_id: str) -> None:
        try:
            state = await self._gateway.cancel(symbol, client_id)
        except OrderRejected:
            # Already final: the exchange expires reduce-only orders of a flat position.
            # Record how it ended, so the store shows no working stop for a closed position.
            try:
                state = await self._gateway.query(symbol, client_id)
            except GatewayError:
                state = None
        except GatewayError as exc:
            log.warning("could not cancel %s: %s", client_id, exc)
            state = None
        finally:
            self._orders.pop(client_id, None)
        if state is not None:
            self._store.update_order(state)

    # -- recovery (start-up) ---------------------------------------------------------------

    def track(self, p: Position) -> None:
        """Resume a position loaded from the store: its orders' fills find it again and, if
        open, its guard watches the quotes."""
        self.positions[p.id] = p
        for order in self._store.orders(p.id):
            self._orders[order["client_id"]] = (p, order["purpose"])
        if p.status == "open":
            self._guard(p)

    async def resolve_in_flight(self, p: Position) -> None:
        """Settle a position left mid-order: query its last order, never resend blind."""
        orders = [o for o in self._store.orders(p.id) if o["purpose"] in ("entry", "exit")]
        if not orders:
            return
        last = orders[-1]
        request = OrderRequest(
            client_id=last["client_id"],
            symbol=p.symbol,
            side=last["side"],
            type=last["type"],
            qty=last["qty"],
            reduce_only=bool(last["reduce_only"]),
        )
        if p.status == "pending_open":
            p.machine.entry_unknown()
        elif p.status == "closing":
            p.machine.exit_unknown()
        await self._resolve(p, last["purpose"], request)

    async def resolve_stuck(self, now_ms: int) -> None:
        """Ask again about orders whose outcome is still unknown because their first query
        failed too, and about acknowledged entries and exits whose fills have not come after
        FILL_WAIT_MS (a user-stream outage). A live session runs this periodically, so no
        exit waits for a restart."""
        for p in list(self.positions.values()):
            if p.status.endswith("_in_flight"):
                await self.resolve_in_flight(p)
            elif p.status in ("pending_open", "closing"):
                purpose = "entry" if p.status == "pending_open" else "exit"
                for client_id, (sent_ms, order) in list(self._acked.items()):
                    mine = self._orders.get(client_id)
                    if mine == (p, purpose) and now_ms - sent_ms >= FILL_WAIT_MS:
                        await self._resolve(p, purpose, order)

    def close_outside(self, p: Position, reason: ExitReason, now_ms: int, price: Decimal) -> None:
        """The exchange is flat although the store had the position open: close it here.

        `price` is the best estimate of the exit (the protective stop's fill if it executed,
        else 0 when unknown; the trade then records zero P&L beyond the fees paid).
        """
        p.exit_reason = reason.value
        remaining = p.qty - p.exit_qty
        realized = p.direction.sign * (price - p.entry_price) * remaining if price else Decimal(0)
        p.apply_exit_fill(remaining, price, Decimal(0), realized, now_ms)
        self._closed(p)

    def adopt_size(self, p: Position, qty: Decimal) -> None:
        """Fills happened while the bot was down: the exchange's size is what exits must close."""
        p.qty = qty + p.exit_qty
        self._unguard(p)
        self._guard(p)
        self._store.save_position(p.to_record())

    def adopt(
        self,
        symbol: str,
        direction: Direction,
        qty: Decimal,
        entry_price: Decimal,
        leverage: int,
        now_ms: int,
    ) -> Position:
        """Take over a position the store did not know, protected at the hard-loss distance
        (no strategy planned it, so there is no better stop to give it)."""
        s = direction.sign
        loss_per_unit = self._settings.hard_loss_fraction * entry_price / leverage
        filters = self._filters[symbol]
        p = Position(
            id=self._store.next_position_id(),
            symbol=symbol,
            direction=direction,
            planned_qty=qty,
            stop=filters.round_price(entry_price - s * loss_per_unit, up=s < 0),
            take_profit=Decimal(0),
            trail_distance=Decimal(0),
            trail_activation=Decimal(0),
            max_hold_ms=0,
            leverage=leverage,
            created_ms=now_ms,
            hard_loss_fraction=self._settings.hard_loss_fraction,
            status="open",
            qty=qty,
            entry_price=entry_price,
            opened_ms=now_ms,
            best_price=entry_price,
        )
        self._store.save_position(p.to_record())
        self.track(p)
        return p

    # -- bookkeeping -----------------------------------------------------------------------

    def _guard(self, p: Position) -> None:
        self._guards.setdefault(p.symbol, []).append(ExitGuard(p))

    def _unguard(self, p: Position) -> None:
        guards = self._guards.get(p.symbol)
        if guards:
            guards[:] = [g for g in guards if g.position is not p]
            if not guards:
                del self._guards[p.symbol]

    def _forget(self, p: Position) -> None:
        self.positions.pop(p.id, None)
        self._plans.pop(p.id, None)
        for client_id in [c for c in self._acked if self._orders.get(c, (None,))[0] is p]:
            del self._acked[client_id]
        for client_id in [
            c for c, (q, purpose) in self._orders.items() if q is p and purpose != "stop"
        ]:
            del self._orders[client_id]
