"""Store port: durable state, so a restart resumes where the bot stopped."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slt.domain.orders import Fill, OrderRequest, OrderState


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A closed position. `pnl` is net of `fees`."""

    position_id: int
    symbol: str
    side: str  # LONG or SHORT
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    pnl: Decimal
    open_ms: int
    close_ms: int
    exit_reason: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """Money that moved outside a trade's fills in USDT: a funding fee, or a commission paid in
    another asset (BNB) that could not be converted. `amount` is signed, in `asset`."""

    ts_ms: int
    kind: str  # FUNDING_FEE, COMMISSION, ...
    asset: str
    amount: Decimal
    symbol: str = ""
    position_id: int | None = None  # the bot's position open on `symbol` then, if any


@dataclass(frozen=True, slots=True)
class DayTally:
    """The day's risk figures: equity at 00:00 UTC, the net P&L closed since, and the highest
    equity seen so far (this day or any before it)."""

    day: int  # days since the epoch (UTC)
    start_equity: Decimal
    realized: Decimal
    peak_equity: Decimal


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    ts_ms: int
    source: str
    target: str
    cause: str


def is_outcome(sample: Mapping[str, Any]) -> bool:
    """The sample log also holds entry and virtual-open records; outcomes carry `r_multiple`
    (and, from the learner on, `type: "outcome"`)."""
    kind = sample.get("type")
    return kind == "outcome" or (kind is None and "r_multiple" in sample)


# Outcomes written before candidate families existed belong to the trend family.
DEFAULT_FAMILY = "trend"


def outcome_family(sample: Mapping[str, Any]) -> str:
    """The candidate family an outcome is evidence for."""
    return str(sample.get("family", DEFAULT_FAMILY))


def outcome_end_ms(sample: Mapping[str, Any]) -> int:
    """When an outcome's position ended: `close_ms` (or `closed_ms`) when the sample has it,
    otherwise `decision_ms + hold_ms`."""
    for key in ("close_ms", "closed_ms"):
        closed = sample.get(key)
        if isinstance(closed, int):
            return closed
    return int(sample.get("decision_ms", 0)) + int(sample.get("hold_ms", 0))
@dataclass(frozen=True, slots=True)
class CommandRecord:
    """An operator's command and what came of it (the audit trail of runtime control)."""

    ts_ms: int
    source: str  # http, telegram, signal
    user: str  # who asked: a Telegram chat, "token" for the status API, the signal's name
    command: str
    args: str
    ok: bool
    result: str  # the reply the operator got


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The breaker's level and the exchange's holds (absolute instants, 0 for none) as last
    persisted: what a restart resumes, so that it does not hammer an exchange that banned it."""

    level: str
    ban_until_ms: int
    retry_until_ms: int
    ts_ms: int


class Store(ABC):
    @abstractmethod
    def next_position_id(self) -> int:
        """A position id never handed out before, also across restarts."""

    @abstractmethod
    def save_position(self, record: dict[str, Any]) -> None:
        """Insert or replace a position by its `id` (a flat dict of the Position's fields)."""

    @abstractmethod
    def save_position_with_order(
        self, record: dict[str, Any], purpose: str, order: OrderRequest
    ) -> None:
        """`save_position` and `save_order` in one transaction: a crash leaves both or neither."""

    @abstractmethod
    def open_positions(self) -> list[dict[str, Any]]:
        """Positions not in a final state, as saved."""

    @abstractmethod
    def save_order(self, position_id: int, purpose: str, order: OrderRequest) -> None:
        """Record an order before it is sent."""

    @abstractmethod
    def update_order(self, state: OrderState) -> None:
        """Record what the exchange said about an order."""

    @abstractmethod
    def orders(self, position_id: int) -> list[dict[str, Any]]:
        """A position's orders, oldest first."""

    @abstractmethod
    def add_fill(self, fill: Fill) -> bool:
        """Record a fill; False if this (symbol, trade id) was recorded before."""

    @abstractmethod
    def add_trade(self, trade: TradeRecord) -> None: ...

    @abstractmethod
    def trades(self) -> list[TradeRecord]:
        """Closed trades in closing order."""

    @abstractmethod
    def add_ledger_entry(self, entry: LedgerEntry) -> None: ...

    @abstractmethod
    def ledger(self, since_ms: int = 0) -> list[LedgerEntry]:
        """Entries at or after `since_ms`, in the order they were added."""

    @abstractmethod
    def day_tally(self, day: int | None = None) -> DayTally | None:
        """The tally of `day`, or of the latest day saved when `day` is None."""

    @abstractmethod
    def save_day_tally(self, tally: DayTally) -> None:
        """Insert or replace the tally of `tally.day`."""

    @abstractmethod
    def trades_closed_between(self, start_ms: int, end_ms: int | None = None) -> list[TradeRecord]:
        """Trades closed in [start_ms, end_ms) (no upper bound if None), in closing order.
        Reads only those trades, so a day's report costs the same on the first day and the
        hundredth."""

    @abstractmethod
    def add_breaker_event(self, event: BreakerEvent) -> None: ...

    @abstractmethod
    def breaker_events(self, since_ms: int = 0, until_ms: int | None = None) -> list[BreakerEvent]:
        """Level changes at or after `since_ms` and before `until_ms` (if given), in order."""

    @abstractmethod
    def breaker_event_before(self, ts_ms: int) -> BreakerEvent | None:
        """The last level change before `ts_ms`: it says the level in force at `ts_ms`."""

    @abstractmethod
    def save_breaker_state(self, state: BreakerState) -> None:
        """Replace the persisted breaker state."""

    @abstractmethod
    def breaker_state(self) -> BreakerState | None:
        """The last saved breaker state; None if none was ever saved."""

    @abstractmethod
    def add_samples(self, samples: Iterable[dict[str, Any]]) -> None:
        """Learning samples: a feature vector recorded at decision time and its outcome."""

    @abstractmethod
    def iter_samples(self) -> Iterator[dict[str, Any]]:
        """Every sample in the order written, decoded one at a time: after months the log holds
        hundreds of thousands, which a restart must not hold in memory at once."""

    def samples(self) -> list[dict[str, Any]]:
        return list(self.iter_samples())

    @abstractmethod
    def outcomes_ended_between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Outcome samples (`is_outcome`) whose `outcome_end_ms` is in [start_ms, end_ms), in
        the order they were added; reads only those."""

    @abstractmethod
    def recent_outcomes(
        self,
        family: str,
        before_ms: int,
        count: int,
        days: int,
        scored_above: float | None = None,
    ) -> list[dict[str, Any]]:
        """The outcomes of `family` (`outcome_family`) ended before `before_ms`, oldest first
        (by end, then as added): the last `count`, or as many more as reach back to the start
        of the `days`-th most recent UTC day holding one (the permission layer's window,
        slt.domain.permission). `scored_above`: only those the model scored above it. Reads
        only those rows, whatever the history's length."""

    @abstractmethod
    def outcome_families(self, before_ms: int) -> list[str]:
        """The families of the outcomes ended before `before_ms`, by name."""

    @abstractmethod
    def first_activity_ms(self) -> int | None:
        """The earliest trade opening, breaker change or sample decision stored; None if the
        store holds none."""

    @abstractmethod
    def last_activity_ms(self) -> int | None:
        """The latest trade close, breaker change or outcome end stored; None if none."""

    @abstractmethod
    def add_command(self, record: CommandRecord) -> None:
        """Audit an operator's command with its result."""

    @abstractmethod
    def commands(self, limit: int = 50) -> list[CommandRecord]:
        """The latest audited commands, newest first."""
