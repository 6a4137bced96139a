"""Wire shapes of the account-history and account-settings endpoints the emulator added for
third-party clients: userTrades, income, leverage brackets, symbol configuration, commission
rates, funding history. Field names and JSON types as in the docs examples cited per function.
"""

from __future__ import annotations

from decimal import Decimal

from slt.emulator.history import IncomeRow, TradeRow
from slt.emulator.payloads import MAX_NOTIONAL, ONE_WAY, Json, Numbers, money, plain

# One bracket per symbol: the emulator has no tiered maintenance margin.
MAINT_MARGIN_RATIO = 0.004


def user_trade_json(t: TradeRow, n: Numbers) -> Json:
    """GET /fapi/v1/userTrades row [D:trade/rest-api/Account-Trade-List]."""
    s = t.symbol
    return {
        "buyer": t.buyer,
        "commission": money(t.commission),
        "commissionAsset": "USDT",
        "id": t.trade_id,
        "maker": t.maker,
        "orderId": t.order_id,
        "price": n.price(s, t.price),
        "qty": n.qty(s, t.qty),
        "quoteQty": plain((t.qty * t.price).normalize()),
        "realizedPnl": money(t.realized),
        "side": "BUY" if t.buyer else "SELL",
        "positionSide": ONE_WAY,
        "symbol": s,
        "time": t.ts_ms,
    }


def income_json(r: IncomeRow) -> Json:
    """GET /fapi/v1/income row [D:account/rest-api/Get-Income-History]."""
    return {
        "symbol": r.symbol,
        "incomeType": str(r.kind),
        "income": money(r.income),
        "asset": "USDT",
        "info": str(r.kind),
        "time": r.ts_ms,
        "tranId": r.tran_id,
        "tradeId": str(r.trade_id) if r.trade_id is not None else "",
    }


def leverage_bracket_json(symbol: str, max_leverage: int) -> Json:
    """GET /fapi/v1/leverageBracket entry [D:account/rest-api/Notional-and-Leverage-Brackets]."""
    return {
        "symbol": symbol,
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": max_leverage,
                "notionalCap": int(MAX_NOTIONAL),
                "notionalFloor": 0,
                "maintMarginRatio": MAINT_MARGIN_RATIO,
                "cum": 0.0,
            }
        ],
    }


def symbol_config_json(symbol: str, leverage: int, margin_type: str) -> Json:
    """GET /fapi/v1/symbolConfig row [D:account/rest-api/Symbol-Config]."""
    return {
        "symbol": symbol,
        "marginType": margin_type,
        "isAutoAddMargin": False,
        "leverage": leverage,
        "maxNotionalValue": MAX_NOTIONAL,
    }


def commission_rate_json(symbol: str, maker: Decimal, taker: Decimal) -> Json:
    """GET /fapi/v1/commissionRate [D:account/rest-api/User-Commission-Rate]."""
    return {
        "symbol": symbol,
        "makerCommissionRate": plain(maker),
        "takerCommissionRate": plain(taker),
        "rpiCommissionRate": "0",
    }


def funding_rate_json(symbol: str, rate: Decimal, funding_ms: int, mark: Decimal) -> Json:
    """GET /fapi/v1/fundingRate row [D:market-data/rest-api/Get-Funding-Rate-History]."""
    return {
        "symbol": symbol,
        "fundingRate": money(rate),
        "fundingTime": funding_ms,
        "markPrice": money(mark),
    }


def funding_info_json(symbol: str) -> Json:
    """GET /fapi/v1/fundingInfo row [D:market-data/rest-api/Get-Funding-Rate-Info]."""
    return {
        "symbol": symbol,
        "adjustedFundingRateCap": "0.02000000",
        "adjustedFundingRateFloor": "-0.02000000",
        "fundingIntervalHours": 8,
        "disclaimer": False,
    }
