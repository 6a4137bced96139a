"""PositionController.

Reacts to each quote through `on_quote` (a synchronous feed listener): a symbol's open positions
are checked by their ExitGuards, and only when one trips does the controller leave the hot path
to take a state-machine transition and send an exit. Fills, from whichever stream delivers
them, drive the positions' lifecycles in `on_fill`; account events (`on_account_event`) and
REST snapshots (`reconcile`) tell it what the exchange holds, and the positions converge to that.

The exchange's position amount is the truth:
- every position gets a reduce-only STOP_MARKET sized to what it holds, placed as soon as it
  opens and replaced (new one first, then the old one cancelled: never a gap) whenever the size
  changes; a stop that cannot be placed is retried with backoff until the position is protected
  or flat, and every failure alarms (protection listeners);
- a position has at most one exit order in flight (its client id saved in the same transaction
  as `closing`); a failed exit returns to `open` with its intent kept and is resent by a timer,
  never by quotes, after a backoff that honours Retry-After and ban-until, and only once the
  exchange's position has been read again;
- a symbol the exchange shows flat settles the position (stop, external, liquidation, ADL),
  priced from fills or order queries, else at the last quote: never at 0.

Stops live in `protection.py`, convergence to the exchange's amounts in `convergence.py` (both
mixed into PositionController, over its state); entries, exits, fills and recovery live here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from slt.application.position_controller.convergence import (
    EXITING,
    WAITING_FOR_ENTRY,
    ZERO,
    Convergence,
    outside_reason,
)
from slt.application.position_controller.protection import Protection
from slt.domain.exits import ExitDecision, ExitGuard, ExitReason, evaluate_exits
from slt.domain.filters import SymbolFilters
from slt.domain.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.position import Position
from slt.domain.reconcile import CLIENT_ID_PREFIX
from slt.domain.retry import RetryPolicy
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction, ExchangePosition, Quote
from slt.ports.clock import Clock
from slt.ports.order_gateway import (
    ExchangeDown,
    GatewayError,
    GatewayUnavailable,
    OrderGateway,
    OrderOutcomeUnknown,
    OrderRejected,
)
from slt.ports.store import LedgerEntry, Store, TradeRecord

log = logging.getLogger(__name__)

ClosedListener = Callable[[Position], None]
OpenedListener = Callable[[Position], None]
# (position, placed, detail): a protective stop was placed, or could not be
ProtectionListener = Callable[[Position, bool, str], None]

REDUCE_ONLY_REJECTED = -2022  # the exchange holds less than the exit would reduce: re-read
FILL_WAIT_MS = 5_000  # an acknowledged order's fills are overdue after this: query it
NEVER = 2**62  # the request is still out: its fills' wait has not started


@dataclass(frozen=True, slots=True)
class ExitSettings:
    max_hold_ms: int = 24 * 3_600_000
    hard_loss_fraction: Decimal = Decimal("0.5")  # of margin
    trail_activation_r: Decimal = Decimal(1)  # trailing starts once this many R in profit
    exchange_stop: bool = True  # keep a reduce-only stop order on the exchange
    on_mismatch: str = "halt"  # the exchange holds a position the bot does not: halt or adopt

    def __post_init__(self) -> None:
        if self.max_hold_ms < 0:
            raise ValueError("exits.max_hold_minutes must not be negative")
        if not self.hard_loss_fraction >= 0:
            raise ValueError("exits.hard_loss_fraction must not be negative")
        if self.trail_activation_r < 0:
            raise ValueError("exits.trail_activation_r must not be negative")
        if self.on_mismatch not in ("halt", "adopt"):
            raise ValueError(f"live.on_mismatch: {self.on_mismatch!r} is not 'halt' or 'adopt'")


class EntriesHalted(GatewayUnavailable):
    """New entries are stopped (start-up mismatch, shutdown, operator); exits go on."""


class PositionController(Protection, Convergence):
    def __init__(
        self,
        clock: Clock,
        gateway: OrderGateway,
        store: Store,
        filters: dict[str, SymbolFilters],
        settings: ExitSettings,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._clock = clock
        self._gateway = gateway
        self._store = store
        self._filters = filters
        self._settings = settings
        self._retry = retry or RetryPolicy()
        self.positions: dict[int, Position] = {}
        self._guards: dict[str, list[ExitGuard]] = {}
        self._orders: dict[str, tuple[Position, str]] = {}
        self._plans: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
        self._closed_listeners: list[ClosedListener] = []
        # Entry/exit orders sent, and when: their fills are expected on the stream.
        self._acked: dict[str, tuple[int, OrderRequest]] = {}
        self._opened_listeners: list[OpenedListener] = []
        self._protection_listeners: list[ProtectionListener] = []
        self._last: dict[str, Quote] = {}  # each symbol's latest quote: the price of last resort
        self._held: dict[str, ExchangePosition] = {}  # what the exchange last said it holds
        self._stops: dict[int, tuple[str, Decimal]] = {}  # position -> working stop (id, qty)
        self._protecting: set[int] = set()  # positions whose stop loop runs
        self._retrying: set[int] = set()  # positions whose exit waits for its retry time
        self._converging: set[str] = set()  # symbols with a convergence check scheduled
        self._filled: dict[str, Decimal] = {}  # quantity received in fills, per order
        self.halted = ""  # why new entries are refused; empty while they are allowed
        gateway.add_fill_listener(self.on_fill)
        gateway.add_account_listener(self.on_account_event)

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

    def resume_entries(self) -> str:
        """Allow new entries again; return why they were halted ('' if they were not)."""
        reason, self.halted = self.halted, ""
        if reason:
            log.info("new entries resumed (were halted: %s)", reason)
        return reason

    def update_exit_settings(self, settings: ExitSettings) -> None:
        """Exit settings for positions opened from now on (a reloaded configuration); open
        positions keep the plan they were opened with."""
        self._settings = settings

    # -- hot path --------------------------------------------------------------------------

    def on_quote(self, q: Quote) -> None:
        self._last[q[0]] = q
        guards = self._guards.get(q[0])
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
        order = OrderRequest(
            client_id=f"{CLIENT_ID_PREFIX}{p.id}-e",
            symbol=p.symbol,
            side=p.direction.entry_side,
            type=OrderType.MARKET,
            qty=sizing.qty,
        )
        self._orders[order.client_id] = (p, "entry")
        self._store.save_position_with_order(p.to_record(), "entry", order)
        await self._place(p, "entry", order)
        return p

    # -- exits -----------------------------------------------------------------------------

    def request_exit(self, p: Position, decision: ExitDecision) -> None:
        """Decide to close `p`: one exit intent, kept until the position is flat."""
        if p.status != "open" or p.id in self._retrying:
            return  # an exit is on its way, or waits for its retry time
        self._unguard(p)
        p.exit_reason = decision.reason.value
        level = None if decision.level is None else Decimal(repr(decision.level))
        self._send_exit(p, level)

    def _send_exit(
        self, p: Position, level: Decimal | None = None
    ) -> asyncio.Task[GatewayError | None]:
        """`closing` and the exit order are saved together, then the order goes out. `level`:
        the price rule's level, on the first attempt only (a retry meets a later price)."""
        p.exit_attempts += 1
        order = OrderRequest(
            client_id=f"{CLIENT_ID_PREFIX}{p.id}-x{p.exit_attempts}",
            symbol=p.symbol,
            side=p.direction.exit_side,
            type=OrderType.MARKET,
            qty=p.remaining,
            reduce_only=True,
            reacts_to=level,
        )
        p.exit_client_id = order.client_id
        p.machine.request_exit()
        self._orders[order.client_id] = (p, "exit")
        self._store.save_position_with_order(p.to_record(), "exit", order)
        return self._clock.spawn(self._place(p, "exit", order), name=f"exit-{p.id}")

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

    async def close_for_shutdown(self) -> None:
        """Paper trading: the simulated exchange does not outlive the process, so its open
        positions are closed at their last quote (reason `shutdown`) instead of being found
        flat, and priced by guess, at the next start. Waits until the exits were answered."""
        exits = []
        for p in sorted(self.positions.values(), key=lambda p: p.id):
            if p.status == "open" and p.id not in self._retrying and p.symbol in self._last:
                self._unguard(p)
                p.exit_reason = ExitReason.SHUTDOWN.value
                exits.append(self._send_exit(p))
        for task in exits:
            await task

    def _exit_failed(self, p: Position, exc: GatewayError | None) -> None:
        """Back to `open` with the intent kept; a timer resends it after the backoff."""
        if p.status in EXITING:
            p.machine.exit_rejected()
        p.exit_client_id = ""
        p.exit_failures += 1
        now = self._clock.now_ms()
        if isinstance(exc, OrderRejected) and exc.code == REDUCE_ONLY_REJECTED:
            p.next_exit_ms = now  # nothing to reduce as sized: the re-read decides
        else:
            p.next_exit_ms = self._next_try(p.exit_failures, exc)
        self._store.save_position(p.to_record())
        self._schedule_exit_retry(p)

    def _schedule_exit_retry(self, p: Position) -> None:
        if p.id not in self._retrying:
            self._retrying.add(p.id)
            self._clock.spawn(self._retry_exit(p), name=f"exit-retry-{p.id}")

    async def _retry_exit(self, p: Position) -> None:
        try:
            while p.status == "open":
                await self._clock.sleep_until(p.next_exit_ms)
                if p.status != "open":
                    return
                failure = await self._reread(p.symbol)
                if failure is None:
                    break
                p.exit_failures += 1
                p.next_exit_ms = self._next_try(p.exit_failures, failure)
                self._store.save_position(p.to_record())
        finally:
            self._retrying.discard(p.id)
        if p.status == "open" and p.remaining > 0:
            log.info("position %s: exit attempt %d", p.id, p.exit_attempts + 1)
            self._send_exit(p)

    def _next_try(self, failures: int, exc: GatewayError | None) -> int:
        """After a ban or a hold the next try is at its end: earlier ones would be refused."""
        retry_after = until = None
        if isinstance(exc, ExchangeDown):
            retry_after, until = exc.retry_after_ms, exc.ban_until_ms
        elif isinstance(exc, GatewayUnavailable):
            until = exc.retry_at_ms
        return self._retry.next_try_ms(failures, self._clock.now_ms(), retry_after, until)

    # -- orders and fills ------------------------------------------------------------------

    async def _send(self, p: Position, purpose: str, order: OrderRequest) -> GatewayError | None:
        self._orders[order.client_id] = (p, purpose)
        self._store.save_order(p.id, purpose, order)
        return await self._place(p, purpose, order)

    async def _place(self, p: Position, purpose: str, order: OrderRequest) -> GatewayError | None:
        """Send an order saved before; None when the exchange took it, else why not."""
        cid = order.client_id
        if purpose != "stop":
            # Its fills are awaited from now on (they may come before the acknowledgement, and
            # the final one ends the wait); `resolve_stuck` asks only FILL_WAIT_MS after the
            # answer: a query while the request is out could find nothing yet.
            self._acked[cid] = (NEVER, order)
        try:
            state = await self._gateway.place(order)
        except OrderOutcomeUnknown as exc:
            if cid in self._acked:
                self._acked[cid] = (self._clock.now_ms(), order)
            self._unknown(p, purpose)
            state = await self._resolve(p, purpose, order)
            taken = state is not None and not (state.status.is_final and not state.filled_qty)
            return None if taken else exc
        except GatewayError as exc:
            self._acked.pop(cid, None)
            self._refused(p, purpose, order, exc)
            return exc
        except BaseException:
            # No answer and no known failure (an unmapped transport error, a bug): the order
            # may be out. Its fills' deadline starts now, so `resolve_stuck` asks the exchange
            # about it instead of the position waiting in `closing` for ever.
            if cid in self._acked:
                self._acked[cid] = (self._clock.now_ms(), order)
            raise
        self._store.update_order(state)
        if cid in self._acked:
            self._acked[cid] = (self._clock.now_ms(), order)
        return None

    def _refused(self, p: Position, purpose: str, order: OrderRequest, exc: GatewayError) -> None:
        log.warning("%s order %s refused: %s", purpose, order.client_id, exc)
        # Recorded as final, so that no restart takes it for an order in flight.
        self._store.update_order(
            OrderState(order.client_id, order.symbol, OrderStatus.REJECTED, ZERO, ZERO,
                       reason=str(exc)[:200])
        )
        if purpose == "entry" and p.status == "pending_open":
            p.machine.entry_rejected()
            self._forget(p)
            self._store.save_position(p.to_record())
        elif purpose == "exit" and p.status in EXITING:
            self._exit_failed(p, exc)

    def _unknown(self, p: Position, purpose: str) -> None:
        if purpose == "entry" and p.status == "pending_open":
            p.machine.entry_unknown()
        elif purpose == "exit" and p.status == "closing":
            p.machine.exit_unknown()
        self._store.save_position(p.to_record())

    async def _resolve(
        self, p: Position, purpose: str, order: OrderRequest
    ) -> OrderState | None:
        """Find out what became of an order whose acknowledgement or fills are missing: never
        resend blind.

        Fills the query shows beyond those received are settled from it (a user-stream gap).
        An order the exchange never received, or that ended (EXPIRED, CANCELED) with nothing
        filled, ends its wait: an entry is cancelled, an exit returns to `open` with its intent
        kept. If the query fails too, the position stays in flight: `resolve_stuck` (run
        periodically by a live session) and start-up reconciliation ask again.
        """
        try:
            state = await self._gateway.query(order.symbol, order.client_id)
        except GatewayError as exc:
            log.warning("cannot resolve %s yet: %s", order.client_id, exc)
            return None
        if state is not None:
            self._store.update_order(state)
        if state is None or state.status.is_final:
            self._acked.pop(order.client_id, None)
        if state is not None and state.filled_qty:
            self._settle_from_query(p, purpose, state)
        # An answer about an earlier exit says nothing about the one now out (two resolutions
        # of one position can overlap: the periodic one and the stream's reconnect).
        current = purpose == "exit" and p.status in EXITING and (
            p.exit_client_id in ("", order.client_id)
        )
        if state is None or (state.status.is_final and not state.filled_qty):
            if purpose == "entry" and p.status in WAITING_FOR_ENTRY:
                p.machine.entry_canceled()
                self._forget(p)
                self._store.save_position(p.to_record())
            elif current:
                self._exit_failed(p, None)
        elif current and state.status.is_final:
            self._exit_ended_short(p)
        return state

    def _settle_from_query(self, p: Position, purpose: str, state: OrderState) -> None:
        """The order filled but (some of) its fills never came: take the missing quantity at
        the query's average price as one fill (fee unknown: zero)."""
        if purpose == "entry":
            qty = state.filled_qty - p.qty
        elif purpose == "exit" and p.status in EXITING:
            qty = min(state.filled_qty - self._filled.get(state.client_id, ZERO), p.remaining)
        else:
            return
        if qty <= 0:
            return
        self._orders.pop(state.client_id, None)  # late fill events of it are not counted again
        realized = (
            p.direction.sign * (state.avg_price - p.entry_price) * qty
            if purpose != "entry"
            else ZERO
        )
        log.warning("%s settled from its query: %s at %s", state.client_id, qty, state.avg_price)
        side = p.direction.entry_side if purpose == "entry" else p.direction.exit_side
        fill = Fill(p.symbol, state.client_id, 0, side, qty, state.avg_price, ZERO,
                    realized, self._clock.now_ms(), state.status)
        self._apply_fill(p, purpose, fill)

    def on_fill(self, fill: Fill) -> None:
        entry = self._orders.get(fill.client_id)
        if entry is None:
            self._foreign_fill(fill)
            return
        if not self._store.add_fill(fill):
            return  # a duplicate delivery
        p, purpose = entry
        self._apply_fill(p, purpose, fill)

    def _apply_fill(self, p: Position, purpose: str, fill: Fill) -> None:
        fee = self._fee(p, fill)
        self._filled[fill.client_id] = self._filled.get(fill.client_id, ZERO) + fill.qty
        if fill.order_status.is_final:
            self._acked.pop(fill.client_id, None)
        if purpose == "entry":
            first = p.qty == 0
            p.apply_entry_fill(fill.qty, fill.price, fee, fill.ts_ms)
            if first:
                self._anchor_plan(p)
            if p.status == "open" and p.id not in self._retrying:
                self._unguard(p)
                self._guard(p)
            if first:
                for opened in self._opened_listeners:
                    opened(p)
            self._store.save_position(p.to_record())
            self._want_protection(p)  # placed at the first fill, resized at the next ones
            return
        if p.apply_exit_fill(fill.qty, fill.price, fee, fill.realized_pnl, fill.ts_ms):
            if not p.exit_reason or purpose == "stop":
                p.exit_reason = ExitReason.STOP_LOSS.value if purpose == "stop" else purpose
            self._closed(p)
            return
        self._store.save_position(p.to_record())
        if fill.order_status.is_final:
            if purpose == "exit" and p.status in EXITING:
                self._exit_ended_short(p)
            elif purpose == "stop":
                self._stops.pop(p.id, None)
                self._want_protection(p)

    def _exit_ended_short(self, p: Position) -> None:
        """The exit order is done but the position is not flat (the entry grew after the exit
        was sized): the same intent goes on for the rest, at once."""
        log.warning("position %s: exit ended with %s still open", p.id, p.remaining)
        p.machine.exit_rejected()
        self._send_exit(p)

    def _foreign_fill(self, fill: Fill) -> None:
        """A fill of an order the bot did not send: a manual close, a liquidation
        (`autoclose-…`) or auto-deleveraging (`adl_autoclose`) reducing the bot's position."""
        p = self._position_on(fill.symbol)
        if (
            p is None
            or fill.client_id.startswith(CLIENT_ID_PREFIX)  # late fill of a finished order
            or p.status in WAITING_FOR_ENTRY
            or fill.side is not p.direction.exit_side
            or not self._store.add_fill(fill)
        ):
            return
        qty = min(fill.qty, p.remaining)
        realized = p.direction.sign * (fill.price - p.entry_price) * qty
        log.warning("position %s reduced outside the bot: %s %s", p.id, fill.client_id, qty)
        if p.apply_exit_fill(qty, fill.price, self._fee(p, fill), realized, fill.ts_ms):
            p.exit_reason = outside_reason(fill.client_id).value
            self._closed(p)
            return
        self._store.save_position(p.to_record())
        self._want_protection(p)

    def _fee(self, p: Position, fill: Fill) -> Decimal:
        """The fill's fee in USDT; a fee in another asset is booked in it, never as USDT."""
        if fill.fee_asset == "USDT":
            return fill.fee
        log.warning("fee of %s is %s %s: booked in its own asset", fill.client_id, fill.fee,
                    fill.fee_asset)
        self._store.add_ledger_entry(
            LedgerEntry(fill.ts_ms, "COMMISSION", fill.fee_asset, -fill.fee, fill.symbol, p.id)
        )
        return ZERO

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

    # -- closing ---------------------------------------------------------------------------

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
        self._stops.pop(p.id, None)
        for client_id, purpose in self._orders_of(p):
            if purpose == "stop":
                self._clock.spawn(
                    self._cancel_quietly(p.symbol, client_id), name=f"unprotect-{p.id}"
                )
        for listener in self._closed_listeners:
            listener(p)

    # -- positions per symbol --------------------------------------------------------------

    def _position_on(self, symbol: str) -> Position | None:
        mine = self._positions_on(symbol)
        return mine[0] if mine else None

    def _positions_on(self, symbol: str) -> list[Position]:
        return [p for p in self.positions.values() if p.symbol == symbol and not p.is_final]

    # -- recovery (start-up) and progress --------------------------------------------------

    def track(self, p: Position) -> None:
        """Resume a position loaded from the store: its orders' fills find it again, its
        working stop is known, and, if open, its guard watches the quotes (or its pending exit
        waits for its retry time)."""
        self.positions[p.id] = p
        for order in self._store.orders(p.id):
            self._orders[order["client_id"]] = (p, order["purpose"])
            if order["purpose"] == "stop" and order["status"] is OrderStatus.NEW:
                self._stops[p.id] = (order["client_id"], order["qty"])
        if p.status == "open":
            if p.exit_reason:
                self._schedule_exit_retry(p)
            else:
                self._guard(p)

    def ensure_protected(self, p: Position) -> None:
        """Size the position's stop to what it holds (start-up: fills while down)."""
        self._want_protection(p)

    async def resolve_in_flight(self, p: Position) -> None:
        """Settle a position left mid-order: query its order, never resend blind.

        An exit intent saved without its order (a crash between the two, in stores written
        before they were saved together) returns to `open` and is resent after a re-read.
        """
        entry = p.status in WAITING_FOR_ENTRY
        wanted = f"{CLIENT_ID_PREFIX}{p.id}-" + ("e" if entry else f"x{p.exit_attempts}")
        if not entry and p.exit_client_id:
            wanted = p.exit_client_id
        found = [o for o in self._store.orders(p.id) if o["client_id"] == wanted]
        if not found:
            log.warning("position %s in %s: its order %s was never sent", p.id, p.status, wanted)
            if entry:
                p.machine.entry_canceled()
                self._forget(p)
                self._store.save_position(p.to_record())
            else:
                self._exit_failed(p, None)
            return
        last = found[0]
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
        await self._resolve(p, "entry" if entry else "exit", request)

    async def resolve_stuck(self, now_ms: int) -> None:
        """Make every position progress; a live session runs this periodically, so nothing
        waits for a restart:
        - orders whose outcome is still unknown because their first query failed too;
        - acknowledged entries and exits whose fills have not come after FILL_WAIT_MS (a
          user-stream outage, an order that expired);
        - exit intents and protective stops whose retry loop is not running.
        """
        for p in list(self.positions.values()):
            if p.status.endswith("_in_flight"):
                await self.resolve_in_flight(p)
        for client_id, (sent_ms, order) in list(self._acked.items()):
            mine = self._orders.get(client_id)
            if mine is None:
                del self._acked[client_id]
            elif now_ms - sent_ms >= FILL_WAIT_MS and not mine[0].is_final:
                await self._resolve(mine[0], mine[1], order)
        for p in list(self.positions.values()):
            if p.status == "open" and p.exit_reason:
                self._schedule_exit_retry(p)
            if p.status in ("open", *EXITING):
                self._want_protection(p)

    def adopt_size(self, p: Position, qty: Decimal) -> None:
        """Fills happened unseen: the exchange's size is what exits must close and what the
        stop must cover."""
        p.qty = qty + p.exit_qty
        if p.status == "open" and p.id not in self._retrying:
            self._unguard(p)
            self._guard(p)
        self._store.save_position(p.to_record())
        self._want_protection(p)

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
            take_profit=ZERO,
            trail_distance=ZERO,
            trail_activation=ZERO,
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
        mine = f"{CLIENT_ID_PREFIX}{p.id}-"
        for client_id in [c for c in self._filled if c.startswith(mine)]:
            del self._filled[client_id]
