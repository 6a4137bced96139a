"""The sample data shipped inside the slt package: two months of 5-minute klines for five
symbols (market/) and Binance's exchangeInfo (exchange_info.json).

The lookup lives next to the files so that every reader (`slt simulate`, `slt evaluate`, the
emulator) finds them the same way without importing one another.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import orjson

from slt.adapters.replay.sources import DataSource
from slt.domain.filters import SymbolFilters, filters_from_exchange_info

_HERE = resources.files(__name__)


def bundled_sources() -> list[DataSource]:
    """The bundled market files, sorted by name (the default of `--data`)."""
    market = _HERE / "market"
    return [
        DataSource(Path(str(market / name)), None)
        for name in sorted(p.name for p in market.iterdir() if p.name.endswith((".csv", ".gz")))
    ]


def bundled_exchange_info() -> dict:
    """The exchangeInfo document shipped with slt (slt/data/exchange_info.json)."""
    return orjson.loads((_HERE / "exchange_info.json").read_bytes())


def bundled_filters() -> dict[str, SymbolFilters]:
    """Symbol filters of every symbol in the bundled exchangeInfo."""
    return filters_from_exchange_info(bundled_exchange_info())
