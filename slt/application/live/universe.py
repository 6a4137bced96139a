"""Which symbols to trade when the configuration names none."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Protocol


class Ticker(Protocol):
    symbol: str
    quoteVolume: Decimal


def most_traded(tickers: Iterable[Ticker], tradable: Mapping[str, object], n: int) -> list[str]:
    """The `n` USDT perpetuals with the largest 24 h quote volume, among tradable symbols.

    Ties are broken by symbol so that the choice is reproducible.
    """
    rows = [t for t in tickers if t.symbol.endswith("USDT") and t.symbol in tradable]
    rows.sort(key=lambda t: (-t.quoteVolume, t.symbol))
    return [t.symbol for t in rows[:n]]
