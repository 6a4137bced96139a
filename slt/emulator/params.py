"""Reading request parameters the way Binance validates them (types, formats, precision)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from slt.domain.values import Side
from slt.emulator import errors
from slt.emulator.errors import ApiError, api_error, missing
from slt.emulator.history import Window

_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_CLIENT_ID = re.compile(r"[\.A-Z\:/a-z0-9_-]{1,36}")
_INTEGER = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class Call:
    """One authorised REST request as a handler sees it."""

    params: Mapping[str, str]
    now_ms: int


def text(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise missing(name)
    return value


def decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _DECIMAL.fullmatch(value):
        raise api_error(errors.ILLEGAL_CHARS, name, _DECIMAL_RANGE)
    return Decimal(value)


def integer(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _INTEGER.fullmatch(value):
        raise api_error(errors.INVALID_PARAMETER, name)
    return int(value)


def boolean(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise api_error(errors.INVALID_PARAMETER, name)
    return value == "true"


def side(params: Mapping[str, str]) -> Side:
    try:
        return Side(text(params, "side"))
    except ValueError:
        raise api_error(errors.INVALID_SIDE) from None


def client_id(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not _CLIENT_ID.fullmatch(value):
        raise api_error(errors.INVALID_CLIENT_ID)
    return value


def on_precision(value: Decimal, step: Decimal) -> Decimal:
    """`value`, unless it has more decimals than `step` (Binance's -1111)."""
    if decimals(value) > decimals(step):
        raise api_error(errors.BAD_PRECISION)
    return value


def decimals(value: Decimal) -> int:
    """Decimal places of `value` ignoring trailing zeros: 2 for 0.010, 0 for 10."""
    return max(0, -int(value.normalize().as_tuple().exponent))


def order_ref(
    params: Mapping[str, str], id_name: str, client_name: str
) -> tuple[int | None, str | None]:
    """The (id, client id) an order is named by; one of them is mandatory."""
    order_id = integer(params, id_name)
    client = params.get(client_name) or None
    if order_id is None and client is None:
        raise ApiError(
            errors.MANDATORY_PARAM,
            f"Param '{client_name}' or '{id_name}' must be sent, but both were empty/null!",
        )
    return order_id, client


def wire_text(value: object) -> str:
    """A JSON parameter value as a query string would carry it: true -> "true", 5 -> "5",
    1e-05 -> "0.00001" (a JSON number is a decimal, never an exponent on the wire)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def window(call: Call, *, default_limit: int, max_limit: int) -> Window:
    """startTime / endTime / limit of a history query, checked as Binance checks them."""
    p = call.params
    limit = integer(p, "limit")
    if limit is None:
        limit = default_limit
    if not 1 <= limit <= max_limit:
        raise api_error(errors.INVALID_PARAMETER, "limit")
    start, end = integer(p, "startTime"), integer(p, "endTime")
    if start is not None and end is not None and start > end:
        raise api_error(errors.INVALID_PARAMETER, "startTime")
    return Window(call.now_ms, start, end, limit)
