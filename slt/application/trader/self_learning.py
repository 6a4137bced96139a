"""SelfLearningTrader: the trading cycle (60 s), the virtual cycle (10 s) and learning.

Trading cycle: the decision interval's newly closed bars become candidates of each family
(slt.domain.strategy), each with its feature vector (slt.application.learner.features) computed
there and then. Then the decision:

* `rules` (the `rules` policy, and the `model` policy until a model has passed its
  validation, i.e. cold start): every candidate is a choice;
* `model`: candidates are ranked by the live model's expected R; those above
  `learner.min_expected_r` are chosen, best first. There is no exploration on real money:
  every candidate not taken is followed virtually and labels its features anyway.

A chosen candidate then needs the permission of its family (slt.domain.permission; a model's
choice is judged as the family `model:<family>`): the lower confidence bound of the family's
recent after-fee R, real and virtual outcomes alike, must be above zero. Then it has to pass
the risk rules (drawdown stop, daily loss limit, one position per symbol, capacity, cost,
sizing; slt.domain.sizing) and the circuit breaker. Every candidate not taken live, for
whatever reason, is followed as a virtual position; so every candidate ends up as exactly one
labelled outcome, real or virtual, and a family without permission keeps earning its way back.

Learning: outcomes accumulate as they close (only closed ones: a label is never read before it
exists). Every `learner.retrain_every` new outcomes (or `learner.retrain_period_h`), a model is
trained in a worker thread, so quotes and exits never wait for it. In simulation the clock
advances only once every task is idle, a task waiting on that thread included; so the new
model arrives at the same simulated moment on every run, whatever the wall time it took.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from operator import itemgetter
from typing import Any

from slt.application.data_service import DataService, parse_interval
from slt.application.learner.config import LearnerConfig
from slt.application.learner.features import feature_vector, named
from slt.application.learner.permissions import (
    Evidence,
    evidence_of,
    model_family,
    record_evidence,
    record_outcome,
)
from slt.application.learner.registry import ModelRegistry
from slt.application.learner.samples import (
    ENTRY,
    OUTCOME,
    Decision,
    Outcome,
    decision_from_record,
    decision_record,
    labelled,
    open_records,
    outcome_record,
)
from slt.application.learner.training import TrainResult, train
from slt.application.learner.window import Samples, TrainingWindow
from slt.application.position_controller import PositionController
from slt.application.trader.day_book import DayBook
from slt.application.trader.families import build_generators
from slt.application.trader.virtual import VirtualBook
from slt.domain.filters import SymbolFilters
from slt.domain.permission import Permission, PermissionBook
from slt.domain.position import Position
from slt.domain.sizing import RiskLimits, Sizing, entry_gate, size_entry
from slt.domain.strategy import Candidate, CandidateGenerator, EmaTrendParams, exit_plans
from slt.domain.values import HOUR_MS, Balance, Quote
from slt.ports.clock import Clock
from slt.ports.funding_rates import FundingHistory
from slt.ports.order_gateway import GatewayError, GatewayUnavailable, OrderGateway
from slt.ports.price_feed import PriceFeed
from slt.ports.store import Store

log = logging.getLogger(__name__)

# Margin is charged at the mark price, and a fresh position starts half a spread under water:
# keep a little of the balance free so maximal entries still fit.
MARGIN_HEADROOM = Decimal("0.99")
NEVER = 2**62
BTC = "BTCUSDT"  # the market's bellwether: its regime is a feature of every candidate


class SelfLearningTrader:
    def __init__(
        self,
        clock: Clock,
        gateway: OrderGateway,
        feed: PriceFeed,
        data: DataService,
        controller: PositionController,
        virtual: VirtualBook,
        store: Store,
        filters: dict[str, SymbolFilters],
        limits: RiskLimits,
        params: EmaTrendParams,
        taker_fee: Decimal,
        interval: str,
        learner: LearnerConfig,
        registry: ModelRegistry,
        seed: int = 0,
        generators: Sequence[CandidateGenerator] | None = None,
        pretrain: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self._clock = clock
        self._gateway = gateway
        self._feed = feed
        self._data = data
        self._controller = controller
        self._virtual = virtual
        self._store = store
        self._filters = filters
        self._limits = limits
        self._params = params
        self._taker_fee = taker_fee
        self._learner = learner
        self.registry = registry
        self.permissions = PermissionBook(learner.permission_params(seed))
        self._tf = parse_interval(interval)
        self._ltf = parse_interval(learner.lower_interval)
        self._htf = parse_interval(learner.higher_interval)
        missing = {self._ltf, self._tf, self._htf} - set(data.intervals_ms)
        if missing:
            raise ValueError(f"the DataService builds no bars at {sorted(missing)} ms")
        self._own_generators = generators is None  # rebuilt from reloaded parameters
        self._generators = list(generators) if generators is not None else build_generators(params)
        self._taken: dict[int, Decision] = {}
        self._samples = TrainingWindow(learner.max_samples)
        self._new_samples = 0
        period_ms = round(learner.retrain_period_h * HOUR_MS)
        self._retrain_period_ms = period_ms
        self._next_retrain_ms = clock.now_ms() + period_ms if period_ms else NEVER
        self._training: asyncio.Task[None] | None = None
        self.days = DayBook(store, clock.now_ms())
        self.candidates = 0
        self.entries = 0
        self._funding: FundingHistory | None = None
        controller.add_closed_listener(self._on_closed)
        virtual.add_outcome_listener(self._on_outcome)
        feed.add_listener(virtual.on_quote)
        self._pretrain(pretrain)
        self._virtual.restore(store.iter_samples())
        self._restore(store.iter_samples())

    def update_rules(self, limits: RiskLimits, params: EmaTrendParams) -> None:
        """Risk limits and strategy parameters of a reloaded configuration, from the next
        cycle on. The indicators' periods must stay as they are (their state was built with
        them): the caller keeps those until a restart."""
        if params.indicator_params() != self._params.indicator_params():
            raise ValueError("indicator periods cannot change while the bot runs")
        self._limits = limits
        self._params = params
        if self._own_generators:
            self._generators = build_generators(params)

    def use_funding(self, history: FundingHistory) -> None:
        """Funding rates for the candidates' `funding` feature (NaN without them)."""
        self._funding = history

    def _pretrain(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Outcomes of earlier runs as training samples; enough of them train a model at the
        first trading cycle."""
        history = labelled(records)
        self._samples.extend(history)
        if history and self._learner.retrain_every:
            self._new_samples = self._learner.retrain_every
            log.info("%d outcomes of earlier runs join the training samples", len(history))

    def _restore(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Resume after a restart: live entries, known outcomes. One pass over the sample log,
        which after months holds hundreds of thousands of records: what is kept is what is
        still open, the training window, and four fields an outcome for the permissions."""
        outcomes: list[Evidence] = []

        def learn(r: Mapping[str, Any]) -> None:
            if r.get("type") == OUTCOME:
                self._samples.extend(labelled([r]))
                outcomes.append(evidence_of(r))

        for r in open_records(records, ENTRY, "position_id", learn):
            self._taken[r["position_id"]] = decision_from_record(r["decision"])
        for evidence in sorted(outcomes, key=itemgetter(0)):  # by close time, stable
            record_evidence(self.permissions, evidence, self._learner.min_expected_r)

    def _latest(self, symbol: str) -> Quote | None:
        age = self._feed.latest(symbol)
        return None if age is None or age.stale else age.quote

    # -- trading cycle ---------------------------------------------------------------------

    async def trading_cycle(self, now_ms: int) -> None:
        if self.days.due(now_ms):
            try:
                self.days.roll(now_ms, (await self._gateway.balance()).equity)
            except GatewayError as exc:
                # No entries on yesterday's figures (below); exits go on; the next cycle retries.
                log.warning("the day cannot roll yet (no balance): %s", exc)
        candidates: list[tuple[Candidate, Quote]] = []
        for symbol, interval_ms, bar, snapshot in self._data.roll(now_ms):
            if interval_ms != self._tf:
                continue
            higher = self._data.snapshot(symbol, self._htf)
            close_ms = bar.open_ms + interval_ms
            proposed = [
                c for g in self._generators for c in g.on_bar(symbol, snapshot, higher, close_ms)
            ]
            if now_ms - close_ms > interval_ms:
                # A bar from history (warm-up backfill, or a gap just filled): it updates the
                # indicators, but the moment to act on it has passed.
                proposed = []
            q = self._latest(symbol)
            if q is None:
                continue  # no current price: nothing to enter at, nothing to follow
            momentum = snapshot.ema_fast - snapshot.ema_slow
            if momentum == momentum:  # NaN while the EMAs warm up
                if self._reversal_applies(symbol):
                    self._controller.check_indicators(symbol, momentum, now_ms, q)
                self._virtual.check_reversals(symbol, momentum, now_ms, q)
            if proposed:
                snaps = (self._data.snapshot(symbol, self._ltf), snapshot, higher)
                btc = self._data.snapshot(BTC, self._htf)
                rate = self._funding.last_rate(symbol, now_ms) if self._funding else None
                for proposal in proposed:
                    for c in exit_plans(proposal, self._params.exit_plans):
                        values = feature_vector(
                            c, snaps, q, float(self._taker_fee), now_ms, btc, rate
                        )
                        candidates.append((replace(c, features=named(values)), q))
        self._maybe_retrain(now_ms)
        if candidates and not self.days.due(now_ms):
            await self._decide(candidates, now_ms)

    def trading_due(self, now_ms: int) -> bool:
        """False only when `trading_cycle(now_ms)` would change nothing (no bar has closed, no
        retraining is due): the scheduler then skips it. Work added to the cycle that does not
        hang on a closed bar must show up here."""
        return self._data.has_closed(now_ms) or self._retrain_due(now_ms)

    def _reversal_applies(self, symbol: str) -> bool:
        """False while the symbol's open position came from a family without reversal exits."""
        return all(
            d.candidate.reversal_exit for d in self._taken.values() if d.candidate.symbol == symbol
        )

    async def _decide(self, candidates: list[tuple[Candidate, Quote]], now_ms: int) -> None:
        self.candidates += len(candidates)
        latest = self.registry.latest
        version: int | None = None
        scores: list[float | None] = [None] * len(candidates)
        if latest is not None:
            version, model = latest
            # One call for the whole cycle: scikit-learn's per-call overhead dwarfs a row's cost.
            rows = [tuple(v for _, v in c.features) for c, _ in candidates]
            scores = list(model.expected_r(rows))
        gate = self.registry.live if self._learner.policy == "model" else None
        order = list(range(len(candidates)))
        if gate is not None:
            order.sort(key=lambda i: -(scores[i] or 0.0))  # best expected R first
        else:
            # The best-proven family first: one position per symbol, so it gets the symbol.
            order.sort(key=lambda i: -self._evidence(candidates[i][0].family))
        balance = await self._gateway.balance()
        self.days.observe(balance.equity)
        for i in order:
            candidate, q = candidates[i]
            chosen_by = self._chosen_by(gate is not None, scores[i])
            refusal = "below_threshold" if not chosen_by else self._refusal(candidate, chosen_by)
            if refusal:
                decision = Decision(candidate, now_ms, scores[i], version, "")
                self._virtual.open(decision, q, refusal, now_ms)
                continue
            decision = Decision(candidate, now_ms, scores[i], version, chosen_by)
            if await self._consider(decision, q, balance, now_ms):
                balance = await self._gateway.balance()

    def _chosen_by(self, gated: bool, score: float | None) -> str:
        if not gated:
            return "rules"
        return "model" if score is not None and score > self._learner.min_expected_r else ""

    def _refusal(self, candidate: Candidate, chosen_by: str) -> str:
        """"no_permission" when the chooser's family has not earned real money; else ""."""
        if not self._learner.permission:
            return ""
        family = candidate.family if chosen_by == "rules" else model_family(candidate.family)
        return "" if self.permissions.allowed(family) else "no_permission"

    def _evidence(self, family: str) -> float:
        low = self.permissions.verdict(family).lower_r
        return low if low == low else -math.inf  # NaN: no bound yet

    def permission_report(self) -> list[Permission]:
        """Every family's permission and its reason, for status and reports."""
        return self.permissions.verdicts()

    async def virtual_cycle(self, now_ms: int) -> None:
        self._virtual.cycle(now_ms, self._latest)

    def virtual_due(self, now_ms: int) -> bool:
        return self._virtual.due(now_ms)

    async def _consider(self, decision: Decision, q: Quote, balance: Balance, now_ms: int) -> bool:
        """Take the candidate if risk allows; otherwise follow it virtually. True if taken."""
        candidate = decision.candidate
        entry = Decimal(repr(q.ask if candidate.direction.sign > 0 else q.bid))
        sized = self._size(candidate, balance, entry, q)
        if isinstance(sized, str):
            self._virtual.open(decision, q, sized, now_ms)
            return False
        try:
            await self._gateway.set_leverage(candidate.symbol, sized.leverage)
            position = await self._controller.open_position(candidate, sized, entry)
        except GatewayError as exc:
            log.warning("entry for %s not sent: %s", candidate.symbol, exc)
            reason = "breaker" if isinstance(exc, GatewayUnavailable) else "gateway"
            self._virtual.open(decision, q, reason, now_ms)
            return False
        if position.status in ("rejected", "canceled"):
            self._virtual.open(decision, q, "entry_rejected", now_ms)
            return False
        self._store.add_samples(
            [{"type": ENTRY, "position_id": position.id, "decision": decision_record(decision)}]
        )
        self._taken[position.id] = decision
        self.entries += 1
        return True

    def _size(
        self, candidate: Candidate, balance: Balance, entry: Decimal, q: Quote
    ) -> Sizing | str:
        """The order size, or why the candidate is not taken."""
        rejection = entry_gate(
            symbol=candidate.symbol,
            open_symbols=self._controller.open_symbols(),
            day_start_equity=self.days.start_equity,
            day_realized_pnl=self.days.realized,
            unrealized_pnl=balance.unrealized_pnl,
            equity=balance.equity,
            peak_equity=self.days.peak_equity,
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
            available=balance.available * MARGIN_HEADROOM,
            entry=entry,
            stop=entry - candidate.direction.sign * Decimal(repr(candidate.stop_distance)),
            filters=filters,
            limits=self._limits,
            taker_fee=self._taker_fee,
        )
        return sized if isinstance(sized, Sizing) else sized.code.value

    # -- outcomes and learning -------------------------------------------------------------

    def _on_closed(self, p: Position) -> None:
        self.days.book(p.closed_ms, p.net_pnl)
        decision = self._taken.pop(p.id, None)
        if decision is None:
            return
        risk = p.qty * Decimal(repr(decision.candidate.stop_distance))
        outcome = Outcome(
            ref=p.id,
            virtual=False,
            r_multiple=float(p.net_pnl / risk),
            exit_reason=p.exit_reason,
            close_ms=p.closed_ms,
            hold_ms=p.closed_ms - p.opened_ms,
            fees_r=float(p.fees / risk),
        )
        record = outcome_record(decision, outcome)
        self._store.add_samples([record])
        self._on_outcome(record)

    def _on_outcome(self, record: Mapping[str, Any]) -> None:
        self._samples.extend(labelled([record]))
        self._new_samples += 1
        record_outcome(self.permissions, record, self._learner.min_expected_r)

    def _retrain_due(self, now_ms: int) -> bool:
        """Whether `_maybe_retrain(now_ms)` may act (train, or move the retraining time on)."""
        cfg = self._learner
        if cfg.policy != "model" or self._training is not None:
            return False
        by_count = cfg.retrain_every > 0 and self._new_samples >= cfg.retrain_every
        return by_count or now_ms >= self._next_retrain_ms

    def _maybe_retrain(self, now_ms: int) -> None:
        cfg = self._learner
        if cfg.policy != "model" or self._training is not None:
            return
        by_count = cfg.retrain_every > 0 and self._new_samples >= cfg.retrain_every
        by_time = now_ms >= self._next_retrain_ms
        if by_time:
            periods = (now_ms - self._next_retrain_ms) // self._retrain_period_ms + 1
            self._next_retrain_ms += periods * self._retrain_period_ms
        if not (by_count or by_time) or len(self._samples) < cfg.min_samples:
            return
        self._new_samples = 0
        samples = self._samples.samples()
        self._training = self._clock.spawn(self._train(samples, now_ms), name="train")

    async def _train(self, samples: Samples, now_ms: int) -> None:
        cfg = self._learner
        try:
            result: TrainResult = await asyncio.to_thread(
                train,
                samples,
                now_ms,
                cfg.min_expected_r,
                cfg.validation_folds,
                self._params.max_cost_r,
                round(cfg.validation_embargo_h * HOUR_MS),
            )
            card = self.registry.register(result)
            log.info(
                "model %d trained on %d outcomes: %s (%s)",
                card.version,
                card.n_samples,
                "live" if card.live else "rules decide",
                result.validation.verdict[1],
            )
        except Exception:
            log.exception("training failed; the current decision rule stays")
        finally:
            self._training = None

