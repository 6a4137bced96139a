"""Binance error codes and messages the fake exchange answers with, as reviewable data.

Codes and texts follow Binance's USDT-M error list; where Binance has no code for a case that
only a simulation meets, the nearest one is used and the message says what happened.
"""

from __future__ import annotations

from slt.ports.order_gateway import OrderRejected

MANDATORY_PARAM = -1102  # "Mandatory parameter '%s' was not sent, was empty/null, or malformed."
INVALID_SYMBOL = -1121
UNKNOWN_ORDER = -2011  # CANCEL_REJECTED: unknown, already filled, canceled or expired
MARGIN_INSUFFICIENT = -2019
UNABLE_TO_FILL = -2020  # used when a MARKET order arrives before the symbol's first quote
WOULD_IMMEDIATELY_TRIGGER = -2021
REDUCE_ONLY_REJECTED = -2022
INVALID_LEVERAGE = -4028
DUPLICATE_CLIENT_ID = -4116

MESSAGES: dict[int, str] = {
    INVALID_SYMBOL: "Invalid symbol.",
    UNKNOWN_ORDER: "Unknown order sent.",
    MARGIN_INSUFFICIENT: "Margin is insufficient.",
    WOULD_IMMEDIATELY_TRIGGER: "Order would immediately trigger.",
    REDUCE_ONLY_REJECTED: "ReduceOnly Order is rejected.",
    DUPLICATE_CLIENT_ID: "ClientOrderId is duplicated.",
}


def rejected(code: int, message: str | None = None) -> OrderRejected:
    return OrderRejected(code, message if message is not None else MESSAGES[code])
