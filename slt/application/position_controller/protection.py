"""Protection: every position holds a reduce-only STOP_MARKET sized to what it holds.

Placed at the first fill, replaced (the new one first, then the old one cancelled: never a gap)
when the size changes, placed again when the exchange cancels or expires it, and retried with
backoff while it cannot be placed, alarming each time; the first failure also closes the
position, which must not depend on this process staying alive.

A mixin of PositionController: it works on the controller's state and helpers.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from slt.application.position_controller.convergence import SETTLE_GRACE_MS, ZERO
from slt.domain.account_events import AlgoOrderUpdate, AlgoStatus
from slt.domain.exits import ExitDecision, ExitReason
from slt.domain.orders import OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.position import Position
from slt.domain.reconcile import stop_client_id
from slt.ports.order_gateway import GatewayError, OrderRejected

log = logging.getLogger(__name__)


class Protection:
    async def protect(self, p: Position) -> None:
        """Place the position's reduce-only stop on the exchange again (start-up found none
        working), and keep at it until it stands or the position is flat."""
        self._stops.pop(p.id, None)
        self._want_protection(p)

    def _want_protection(self, p: Position) -> None:
        if not self._settings.exchange_stop or not p.stop or p.id in self._protecting:
            return  # a running loop sizes the stop to the position when its attempt ends
        self._protecting.add(p.id)
        self._clock.spawn(self._protect_loop(p), name=f"protect-{p.id}")

    async def _protect_loop(self, p: Position) -> None:
        failures = 0
        try:
            while not p.is_final and p.remaining > 0:
                working = self._stops.get(p.id)
                if working is not None and working[1] == p.remaining:
                    return
                failure = await self._place_stop(p, working)
                if failure is None:
                    failures = 0
                    continue
                failures += 1
                if failures == 1 and p.status == "open" and not p.exit_reason:
                    # A position the exchange does not protect must not depend on this
                    # process staying alive: close it (the stop is still retried meanwhile).
                    log.warning("position %s has no confirmed protective stop: closing it", p.id)
                    self.request_exit(p, ExitDecision(ExitReason.UNPROTECTED, 0.0))
                await self._clock.sleep_until(self._next_try(failures, failure))
        finally:
            self._protecting.discard(p.id)

    async def _place_stop(
        self, p: Position, working: tuple[str, Decimal] | None
    ) -> GatewayError | None:
        """A stop for the whole remaining size; the one it replaces is cancelled only after."""
        placed = sum(1 for o in self._store.orders(p.id) if o["purpose"] == "stop")
        order = OrderRequest(
            client_id=stop_client_id(p.id, placed + 1),
            symbol=p.symbol,
            side=p.direction.exit_side,
            type=OrderType.STOP_MARKET,
            qty=p.remaining,
            stop_price=p.stop,
            reduce_only=True,
        )
        failure = await self._send(p, "stop", order)
        for listener in self._protection_listeners:
            listener(p, failure is None, f"stop {p.stop}" if failure is None else str(failure))
        if failure is None:
            self._stops[p.id] = (order.client_id, order.qty)
            if working is not None:
                await self._cancel_quietly(p.symbol, working[0])
        else:
            self._orders.pop(order.client_id, None)
        return failure

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
            self._filled.pop(client_id, None)
        if state is not None:
            self._store.update_order(state)

    def _on_algo(self, update: AlgoOrderUpdate) -> None:
        mine = self._orders.get(update.client_algo_id)
        if mine is None or mine[1] != "stop" or update.status.protects:
            return
        p = mine[0]
        working = self._stops.get(p.id)
        if working is None or working[0] != update.client_algo_id:
            return  # a stop being replaced or cancelled by the bot: `_cancel_quietly` records it
        del self._stops[p.id]
        if update.status is AlgoStatus.FINISHED:
            return  # it fired: its fills close the position
        self._store.update_order(
            OrderState(update.client_algo_id, update.symbol, OrderStatus(update.status),
                       ZERO, ZERO, reason=update.reason)
        )
        self._clock.spawn(self._protect_later(p, update), name=f"reprotect-{p.id}")

    async def _protect_later(self, p: Position, lost: AlgoOrderUpdate) -> None:
        # A stop expires when its position went flat: give that news time to arrive, then
        # ask the exchange (which may settle the position) before placing another.
        await self._clock.sleep(SETTLE_GRACE_MS / 1000)
        if not p.is_final:
            await self._reread(p.symbol)
        if not p.is_final:
            log.warning("position %s lost its stop %s: %s %s", p.id, lost.client_algo_id,
                        lost.status, lost.reason)
            self._want_protection(p)
