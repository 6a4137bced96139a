"""Binance's wire shapes: REST bodies and stream events, built from emulator state.

Field names, order and JSON types follow the recorded payloads in tests/fixtures/binance and the
docs examples cited per function. Decimals are strings, as Binance sends them: prices on the
symbol's tick grid, quantities on its step grid, money with 8 decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slt.domain.filters import SymbolFilters
from slt.domain.values import Quote
from slt.emulator.orders import AlgoOrder, WireOrder
from slt.emulator.params import decimals

ZERO = Decimal(0)
_MONEY = Decimal("1e-8")
Json = dict[str, Any]

# Fields Binance fills with account settings the emulator does not vary.
ONE_WAY = "BOTH"
WORKING_TYPE = "CONTRACT_PRICE"
STP_MODE = "EXPIRE_MAKER"
MAX_NOTIONAL = "1000000"


def plain(value: Decimal) -> str:
    """A decimal as Binance prints it: fixed-point, never an exponent; zero is "0"."""
    return format(value, "f") if value else "0"


def money(value: Decimal) -> str:
    return format(value.quantize(_MONEY), "f")


class Numbers:
    """Formats prices and quantities of each symbol on its own grid."""

    def __init__(self, filters: Mapping[str, SymbolFilters]) -> None:
        self._price = {s: _quantum(f.tick_size) for s, f in filters.items()}
        self._qty = {s: _quantum(f.step_size) for s, f in filters.items()}

    def price(self, symbol: str, value: Decimal | float) -> str:
        return _on_grid(_decimal(value), self._price.get(symbol))

    def qty(self, symbol: str, value: Decimal | float) -> str:
        return _on_grid(_decimal(value), self._qty.get(symbol))


def _quantum(step: Decimal) -> Decimal:
    return Decimal(1).scaleb(-decimals(step))


def _decimal(value: Decimal | float) -> Decimal:
    # repr is the shortest text that round-trips a float: the price as the data had it.
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _on_grid(value: Decimal, quantum: Decimal | None) -> str:
    if not value:
        return "0"
    return plain(value.quantize(quantum) if quantum is not None else value.normalize())


def _avg(value: Decimal) -> str:
    return plain(value.normalize()) if value else "0"


@dataclass(frozen=True, slots=True)
class PositionView:
    """One symbol's position as the account reports it (one-way mode, cross margin)."""

    symbol: str
    qty: Decimal
    entry: Decimal
    mark: Decimal
    unrealized: Decimal
    leverage: int
    realized: Decimal = ZERO  # accumulated, gross of fees (ACCOUNT_UPDATE `cr`)
    update_ms: int = 0

    @property
    def notional(self) -> Decimal:
        return self.qty * self.mark

    @property
    def initial_margin(self) -> Decimal:
        return abs(self.notional) / self.leverage


@dataclass(frozen=True, slots=True)
class AccountView:
    wallet: Decimal
    available: Decimal
    unrealized: Decimal
    positions: tuple[PositionView, ...]
    update_ms: int

    @property
    def initial_margin(self) -> Decimal:
        return sum((p.initial_margin for p in self.positions), start=ZERO)


# -- orders (REST) ---------------------------------------------------------------------------


def order_json(o: WireOrder, n: Numbers, *, ack: bool = False) -> Json:
    """An order as POST/GET/DELETE /fapi/v1/order return it [D:trade/rest-api, Query-Order].

    With `ack` (newOrderRespType=ACK, the default) the order is shown as accepted, before any
    execution: a MARKET order then reads NEW with nothing executed, as on Binance.
    """
    executed, cum_quote, avg = (ZERO, ZERO, ZERO) if ack else (o.executed, o.cum_quote, o.avg_price)
    s = o.symbol
    return {
        "orderId": o.order_id,
        "symbol": s,
        "status": "NEW" if ack else str(o.status),
        "clientOrderId": o.client_id,
        "price": n.price(s, o.price),
        "avgPrice": _avg(avg),
        "origQty": n.qty(s, o.qty),
        "executedQty": n.qty(s, executed),
        "cumQty": n.qty(s, executed),
        "cumQuote": _avg(cum_quote),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": o.close_position,
        "side": str(o.side),
        "positionSide": ONE_WAY,
        "stopPrice": n.price(s, o.stop_price),
        "workingType": WORKING_TYPE,
        "priceProtect": False,
        "origType": o.orig_type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": STP_MODE,
        "goodTillDate": 0,
        "time": o.time_ms,
        "updateTime": o.time_ms if ack else o.update_ms,
    }


def algo_json(a: AlgoOrder, n: Numbers) -> Json:
    """An algo order as POST/GET /fapi/v1/algoOrder and openAlgoOrders return it
    [D:trade/rest-api/New-Algo-Order, Query-Algo-Order, Current-All-Algo-Open-Orders]."""
    s = a.symbol
    actual = a.actual_order
    return {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": a.order_type,
        "symbol": s,
        "side": str(a.side),
        "positionSide": ONE_WAY,
        "timeInForce": a.time_in_force,
        "quantity": n.qty(s, a.qty),
        "algoStatus": str(a.status),
        "actualOrderId": str(actual.order_id) if actual else "",
        "actualPrice": _avg(actual.avg_price) if actual else "0",
        "triggerPrice": n.price(s, a.trigger_price),
        "price": "0",
        "icebergQuantity": None,
        "selfTradePreventionMode": STP_MODE,
        "workingType": a.working_type,
        "priceMatch": "NONE",
        "closePosition": a.close_position,
        "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only,
        "createTime": a.create_ms,
        "updateTime": a.update_ms,
        "triggerTime": a.trigger_ms,
        "goodTillDate": 0,
    }


# -- user data stream --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trade:
    """The execution an ORDER_TRADE_UPDATE with x=TRADE reports."""

    trade_id: int
    qty: Decimal
    price: Decimal
    commission: Decimal
    realized: Decimal
    maker: bool
    ts_ms: int


def order_update(
    o: WireOrder, n: Numbers, *, execution: str, now_ms: int, trade: Trade | None = None
) -> Json:
    """ORDER_TRADE_UPDATE [D:user-data-streams/Event-Order-Update]."""
    s = o.symbol
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now_ms,
        "T": trade.ts_ms if trade else now_ms,
        "o": {
            "s": s,
            "c": o.client_id,
            "S": str(o.side),
            "o": o.type,
            "f": o.time_in_force,
            "q": n.qty(s, o.qty),
            "p": n.price(s, o.price),
            "ap": _avg(o.avg_price),
            "sp": n.price(s, o.stop_price),
            "x": execution,
            "X": str(o.status),
            "i": o.order_id,
            "l": n.qty(s, trade.qty) if trade else "0",
            "z": n.qty(s, o.executed),
            "L": n.price(s, trade.price) if trade else "0",
            "N": "USDT",
            "n": money(trade.commission) if trade else "0",
            "T": trade.ts_ms if trade else now_ms,
            "t": trade.trade_id if trade else 0,
            "b": "0",
            "a": "0",
            "m": trade.maker if trade else False,
            "R": o.reduce_only,
            "wt": WORKING_TYPE,
            "ot": o.orig_type,
            "ps": ONE_WAY,
            "cp": o.close_position,
            "pP": False,
            "si": 0,
            "ss": 0,
            "rp": money(trade.realized) if trade else "0",
            "V": STP_MODE,
            "pm": "NONE",
            "gtd": 0,
            "er": str(o.expiry_reason),
        },
    }


def account_update(wallet: Decimal, position: PositionView, now_ms: int, n: Numbers) -> Json:
    """ACCOUNT_UPDATE with reason ORDER: the wallet and the one position a fill moved
    [D:user-data-streams/Event-Balance-and-Position-Update]."""
    s = position.symbol
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": money(wallet), "cw": money(wallet), "bc": "0"}],
            "P": [
                {
                    "s": s,
                    "pa": n.qty(s, position.qty),
                    "ep": _avg(position.entry),
                    "bep": _avg(position.entry),
                    "cr": money(position.realized),
                    "up": money(position.unrealized),
                    "mt": "cross",
                    "iw": "0",
                    "ps": ONE_WAY,
                }
            ],
        },
    }


def algo_update(a: AlgoOrder, n: Numbers, now_ms: int) -> Json:
    """ALGO_UPDATE [D:user-data-streams/Event-Algo-Order-Update]."""
    s = a.symbol
    actual = a.actual_order
    return {
        "e": "ALGO_UPDATE",
        "T": now_ms,
        "E": now_ms,
        "o": {
            "caid": a.client_algo_id,
            "aid": a.algo_id,
            "at": "CONDITIONAL",
            "o": a.order_type,
            "s": s,
            "S": str(a.side),
            "ps": ONE_WAY,
            "f": a.time_in_force,
            "q": n.qty(s, a.qty),
            "X": str(a.status),
            "ai": str(actual.order_id) if actual else "",
            "ap": _avg(actual.avg_price) if actual else "0",
            "aq": n.qty(s, actual.executed) if actual else "0",
            "act": actual.type if actual else "0",
            "tp": n.price(s, a.trigger_price),
            "p": "0",
            "V": STP_MODE,
            "wt": a.working_type,
            "pm": "NONE",
            "cp": a.close_position,
            "pP": a.price_protect,
            "R": a.reduce_only,
            "tt": a.trigger_ms,
            "gtd": 0,
            "rm": a.reason,
        },
    }


def funding_update(
    wallet: Decimal, symbol: str, amount: Decimal, now_ms: int, funding_ms: int
) -> Json:
    """ACCOUNT_UPDATE with reason FUNDING_FEE, cross margin: balances only, the symbol in `S`;
    `T` is the funding time settled, `E` when the event left."""
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": funding_ms,
        "a": {
            "m": "FUNDING_FEE",
            "S": symbol,
            "B": [{"a": "USDT", "wb": money(wallet), "cw": money(wallet), "bc": money(amount)}],
            "P": [],
        },
    }


def listen_key_expired(key: str, now_ms: int) -> Json:
    return {"e": "listenKeyExpired", "E": now_ms, "listenKey": key}


# -- market streams ----------------------------------------------------------------------------


def book_ticker_event(q: Quote, update_id: int, n: Numbers) -> Json:
    """`<symbol>@bookTicker` [recorded: ws/bookTicker*]; E and T are the quote's time."""
    s = q.symbol
    return {
        "e": "bookTicker",
        "u": update_id,
        "s": s,
        "b": n.price(s, q.bid),
        "B": n.qty(s, q.bid_qty),
        "a": n.price(s, q.ask),
        "A": n.qty(s, q.ask_qty),
        "T": q.ts_ms,
        "E": q.ts_ms,
        "st": 1,
        "ps": s,
    }


def trade_event(
    q: Quote, mid: Decimal, update_id: int, n: Numbers, *, aggregate: bool
) -> Json:
    """`<symbol>@trade` or `@aggTrade` [D:websocket-market-streams/Aggregate-Trade-Streams]: the
    quote as a print at its mid for its bid size; the update id is the trade id."""
    s = q.symbol
    price, qty = n.price(s, mid), n.qty(s, q.bid_qty)
    event: Json = {"e": "aggTrade" if aggregate else "trade", "E": q.ts_ms, "s": s}
    if aggregate:
        event.update(a=update_id, p=price, q=qty, f=update_id, l=update_id)
    else:
        event.update(t=update_id, p=price, q=qty, X="MARKET")
    event.update(T=q.ts_ms, m=False)
    return event


def mark_price_event(
    symbol: str, mark: Decimal, funding_rate: Decimal, next_funding_ms: int, now_ms: int
) -> Json:
    """`<symbol>@markPrice[@1s]` [recorded: ws/markPriceUpdate*]; mark = index = mid."""
    price = money(mark)
    return {
        "e": "markPriceUpdate",
        "E": now_ms,
        "s": symbol,
        "p": price,
        "ap": price,
        "i": price,
        "P": price,
        "r": money(funding_rate),
        "T": next_funding_ms,
        "st": 1,
    }


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle; `closed` once a later bar has begun."""

    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    closed: bool


def kline_row(k: Kline, symbol: str, n: Numbers) -> list[Any]:
    """One row of GET /fapi/v1/klines [recorded: rest/klines]. Taker volumes are unknown: 0."""
    return [
        k.open_ms,
        n.price(symbol, k.open),
        n.price(symbol, k.high),
        n.price(symbol, k.low),
        n.price(symbol, k.close),
        n.qty(symbol, k.volume),
        k.close_ms,
        money(k.quote_volume),
        k.trades,
        "0",
        "0",
        "0",
    ]


def kline_event(k: Kline, symbol: str, interval: str, n: Numbers, now_ms: int) -> Json:
    """`<symbol>@kline_<interval>` (BINANCE.md §7). Trade ids are unknown: first/last -1."""
    return {
        "e": "kline",
        "E": now_ms,
        "s": symbol,
        "k": {
            "t": k.open_ms,
            "T": k.close_ms,
            "s": symbol,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": n.price(symbol, k.open),
            "c": n.price(symbol, k.close),
            "h": n.price(symbol, k.high),
            "l": n.price(symbol, k.low),
            "v": n.qty(symbol, k.volume),
            "n": k.trades,
            "x": k.closed,
            "q": money(k.quote_volume),
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }


def _day_change(day: Kline, last: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Price change, change in percent (3 decimals) and volume-weighted average price."""
    change = last - day.open
    percent = (change / day.open * 100).quantize(Decimal("0.001")) if day.open else ZERO
    weighted = day.quote_volume / day.volume if day.volume else last
    return change, percent, weighted


def mini_ticker_event(symbol: str, day: Kline, last: Decimal, n: Numbers, now_ms: int) -> Json:
    """`<symbol>@miniTicker`: the last 24 hours of bars and the last price."""
    return {
        "e": "24hrMiniTicker",
        "E": now_ms,
        "s": symbol,
        "c": n.price(symbol, last),
        "o": n.price(symbol, day.open),
        "h": n.price(symbol, max(day.high, last)),
        "l": n.price(symbol, min(day.low, last)),
        "v": n.qty(symbol, day.volume),
        "q": money(day.quote_volume),
    }


def ticker_event(symbol: str, day: Kline, last: Decimal, n: Numbers, now_ms: int) -> Json:
    """`<symbol>@ticker` [D:websocket-market-streams/Individual-Symbol-Ticker-Streams]; trade
    ids are unknown (the emulator has quotes, not trades)."""
    change, percent, weighted = _day_change(day, last)
    return {
        **mini_ticker_event(symbol, day, last, n, now_ms),
        "e": "24hrTicker",
        "p": n.price(symbol, change),
        "P": format(percent, "f"),
        "w": n.price(symbol, weighted),
        "Q": "0",
        "O": day.open_ms,
        "C": now_ms,
        "F": 0,
        "L": day.trades,
        "n": day.trades,
    }


# -- market data (REST) ------------------------------------------------------------------------


def book_ticker_json(symbol: str, q: Quote | None, update_id: int, n: Numbers) -> Json:
    """GET /fapi/v1/ticker/bookTicker [recorded: rest/ticker_bookTicker]."""
    return {
        "symbol": symbol,
        "bidPrice": n.price(symbol, q.bid) if q else "0",
        "bidQty": n.qty(symbol, q.bid_qty) if q else "0",
        "askPrice": n.price(symbol, q.ask) if q else "0",
        "askQty": n.qty(symbol, q.ask_qty) if q else "0",
        "time": q.ts_ms if q else 0,
        "lastUpdateId": update_id,
    }


def depth_json(symbol: str, q: Quote | None, update_id: int, n: Numbers, now_ms: int) -> Json:
    """GET /fapi/v1/depth [recorded: rest/depth]: the emulator's book is the best level only."""
    return {
        "lastUpdateId": update_id,
        "E": q.ts_ms if q else now_ms,
        "T": q.ts_ms if q else now_ms,
        "bids": [[n.price(symbol, q.bid), n.qty(symbol, q.bid_qty)]] if q else [],
        "asks": [[n.price(symbol, q.ask), n.qty(symbol, q.ask_qty)]] if q else [],
    }


def premium_index_json(
    symbol: str, mark: Decimal, funding_rate: Decimal, next_funding_ms: int, ts_ms: int
) -> Json:
    """GET /fapi/v1/premiumIndex [D:market-data/rest-api/Mark-Price]."""
    price = money(mark)
    return {
        "symbol": symbol,
        "markPrice": price,
        "indexPrice": price,
        "estimatedSettlePrice": price,
        "lastFundingRate": money(funding_rate),
        "interestRate": money(Decimal("0.0001")),
        "nextFundingTime": next_funding_ms,
        "time": ts_ms,
    }


def ticker_24hr_json(symbol: str, day: Kline | None, last: Decimal, n: Numbers) -> Json:
    """GET /fapi/v1/ticker/24hr [recorded: rest/ticker_24hr], from the last 24 h of bars."""
    if day is None:
        return {
            "symbol": symbol,
            "priceChange": "0",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": "0",
            "lastPrice": "0",
            "lastQty": "0",
            "openPrice": "0",
            "highPrice": "0",
            "lowPrice": "0",
            "volume": "0",
            "quoteVolume": "0",
            "openTime": 0,
            "closeTime": 0,
            "firstId": 0,
            "lastId": 0,
            "count": 0,
        }
    change, percent, weighted = _day_change(day, last)
    return {
        "symbol": symbol,
        "priceChange": n.price(symbol, change),
        "priceChangePercent": format(percent, "f"),
        "weightedAvgPrice": n.price(symbol, weighted),
        "lastPrice": n.price(symbol, last),
        "lastQty": "0",
        "openPrice": n.price(symbol, day.open),
        "highPrice": n.price(symbol, day.high),
        "lowPrice": n.price(symbol, day.low),
        "volume": n.qty(symbol, day.volume),
        "quoteVolume": money(day.quote_volume),
        "openTime": day.open_ms,
        "closeTime": day.close_ms,
        "firstId": 0,
        "lastId": day.trades,
        "count": day.trades,
    }


# -- account (REST) ----------------------------------------------------------------------------


def balance_json(acct: AccountView) -> list[Json]:
    """GET /fapi/v2/balance and /fapi/v3/balance [recorded: rest/balance]."""
    return [
        {
            "accountAlias": "SgsR",
            "asset": "USDT",
            "balance": money(acct.wallet),
            "crossWalletBalance": money(acct.wallet),
            "crossUnPnl": money(acct.unrealized),
            "availableBalance": money(acct.available),
            "maxWithdrawAmount": money(max(acct.available, ZERO)),
            "marginAvailable": True,
            "updateTime": acct.update_ms,
        }
    ]


def position_risk_v2_json(p: PositionView, n: Numbers) -> Json:
    """GET /fapi/v2/positionRisk [recorded: rest/positionRisk]."""
    s = p.symbol
    return {
        "symbol": s,
        "positionAmt": n.qty(s, p.qty),
        "entryPrice": _avg(p.entry),
        "breakEvenPrice": _avg(p.entry),
        "markPrice": money(p.mark),
        "unRealizedProfit": money(p.unrealized),
        "liquidationPrice": "0",
        "leverage": str(p.leverage),
        "maxNotionalValue": MAX_NOTIONAL,
        "marginType": "cross",
        "isolatedMargin": money(ZERO),
        "isAutoAddMargin": "false",
        "positionSide": ONE_WAY,
        "notional": money(p.notional),
        "isolatedWallet": "0",
        "updateTime": p.update_ms,
    }


def position_risk_v3_json(p: PositionView, n: Numbers) -> Json:
    """GET /fapi/v3/positionRisk [D:trade/rest-api/Position-Information-V3]."""
    s = p.symbol
    margin = money(p.initial_margin)
    return {
        "symbol": s,
        "positionSide": ONE_WAY,
        "positionAmt": n.qty(s, p.qty),
        "entryPrice": _avg(p.entry),
        "breakEvenPrice": _avg(p.entry),
        "markPrice": money(p.mark),
        "unRealizedProfit": money(p.unrealized),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": money(p.notional),
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": margin,
        "maintMargin": "0",
        "positionInitialMargin": margin,
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": p.update_ms,
    }


def _totals(acct: AccountView) -> Json:
    margin = money(acct.initial_margin)
    return {
        "totalInitialMargin": margin,
        "totalMaintMargin": money(ZERO),
        "totalWalletBalance": money(acct.wallet),
        "totalUnrealizedProfit": money(acct.unrealized),
        "totalMarginBalance": money(acct.wallet + acct.unrealized),
        "totalPositionInitialMargin": margin,
        "totalOpenOrderInitialMargin": money(ZERO),
        "totalCrossWalletBalance": money(acct.wallet),
        "totalCrossUnPnl": money(acct.unrealized),
        "availableBalance": money(acct.available),
        "maxWithdrawAmount": money(max(acct.available, ZERO)),
    }


def _asset(acct: AccountView) -> Json:
    margin = money(acct.initial_margin)
    return {
        "asset": "USDT",
        "walletBalance": money(acct.wallet),
        "unrealizedProfit": money(acct.unrealized),
        "marginBalance": money(acct.wallet + acct.unrealized),
        "maintMargin": money(ZERO),
        "initialMargin": margin,
        "positionInitialMargin": margin,
        "openOrderInitialMargin": money(ZERO),
        "crossWalletBalance": money(acct.wallet),
        "crossUnPnl": money(acct.unrealized),
        "availableBalance": money(acct.available),
        "maxWithdrawAmount": money(max(acct.available, ZERO)),
        "marginAvailable": True,
        "updateTime": acct.update_ms,
    }


def account_v2_json(acct: AccountView, n: Numbers) -> Json:
    """GET /fapi/v2/account [recorded: rest/account_v2]; positions of every symbol."""
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        **_totals(acct),
        "assets": [_asset(acct)],
        "positions": [
            {
                "symbol": p.symbol,
                "initialMargin": money(p.initial_margin),
                "maintMargin": "0",
                "unrealizedProfit": money(p.unrealized),
                "positionInitialMargin": money(p.initial_margin),
                "openOrderInitialMargin": "0",
                "leverage": str(p.leverage),
                "isolated": False,
                "entryPrice": _avg(p.entry),
                "maxNotional": MAX_NOTIONAL,
                "bidNotional": "0",
                "askNotional": "0",
                "positionSide": ONE_WAY,
                "positionAmt": n.qty(p.symbol, p.qty),
                "updateTime": p.update_ms,
            }
            for p in acct.positions
        ],
    }


def account_v3_json(acct: AccountView, n: Numbers) -> Json:
    """GET /fapi/v3/account [D:account/rest-api/Account-Information-V3]; open positions only."""
    return {
        **_totals(acct),
        "assets": [_asset(acct)],
        "positions": [
            {
                "symbol": p.symbol,
                "positionSide": ONE_WAY,
                "positionAmt": n.qty(p.symbol, p.qty),
                "unrealizedProfit": money(p.unrealized),
                "isolatedMargin": "0",
                "notional": money(p.notional),
                "isolatedWallet": "0",
                "initialMargin": money(p.initial_margin),
                "maintMargin": "0",
                "updateTime": p.update_ms,
            }
            for p in acct.positions
            if p.qty
        ],
    }
