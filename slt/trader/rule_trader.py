"""The trading and virtual cycles of the rule-based placeholder trader."""

from __future__ import annotations

import logging
from decimal import Decimal

from slt.data_service import BarBuilder
from slt.domain.filters import SymbolFilters
from slt.domain.position import Position
from slt.domain.sizing import RiskLimits, Sizing, entry_gate, size_entry
from slt.domain.strategy import Candidate, EmaTrend, EmaTrendParams
from slt.domain.values import DAY_MS, Balance, Quote
from slt.ports.clock import Clock
from slt.ports.order_gateway import GatewayError, OrderGateway
from slt.ports.price_feed import PriceFeed
from slt.ports.store import Store
from slt.position_controller import PositionController
from slt.trader.virtual import VirtualBook, outcome_sample

log = logging.getLogger(__name__)

MARGIN_HEADROOM = Decimal("0.99")


class RuleTrader:
    def __init__(
        self,
        clock: Clock,
        gateway: OrderGateway,
        feed: PriceFeed,
        bars: BarBuilder,
        controller: PositionController,
        virtual: VirtualBook,
        store: Store,
        filters: dict[str, SymbolFilters],
        limits: RiskLimits,
        params: EmaTrendParams,
        taker_fee: Decimal,
    ) -> None:
        self._clock = clock
        self._gateway = gateway
        self._feed = feed
        self._bars = bars
        self._controller = controller
        self._virtual = virtual
        self._store = store
        self._filters = filters
        self._limits = limits
        self._params = params
        self._taker_fee = taker_fee
        self._states: dict[str, EmaTrend] = {}
        self._taken: dict[int, Candidate] = {}
        self._day = -1
        self.day_start_equity = Decimal(0)
        self.day_realized = Decimal(0)
        self.candidates = 0
        self.entries = 0
        controller.add_closed_listener(self._on_closed)

    def _latest(self, symbol: str) -> Quote | None:
        age = self._feed.latest(symbol)
        return None if age is None or age.stale else age.quote

    async def trading_cycle(self, now_ms: int) -> None:
        candidates: list[Candidate] = []
        for symbol, bar in self._bars.roll(now_ms):
            state = self._states.get(symbol)
            if state is None:
                state = self._states[symbol] = EmaTrend(symbol, self._params)
            candidate = state.on_bar(bar, self._bars.interval_ms)
            q = self._latest(symbol)
            if q is not None and state.momentum is not None:
                self._controller.check_indicators(symbol, state.momentum, now_ms, q)
                self._virtual.check_reversals(symbol, state.momentum, now_ms, q)
            if candidate is not None:
                candidates.append(candidate)
        if not candidates:
            return
        self.candidates += len(candidates)
        balance = await self._gateway.balance()
        self._roll_day(now_ms, balance)
        for candidate in candidates:
            if await self._consider(candidate, balance, now_ms):
                balance = await self._gateway.balance()

    async def virtual_cycle(self, now_ms: int) -> None:
        self._virtual.cycle(now_ms, self._latest)

    def _roll_day(self, now_ms: int, balance: Balance) -> None:
        day = now_ms // DAY_MS
        if day != self._day:
            self._day = day
            self.day_start_equity = balance.equity
            self.day_realized = Decimal(0)

    async def _consider(self, candidate: Candidate, balance: Balance, now_ms: int) -> bool:
        """Take the candidate if risk allows; otherwise follow it virtually. True if taken."""
        q = self._latest(candidate.symbol)
        if q is None:
            return False  # no current price: nothing to enter at, nothing to follow
        entry = Decimal(repr(q.ask if candidate.direction.sign > 0 else q.bid))
        decision = self._size(candidate, balance, entry, q)
        if isinstance(decision, str):
            self._virtual.open(candidate, q, decision, now_ms)
            return False
        try:
            await self._gateway.set_leverage(candidate.symbol, decision.leverage)
            position = await self._controller.open_position(candidate, decision, entry)
        except GatewayError as exc:
            log.warning("entry for %s not sent: %s", candidate.symbol, exc)
            self._virtual.open(candidate, q, "gateway", now_ms)
            return False
        self._taken[position.id] = candidate
        self.entries += 1
        return True

    def _size(
        self, candidate: Candidate, balance: Balance, entry: Decimal, q: Quote
    ) -> Sizing | str:
        """The order size, or why the candidate is not taken."""
        rejection = entry_gate(
            symbol=candidate.symbol,
            open_symbols=self._controller.open_symbols(),
            day_start_equity=self.day_start_equity,
            day_realized_pnl=self.day_realized,
            unrealized_pnl=balance.unrealized_pnl,
            limits=self._limits,
        )
        if rejection is not None:
            return rejection.code.value
        cost = candidate.cost_r(float(entry), q.ask - q.bid, float(self._taker_fee))
        if cost > self._params.max_cost_r:
            return "cost_too_high"
        filters = self._filters.get(candidate.symbol)
        if filters is None:
            return "no_filters"
        sized = size_entry(
            equity=balance.equity,
            # Margin is charged at the mark price, and a fresh position starts half a spread
            # under water: keep a little of the balance free so maximal entries still fit.
            available=balance.available * MARGIN_HEADROOM,
            entry=entry,
            stop=entry - candidate.direction.sign * Decimal(repr(candidate.stop_distance)),
            filters=filters,
            limits=self._limits,
            taker_fee=self._taker_fee,
        )
        return sized if isinstance(sized, Sizing) else sized.code.value

    def _on_closed(self, p: Position) -> None:
        if p.closed_ms // DAY_MS == self._day:
            self.day_realized += p.net_pnl
        candidate = self._taken.pop(p.id, None)
        if candidate is None:
            return
        self._store.add_samples(
            [
                outcome_sample(
                    candidate,
                    entry=float(p.entry_price),
                    exit_price=float(p.exit_price),
                    fee_rate=float(self._taker_fee),
                    exit_reason=p.exit_reason,
                    hold_ms=p.closed_ms - p.opened_ms,
                    virtual=False,
                )
            ]
        )
