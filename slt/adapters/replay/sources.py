"""What to replay: a file, optionally labelled with the symbol it holds, or a folder of them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from slt.domain.values import DAY_MS, HOUR_MS, MINUTE_MS

_SYMBOL = re.compile(r"[A-Z0-9]+")
# A leading token of capitals and digits that holds at least one letter, so a file named by
# date ("20240718-quotes.csv") is not taken for a symbol.
_NAME_SYMBOL = re.compile(r"(?=[0-9]*[A-Z])([A-Z0-9]{2,})(?:[-_.]|$)")
_NAME_INTERVAL = re.compile(r"(?:^|[-_.])([1-9][0-9]*)([smhdw])(?=[-_.]|$)")
_UNIT_MS = {"s": 1000, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


@dataclass(frozen=True, slots=True)
class DataSource:
    """A data file and the symbol the user says it holds.

    `symbol` None: take it from the file (a `symbol` column, else the file name). Given for a
    multi-symbol file, it selects that symbol's rows.
    """

    path: Path
    symbol: str | None = None


def parse_data_arg(text: str) -> DataSource:
    """Parse a CLI value `[SYMBOL=]PATH`.

    The text before the first `=` is a symbol only if it looks like one, so a path that merely
    contains `=` (`runs/spread=1/x.csv`) stays a path.
    """
    head, sep, tail = text.partition("=")
    if sep and _SYMBOL.fullmatch(head):
        if not tail:
            raise ValueError(f"--data {text!r}: no file after {head}=")
        return DataSource(Path(tail), head)
    if not text:
        raise ValueError("--data: empty path")
    return DataSource(Path(text))


def is_symbol(text: str) -> bool:
    return _SYMBOL.fullmatch(text) is not None


def symbol_from_name(path: Path) -> str | None:
    """`BTCUSDT` from `BTCUSDT-quotes.csv.gz` or `BTCUSDT-5m-20251130-20260129.csv.gz`."""
    match = _NAME_SYMBOL.match(path.name)
    return match.group(1) if match else None


def interval_from_name(path: Path) -> int | None:
    """Bar interval in ms from a token like `5m` or `1h` in the file name, if there is one."""
    stem = path.name.split(".", 1)[0]
    match = _NAME_INTERVAL.search(stem)
    return int(match.group(1)) * _UNIT_MS[match.group(2)] if match else None


# Files a folder given to --data contributes: CSV, gzip or zip (as Binance's public archive ships
# them: `BTCUSDT-5m-2024-01.zip`, `BTCUSDT-bookTicker-2024-01-01.zip`).
_DATA_SUFFIXES = (".csv", ".gz", ".zip")
# Archive kinds in a folder that are not market data to replay.
FUNDING_TOKEN = "-fundingRate-"
_NOT_REPLAYED = {"-trades-": "individual trades"}


def is_data_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_DATA_SUFFIXES) and not path.name.startswith(".")


def is_funding_file(path: Path) -> bool:
    return FUNDING_TOKEN in path.name


def files_in(folder: Path) -> list[Path]:
    """Data files under `folder` (and its subfolders), by path."""
    return sorted(p for p in folder.rglob("*") if is_data_file(p))


def expand_sources(sources: Iterable[DataSource]) -> list[DataSource]:
    """Sources with every folder replaced by the market data files under it, in path order.

    Funding-rate files, in folders or named alone, are left out (read them with
    `FundingRates`); individual-trade files are refused by name (aggregate trades, quotes and
    klines are replayed).
    """
    out: list[DataSource] = []
    for source in sources:
        if not source.path.is_dir():
            if not is_funding_file(source.path):
                out.append(source)
            continue
        if source.symbol is not None:
            raise ValueError(
                f"--data {source.symbol}={source.path}: SYMBOL= names a file, not a folder"
            )
        files = files_in(source.path)
        found = [p for p in files if not is_funding_file(p)]
        for path in found:
            kind = next((k for t, k in _NOT_REPLAYED.items() if t in path.name), None)
            if kind is not None:
                raise ValueError(
                    f"{path}: {kind} are not replayed (quotes, klines and aggTrades are); "
                    "give --data the klines, bookTicker or aggTrades folder"
                )
        if not files:  # a folder of funding files only (`slt-data/fundingRate`) is fine
            raise ValueError(f"--data {source.path}: no market data files in the folder")
        out.extend(DataSource(p) for p in found)
    return out
