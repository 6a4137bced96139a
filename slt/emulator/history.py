"""The account's trade list and income ledger, as userTrades and income serve them.

Every execution adds one trade and its COMMISSION row, and a REALIZED_PNL row when it closed
something (Binance books no zero realized profit). Other income (FUNDING_FEE, ...) is added by
whatever causes it through `add_income`. Binance's query rules: without a time range the last
7 days; `fromId` walks forward from a trade id; at most `limit` rows, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from slt.domain.orders import Fill
from slt.domain.values import DAY_MS

DEFAULT_WINDOW_MS = 7 * DAY_MS
R = TypeVar("R", "TradeRow", "IncomeRow")


class IncomeType(StrEnum):
    """Every incomeType the income endpoint accepts [D:account/rest-api/Get-Income-History];
    the emulator books the first three."""

    REALIZED_PNL = "REALIZED_PNL"
    COMMISSION = "COMMISSION"
    FUNDING_FEE = "FUNDING_FEE"
    TRANSFER = "TRANSFER"
    WELCOME_BONUS = "WELCOME_BONUS"
    INSURANCE_CLEAR = "INSURANCE_CLEAR"
    REFERRAL_KICKBACK = "REFERRAL_KICKBACK"
    COMMISSION_REBATE = "COMMISSION_REBATE"
    API_REBATE = "API_REBATE"
    CONTEST_REWARD = "CONTEST_REWARD"
    CROSS_COLLATERAL_TRANSFER = "CROSS_COLLATERAL_TRANSFER"
    OPTIONS_PREMIUM_FEE = "OPTIONS_PREMIUM_FEE"
    OPTIONS_SETTLE_PROFIT = "OPTIONS_SETTLE_PROFIT"
    INTERNAL_TRANSFER = "INTERNAL_TRANSFER"
    AUTO_EXCHANGE = "AUTO_EXCHANGE"
    DELIVERED_SETTELMENT = "DELIVERED_SETTELMENT"  # sic, as Binance spells it
    COIN_SWAP_DEPOSIT = "COIN_SWAP_DEPOSIT"
    COIN_SWAP_WITHDRAW = "COIN_SWAP_WITHDRAW"
    POSITION_LIMIT_INCREASE_FEE = "POSITION_LIMIT_INCREASE_FEE"
    STRATEGY_UMFUTURES_TRANSFER = "STRATEGY_UMFUTURES_TRANSFER"
    FEE_RETURN = "FEE_RETURN"
    BFUSD_REWARD = "BFUSD_REWARD"


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One execution of the account (GET /fapi/v1/userTrades)."""

    trade_id: int
    order_id: int
    symbol: str
    buyer: bool
    qty: Decimal
    price: Decimal
    commission: Decimal
    realized: Decimal
    maker: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class IncomeRow:
    """One change of the wallet (GET /fapi/v1/income); `income` is signed."""

    tran_id: int
    symbol: str
    kind: IncomeType
    income: Decimal
    ts_ms: int
    trade_id: int | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """What a history query asks for; None means "not sent"."""

    now_ms: int
    start_ms: int | None = None
    end_ms: int | None = None
    limit: int = 500

    def bounds(self) -> tuple[int, int]:
        if self.start_ms is None and self.end_ms is None:
            return self.now_ms - DEFAULT_WINDOW_MS, self.now_ms
        start = self.start_ms if self.start_ms is not None else 0
        end = self.end_ms if self.end_ms is not None else self.now_ms
        return start, end


class AccountHistory:
    def __init__(self) -> None:
        self.trades: list[TradeRow] = []
        self.income: list[IncomeRow] = []
        self._last_tran_id = 0

    def record_fill(self, fill: Fill, order_id: int) -> None:
        self.trades.append(
            TradeRow(
                trade_id=fill.trade_id,
                order_id=order_id,
                symbol=fill.symbol,
                buyer=str(fill.side) == "BUY",
                qty=fill.qty,
                price=fill.price,
                commission=fill.fee,
                realized=fill.realized_pnl,
                maker=fill.is_maker,
                ts_ms=fill.ts_ms,
            )
        )
        if fill.realized_pnl:
            self.add_income(
                fill.symbol, IncomeType.REALIZED_PNL, fill.realized_pnl, fill.ts_ms, fill.trade_id
            )
        if fill.fee:
            fee = -fill.fee
            self.add_income(fill.symbol, IncomeType.COMMISSION, fee, fill.ts_ms, fill.trade_id)

    def add_income(
        self,
        symbol: str,
        kind: IncomeType,
        amount: Decimal,
        ts_ms: int,
        trade_id: int | None = None,
    ) -> IncomeRow:
        self._last_tran_id += 1
        row = IncomeRow(self._last_tran_id, symbol, kind, amount, ts_ms, trade_id)
        self.income.append(row)
        return row

    def user_trades(
        self,
        symbol: str,
        window: Window,
        *,
        order_id: int | None = None,
        from_id: int | None = None,
    ) -> list[TradeRow]:
        rows = [
            t
            for t in self.trades
            if t.symbol == symbol and (order_id is None or t.order_id == order_id)
        ]
        if from_id is not None:
            return [t for t in rows if t.trade_id >= from_id][: window.limit]
        if order_id is not None and window.start_ms is None and window.end_ms is None:
            return rows[: window.limit]
        return _within(rows, window, lambda t: t.ts_ms)

    def incomes(
        self, window: Window, *, symbol: str | None = None, kind: IncomeType | None = None
    ) -> list[IncomeRow]:
        rows = [
            r
            for r in self.income
            if (symbol is None or r.symbol == symbol) and (kind is None or r.kind is kind)
        ]
        return _within(rows, window, lambda r: r.ts_ms)


def _within(rows: Sequence[R], window: Window, ts: Callable[[R], int]) -> list[R]:
    """Rows in the window: the oldest `limit` from a start time, else the newest `limit`."""
    start, end = window.bounds()
    chosen = [r for r in rows if start <= ts(r) <= end]
    return chosen[: window.limit] if window.start_ms is not None else chosen[-window.limit :]
