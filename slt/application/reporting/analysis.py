"""The figures of one day's report, computed from what the store holds. Pure: no I/O.

Conventions, so that every figure can be checked by hand:

- A trade belongs to the day in which it closed; P&L is net of fees (`TradeRecord.pnl`).
- The equity curve is the day's cumulative realised P&L, starting at 0 at 00:00 UTC; max
  drawdown is the largest fall of that curve from its running peak (the peak starts at 0, so a
  losing first trade is a drawdown). As a percentage it is taken of the day's opening wallet
  plus that peak, when the wallet is known.
- An outcome (learning sample) belongs to the day in which it ended: `close_ms` when the
  sample has it, otherwise `decision_ms + hold_ms`. Expectancy is the mean `r_multiple`; hit
  rate the share of outcomes with `r_multiple > 0`.
- Breaker time is split over [day start, day end) by the level changes stored; the level at
  the day's start is the target of the last change before it (NORMAL if none).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from slt.application.reporting.runtime import RuntimeWindow
from slt.domain.values import DAY_MS
from slt.ports.report_sink import ModelRecord
from slt.ports.store import BreakerEvent, LedgerEntry, TradeRecord, is_outcome, outcome_end_ms

LEVELS = ("NORMAL", "WARNING", "THROTTLED", "BLOCKED")
ZERO = Decimal(0)


def day_name(day_start_ms: int) -> str:
    return datetime.fromtimestamp(day_start_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class SymbolRow:
    symbol: str
    trades: int
    wins: int
    net_pnl: Decimal
    fees: Decimal

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else 0.0


@dataclass(frozen=True, slots=True)
class ExitRow:
    reason: str
    count: int
    net_pnl: Decimal


@dataclass(frozen=True, slots=True)
class OutcomeStats:
    """Learning outcomes of one kind (real or virtual) that ended in the day."""

    count: int
    hits: int
    total_r: float

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.count if self.count else None

    @property
    def expectancy_r(self) -> float | None:
        return self.total_r / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class ModelLine:
    version: str
    activated_ms: int
    in_service: bool  # False: the rules decide (this version did not beat them in validation)
    validation_hit_rate: float | None
    validation_expectancy_r: float | None
    live: OutcomeStats  # the day's real outcomes decided under this model


@dataclass(frozen=True, slots=True)
class BreakerDay:
    start_level: str
    events: tuple[BreakerEvent, ...]
    time_in_level_ms: tuple[tuple[str, int], ...]  # every level, in rank order


@dataclass(frozen=True, slots=True)
class DayReport:
    day: str
    day_start_ms: int
    day_end_ms: int
    trades: tuple[TradeRecord, ...]
    wins: int
    net_pnl: Decimal
    fees: Decimal
    best: Decimal
    worst: Decimal
    max_drawdown: Decimal
    max_drawdown_pct: float | None
    wallet_start: Decimal | None
    wallet_end: Decimal | None
    open_positions: int | None
    equity_points: tuple[tuple[int, Decimal], ...]  # (close time, cumulative net P&L)
    per_symbol: tuple[SymbolRow, ...]
    exits: tuple[ExitRow, ...]
    real: OutcomeStats
    virtual: OutcomeStats
    not_taken: tuple[tuple[str, int], ...]  # why virtual candidates were not taken
    model: ModelLine | None
    breaker: BreakerDay
    runtime: RuntimeWindow | None
    # Money moved outside the trades' USDT fills, per (kind, asset): funding fees, and
    # commissions paid in an asset that could not be converted (never added to USDT totals).
    account_moves: tuple[tuple[str, str, Decimal], ...] = ()
    permissions: tuple[str, ...] = ()  # each candidate family's permission at the day's end

    @property
    def complete(self) -> bool:
        return self.day_end_ms - self.day_start_ms == DAY_MS

    @property
    def count(self) -> int:
        return len(self.trades)

    @property
    def win_rate(self) -> float:
        return self.wins / self.count if self.count else 0.0

    @property
    def expectancy_r(self) -> float | None:
        return self.real.expectancy_r

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (Decimals as strings; trades left out)."""
        return {
            "day": self.day,
            "day_start_ms": self.day_start_ms,
            "day_end_ms": self.day_end_ms,
            "complete": self.complete,
            "trades": self.count,
            "wins": self.wins,
            "win_rate": self.win_rate,
            "net_pnl": str(self.net_pnl),
            "fees": str(self.fees),
            "best": str(self.best),
            "worst": str(self.worst),
            "max_drawdown": str(self.max_drawdown),
            "max_drawdown_pct": self.max_drawdown_pct,
            "wallet_start": _opt_str(self.wallet_start),
            "wallet_end": _opt_str(self.wallet_end),
            "open_positions": self.open_positions,
            "expectancy_r": self.expectancy_r,
            "per_symbol": [
                {
                    "symbol": r.symbol,
                    "trades": r.trades,
                    "wins": r.wins,
                    "net_pnl": str(r.net_pnl),
                    "fees": str(r.fees),
                }
                for r in self.per_symbol
            ],
            "exits": [
                {"reason": r.reason, "count": r.count, "net_pnl": str(r.net_pnl)}
                for r in self.exits
            ],
            "outcomes": {"real": _outcomes(self.real), "virtual": _outcomes(self.virtual)},
            "not_taken": dict(self.not_taken),
            "model": None
            if self.model is None
            else {
                "version": self.model.version,
                "activated_ms": self.model.activated_ms,
                "in_service": self.model.in_service,
                "validation_hit_rate": self.model.validation_hit_rate,
                "validation_expectancy_r": self.model.validation_expectancy_r,
                "live": _outcomes(self.model.live),
            },
            "breaker": {
                "start_level": self.breaker.start_level,
                "changes": [
                    {"ts_ms": e.ts_ms, "source": e.source, "target": e.target, "cause": e.cause}
                    for e in self.breaker.events
                ],
                "time_in_level_ms": dict(self.breaker.time_in_level_ms),
            },
            "runtime": None
            if self.runtime is None
            else {
                "counted_from_ms": self.runtime.counted_from_ms,
                **{
                    f.name: getattr(self.runtime.stats, f.name)
                    for f in fields(self.runtime.stats)
                    if f.name != "since_ms"
                },
            },
        }


def _opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _outcomes(stats: OutcomeStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "hits": stats.hits,
        "hit_rate": stats.hit_rate,
        "expectancy_r": stats.expectancy_r,
        "total_r": stats.total_r,
    }


def outcome_stats(samples: Iterable[Mapping[str, Any]]) -> OutcomeStats:
    count = hits = 0
    total = 0.0
    for s in samples:
        r = float(s.get("r_multiple") or 0.0)
        count += 1
        hits += r > 0
        total += r
    return OutcomeStats(count, hits, round(total, 6))


def drawdown(points: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Largest fall from the running peak of a curve starting at 0, and that peak."""
    peak = worst = worst_peak = ZERO
    for value in points:
        peak = max(peak, value)
        if peak - value > worst:
            worst, worst_peak = peak - value, peak
    return worst, worst_peak


def breaker_day(events: Sequence[BreakerEvent], day_start_ms: int, day_end_ms: int) -> BreakerDay:
    """`events`: every stored level change up to the day's end, in the order they happened."""
    before = [e for e in events if e.ts_ms < day_start_ms]
    within = tuple(e for e in events if day_start_ms <= e.ts_ms < day_end_ms)
    start_level = before[-1].target if before else "NORMAL"
    spent: Counter[str] = Counter()
    level, since = start_level, day_start_ms
    for e in within:
        spent[level] += e.ts_ms - since
        level, since = e.target, e.ts_ms
    spent[level] += day_end_ms - since
    known = tuple((name, spent.get(name, 0)) for name in LEVELS)
    extra = tuple(sorted((k, v) for k, v in spent.items() if k not in LEVELS))
    return BreakerDay(start_level, within, known + extra)


def build_day_report(
    day_start_ms: int,
    day_end_ms: int,
    *,
    trades: Iterable[TradeRecord],
    breaker_events: Sequence[BreakerEvent],
    samples: Iterable[Mapping[str, Any]],
    wallet_end: Decimal | None = None,
    open_positions: int | None = None,
    model: ModelRecord | None = None,
    runtime: RuntimeWindow | None = None,
    ledger: Iterable[LedgerEntry] = (),
    permissions: tuple[str, ...] = (),
) -> DayReport:
    """`trades` and `samples` may hold other days too: only the day's are used.
    `wallet_end` is the wallet balance at `day_end_ms`, if known."""
    day = tuple(t for t in trades if day_start_ms <= t.close_ms < day_end_ms)
    pnls = [t.pnl for t in day]
    net = sum(pnls, ZERO)
    cumulative: list[Decimal] = []
    running = ZERO
    for p in pnls:
        running += p
        cumulative.append(running)
    worst_fall, its_peak = drawdown(cumulative)
    wallet_start = None if wallet_end is None else wallet_end - net
    pct = (
        float(worst_fall / (wallet_start + its_peak))
        if wallet_start is not None and wallet_start + its_peak > 0
        else None
    )
    outcomes = [
        s for s in samples if is_outcome(s) and day_start_ms <= outcome_end_ms(s) < day_end_ms
    ]
    real = [s for s in outcomes if not s.get("virtual")]
    virtual = [s for s in outcomes if s.get("virtual")]
    return DayReport(
        day=day_name(day_start_ms),
        day_start_ms=day_start_ms,
        day_end_ms=day_end_ms,
        trades=day,
        wins=sum(1 for p in pnls if p > 0),
        net_pnl=net,
        fees=sum((t.fees for t in day), ZERO),
        best=max(pnls, default=ZERO),
        worst=min(pnls, default=ZERO),
        max_drawdown=worst_fall,
        max_drawdown_pct=pct,
        wallet_start=wallet_start,
        wallet_end=wallet_end,
        open_positions=open_positions,
        equity_points=tuple((t.close_ms, c) for t, c in zip(day, cumulative, strict=True)),
        per_symbol=_per_symbol(day),
        exits=_exits(day),
        real=outcome_stats(real),
        virtual=outcome_stats(virtual),
        not_taken=tuple(
            sorted(Counter(str(s.get("not_taken") or "unknown") for s in virtual).items())
        ),
        model=_model_line(model, real),
        breaker=breaker_day(breaker_events, day_start_ms, day_end_ms),
        runtime=runtime,
        account_moves=_account_moves(ledger, day_start_ms, day_end_ms),
        permissions=permissions,
    )


def _account_moves(
    ledger: Iterable[LedgerEntry], day_start_ms: int, day_end_ms: int
) -> tuple[tuple[str, str, Decimal], ...]:
    totals: dict[tuple[str, str], Decimal] = {}
    for e in ledger:
        if day_start_ms <= e.ts_ms < day_end_ms:
            totals[(e.kind, e.asset)] = totals.get((e.kind, e.asset), ZERO) + e.amount
    return tuple((kind, asset, amount) for (kind, asset), amount in sorted(totals.items()))


def _per_symbol(trades: Sequence[TradeRecord]) -> tuple[SymbolRow, ...]:
    by_symbol: dict[str, list[TradeRecord]] = defaultdict(list)
    for t in trades:
        by_symbol[t.symbol].append(t)
    return tuple(
        SymbolRow(
            symbol=symbol,
            trades=len(ts),
            wins=sum(1 for t in ts if t.pnl > 0),
            net_pnl=sum((t.pnl for t in ts), ZERO),
            fees=sum((t.fees for t in ts), ZERO),
        )
        for symbol, ts in sorted(by_symbol.items())
    )


def _exits(trades: Sequence[TradeRecord]) -> tuple[ExitRow, ...]:
    counts: Counter[str] = Counter()
    pnl: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for t in trades:
        counts[t.exit_reason] += 1
        pnl[t.exit_reason] += t.pnl
    return tuple(ExitRow(reason, counts[reason], pnl[reason]) for reason in sorted(counts))


def _model_line(model: ModelRecord | None, real: Sequence[Mapping[str, Any]]) -> ModelLine | None:
    if model is None:
        return None
    # Samples that name their model count for it alone; samples without a version count for
    # the model in service when they were decided.
    mine = [
        s
        for s in real
        if str(s.get("model_version")) == model.version
        or (s.get("model_version") is None and int(s.get("decision_ms", 0)) >= model.activated_ms)
    ]
    return ModelLine(
        version=model.version,
        activated_ms=model.activated_ms,
        in_service=model.live,
        validation_hit_rate=model.validation_hit_rate,
        validation_expectancy_r=model.validation_expectancy_r,
        live=outcome_stats(mine),
    )
