"""Convergence: the controller's positions follow what the exchange says it holds.

Position amounts come from ACCOUNT_UPDATE (after a grace for the fills that explain them) and
REST snapshots; a symbol shown flat settles its position with the best-known reason and price
(its own stop or exit fill, the exchange's liquidation or ADL order read back, else the last
quote: never 0); a size the bot did not expect is adopted; a position the bot does not know
follows `live.on_mismatch`. Balance changes (funding, fees in other assets) go to the ledger.

A mixin of PositionController: it works on the controller's state and helpers.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from slt.domain.account_events import AccountEvent, AlgoOrderUpdate, BalanceChange, PositionUpdate
from slt.domain.exits import ExitReason, exit_side_price
from slt.domain.orders import OrderStatus
from slt.domain.position import Position
from slt.domain.reconcile import CLIENT_ID_PREFIX
from slt.domain.values import Direction, ExchangePosition
from slt.ports.order_gateway import GatewayError
from slt.ports.store import LedgerEntry

log = logging.getLogger(__name__)

ZERO = Decimal(0)
SETTLE_GRACE_MS = 3_000  # an account update may run ahead of the fills that explain it
WAITING_FOR_ENTRY = ("pending_open", "entry_in_flight")
EXITING = ("closing", "exit_in_flight")


class Convergence:
    def on_account_event(self, event: AccountEvent) -> None:
        """What the exchange says besides fills (synchronous, like `on_fill`)."""
        if isinstance(event, PositionUpdate):
            self._held[event.symbol] = ExchangePosition(
                event.symbol, event.amount, event.entry_price, ZERO,
                self._held[event.symbol].leverage if event.symbol in self._held else 0,
            )
            if event.amount != self._local_amount(event.symbol):
                self._converge_soon(event.symbol)
        elif isinstance(event, AlgoOrderUpdate):
            self._on_algo(event)
        elif isinstance(event, BalanceChange):
            self._on_balance(event)

    async def reconcile(self, positions: list[ExchangePosition], now_ms: int) -> None:
        """Converge to a REST snapshot of every non-flat position, read at `now_ms` (after a
        stream gap, or periodically): the snapshot wins over whatever the stream said before
        it; orders in flight and fills overdue are then asked about (`resolve_stuck`)."""
        self._held = {e.symbol: e for e in positions}
        symbols = set(self._held) | {p.symbol for p in self.positions.values()}
        for symbol in sorted(symbols):
            await self._converge(symbol)
        await self.resolve_stuck(now_ms)

    def _converge_soon(self, symbol: str) -> None:
        if symbol not in self._converging:
            self._converging.add(symbol)
            self._clock.spawn(self._converge_later(symbol), name=f"converge-{symbol}")

    async def _converge_later(self, symbol: str) -> None:
        try:
            await self._clock.sleep(SETTLE_GRACE_MS / 1000)
        finally:
            self._converging.discard(symbol)
        await self._converge(symbol)

    async def _reread(self, symbol: str) -> GatewayError | None:
        """Read the exchange's positions and converge `symbol` to it; the failure, if any."""
        try:
            positions = await self._gateway.positions()
        except GatewayError as exc:
            log.warning("cannot read the exchange's positions: %s", exc)
            return exc
        self._held = {e.symbol: e for e in positions}
        await self._converge(symbol)
        return None

    def _held_amount(self, symbol: str) -> Decimal:
        held = self._held.get(symbol)
        return held.qty if held is not None else ZERO

    def _local_amount(self, symbol: str) -> Decimal:
        """What the bot's positions on `symbol` add up to (one-way mode nets them)."""
        return sum(
            (p.direction.sign * p.remaining for p in self._positions_on(symbol)), ZERO
        )

    async def _converge(self, symbol: str) -> None:
        amount = self._held_amount(symbol)
        mine = self._positions_on(symbol)
        if not mine:
            if amount:
                await self._unknown_position(symbol)
            return
        if any(p.status in WAITING_FOR_ENTRY or p.status == "exit_in_flight" for p in mine):
            return  # a query settles those: their fills explain the difference
        local = self._local_amount(symbol)
        if amount == local:
            return
        if amount == 0:
            for p in mine:
                await self.settle_flat(p, ExitReason.EXTERNAL)
            return
        if len(mine) > 1:
            log.warning("%s: the exchange holds %s, the bot's positions %s: not attributable",
                        symbol, amount, local)
            return
        [p] = mine
        if (amount > 0) != (local > 0):
            self.halt_entries(f"{symbol}: the exchange holds {amount}, the bot {local}")
        elif p.status == "open":
            log.warning("position %s: the exchange holds %s, the bot %s", p.id, amount, local)
            self.adopt_size(p, abs(amount))

    async def _unknown_position(self, symbol: str) -> None:
        held = self._held[symbol]
        if self._settings.on_mismatch != "adopt":
            self.halt_entries(f"{symbol}: the exchange holds {held.qty}, unknown to the bot")
            return
        if not held.leverage:  # a stream update: the REST snapshot has the leverage
            failure = await self._reread(symbol)
            if failure is not None or symbol not in self._held or self._position_on(symbol):
                return
            held = self._held[symbol]
        direction = Direction.LONG if held.qty > 0 else Direction.SHORT
        adopted = self.adopt(symbol, direction, abs(held.qty), held.entry_price,
                             held.leverage or 1, self._clock.now_ms())
        self._want_protection(adopted)

    async def settle_flat(self, p: Position, default: ExitReason) -> None:
        """The exchange is flat and the fills that made it so never came: close the position
        at the best price known (its stop's or exit's fill, else the last quote)."""
        reason, price = default, ZERO
        for order in reversed(self._store.orders(p.id)):
            if order["purpose"] not in ("stop", "exit") or order["status"] is OrderStatus.REJECTED:
                continue  # refused orders filled nothing
            try:
                state = await self._gateway.query(p.symbol, order["client_id"])
            except GatewayError:
                continue
            if state is not None and state.filled_qty:
                self._store.update_order(state)
                price = state.avg_price
                reason = ExitReason.STOP_LOSS if order["purpose"] == "stop" else ExitReason(
                    p.exit_reason or default
                )
                break
        if not price and not p.is_final:
            reason, price = await self._closed_by_others(p, default)
        if p.is_final:
            return  # the fills arrived while the queries ran
        self._close_outside(p, reason, self._clock.now_ms(), price)

    async def _closed_by_others(
        self, p: Position, default: ExitReason
    ) -> tuple[ExitReason, Decimal]:
        """The order of someone else (the liquidation engine, ADL, a hand) that made `p` flat,
        when its fill never reached the bot (it came before the stream was up): its client id
        names the reason, its average the price. (default, 0) when none is found."""
        try:
            orders = await self._gateway.orders_since(p.symbol, p.opened_ms or p.created_ms)
        except GatewayError as exc:
            log.warning("position %s: cannot read %s's orders: %s", p.id, p.symbol, exc)
            return default, ZERO
        for state in reversed(orders):
            if state.filled_qty and not state.client_id.startswith(CLIENT_ID_PREFIX):
                outside = outside_reason(state.client_id)
                return (default if outside is ExitReason.EXTERNAL else outside), state.avg_price
        return default, ZERO

    def _close_outside(self, p: Position, reason: ExitReason, now_ms: int, price: Decimal) -> None:
        """The exchange is flat although the store had the position open: close it here.

        `price` is the best estimate of the exit; when unknown (0) the last quote's exit-side
        price stands in, else the entry price (the trade then records no P&L but its fees).
        """
        if not price:
            q = self._last.get(p.symbol)
            price = Decimal(repr(exit_side_price(p, q))) if q is not None else p.entry_price
            log.warning("position %s closed outside the bot at an estimated %s", p.id, price)
        p.exit_reason = reason.value
        remaining = p.remaining
        realized = p.direction.sign * (price - p.entry_price) * remaining
        p.apply_exit_fill(remaining, price, ZERO, realized, now_ms)
        self._closed(p)

    def _on_balance(self, change: BalanceChange) -> None:
        p = self._position_on(change.symbol) if change.symbol else None
        if p is not None and p.status in WAITING_FOR_ENTRY:
            p = None
        if p is not None and change.kind == "FUNDING_FEE" and change.asset == "USDT":
            p.funding += change.amount
            self._store.save_position(p.to_record())
        self._store.add_ledger_entry(
            LedgerEntry(change.ts_ms, change.kind, change.asset, change.amount, change.symbol,
                        p.id if p is not None else None)
        )


def outside_reason(client_id: str) -> ExitReason:
    if client_id.startswith("autoclose-"):
        return ExitReason.LIQUIDATION
    if client_id.startswith("adl_autoclose"):
        return ExitReason.ADL
    return ExitReason.EXTERNAL
