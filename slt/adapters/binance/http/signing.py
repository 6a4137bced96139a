"""Request signing (BINANCE.md §1): hex(HMAC-SHA256(secret, totalParams)).

The client sends every parameter in the query string, so totalParams is exactly the encoded
query string that goes on the wire, and `signature` is appended last.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import quote

Param = str | int | Decimal | bool


def plain(value: Decimal) -> str:
    """A decimal as Binance accepts it: no exponent, no trailing zeros ("0.001", "65000")."""
    if not value.is_finite():
        raise ValueError(f"cannot send a non-finite decimal: {value}")
    # format "f" never uses an exponent; normalize() is avoided as it rounds to the context.
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def wire_value(value: Param) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, int):
        return str(value)
    return value


def encode(params: Mapping[str, Param | None] | Iterable[tuple[str, Param | None]]) -> str:
    """The query string, in the given order; None values are left out."""
    pairs = params.items() if isinstance(params, Mapping) else params
    return "&".join(
        f"{quote(key, safe='')}={quote(wire_value(value), safe='')}"
        for key, value in pairs
        if value is not None
    )


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed(query: str, secret: str) -> str:
    """`query` with its signature appended as the last parameter."""
    signature = sign(secret, query)
    return f"{query}&signature={signature}" if query else f"signature={signature}"
