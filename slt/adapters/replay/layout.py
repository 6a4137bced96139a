"""What a data file holds, read from its header: kind, column positions and symbol.

Columns are found by name, so their order and any extra columns do not matter. A few other
spellings of the same fields are accepted, notably those of Binance's own CSV dumps
(data.binance.vision `bookTicker`: `transaction_time,best_bid_price,...`; klines: `open_time,...`
and `aggTrades`: `agg_trade_id,price,quantity,...,transact_time,...`, with or without a header
row).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.sources import DataSource, is_symbol, symbol_from_name
from slt.adapters.replay.textio import open_text

QUOTE_COLUMNS = ("ts_ms", "bid_price", "bid_qty", "ask_price", "ask_qty")
KLINE_COLUMNS = ("open_time_ms", "open", "high", "low", "close", "volume")
TRADE_COLUMNS = ("ts_ms", "price", "qty")
SYMBOL_COLUMN = "symbol"
CLOSE_TIME_COLUMN = "close_time_ms"

_ALIASES = {
    "transaction_time": "ts_ms",
    "best_bid_price": "bid_price",
    "best_bid_qty": "bid_qty",
    "best_ask_price": "ask_price",
    "best_ask_qty": "ask_qty",
    "open_time": "open_time_ms",
    "close_time": "close_time_ms",
    "transact_time": "ts_ms",
    "quantity": "qty",
}
# Binance's kline dumps: older ones have no header row, always these twelve columns.
_BINANCE_KLINE_DUMP = (
    "open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms",
    "quote_volume", "trades", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
# Binance's aggTrades dumps: older ones have no header row.
_BINANCE_AGG_TRADES_DUMP = (
    "agg_trade_id", "price", "qty", "first_trade_id", "last_trade_id", "ts_ms", "is_buyer_maker",
)  # fmt: skip
_SAMPLE_BYTES = 1 << 16


class Kind(StrEnum):
    QUOTES = "quotes"
    KLINES = "klines"
    TRADES = "trades"  # aggregate trades: each becomes a quote around its price


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the fields are. `columns` holds the indices of QUOTE_COLUMNS or KLINE_COLUMNS.

    `quoted`: some field is in double quotes, so rows need the csv module instead of a plain
    split (about twice as slow, hence only when needed). `data_line`: 1-based line number of
    the first data row (2 after a header, 1 without one).
    """

    kind: Kind
    columns: tuple[int, ...]
    ncols: int
    symbol_col: int | None
    close_time_col: int | None
    quoted: bool
    data_line: int


@dataclass(frozen=True, slots=True)
class FilePlan:
    """A source resolved against its file.

    `symbol`: the symbol of a single-symbol file, or the symbol selected from a multi-symbol
    file; None to replay every symbol of a multi-symbol file.
    """

    source: DataSource
    layout: Layout
    symbol: str | None
    interval_ms: int | None = None  # klines: bar length once known

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def multi_symbol(self) -> bool:
        return self.layout.symbol_col is not None


def read_layout(path: Path) -> Layout:
    with open_text(path) as fh:
        try:
            head = fh.readline()
            sample = fh.read(_SAMPLE_BYTES)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ReplayError(path, f"cannot be read ({exc})") from None
    if not head.strip():
        raise ReplayError(path, "is empty (no header row)", 1)
    quoted = '"' in head or '"' in sample
    fields = next(csv.reader([head])) if quoted else head.rstrip("\n").split(",")
    return _layout_from_header(path, fields, quoted)


def _layout_from_header(path: Path, fields: list[str], quoted: bool) -> Layout:
    names = [_ALIASES.get(n, n) for n in (f.strip().strip('"').lower() for f in fields)]
    if all(_is_number(n) for n in names):
        if len(names) != len(_BINANCE_KLINE_DUMP):
            raise ReplayError(path, "first row is numbers, not a header naming the columns", 1)
        names, data_line = list(_BINANCE_KLINE_DUMP), 1
    elif (
        len(names) == len(_BINANCE_AGG_TRADES_DUMP)
        and all(_is_number(n) for n in names[:-1])
        and names[-1] in ("true", "false")
    ):
        names, data_line = list(_BINANCE_AGG_TRADES_DUMP), 1
    else:
        data_line = 2
    index = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)  # the first of duplicate names wins, as with csv.DictReader
    if all(c in index for c in QUOTE_COLUMNS):
        kind, wanted = Kind.QUOTES, QUOTE_COLUMNS
    elif all(c in index for c in KLINE_COLUMNS):
        kind, wanted = Kind.KLINES, KLINE_COLUMNS
    elif "agg_trade_id" in index and all(c in index for c in TRADE_COLUMNS):
        # Binance's aggregate trades only: other trade recordings are not meant as a price path.
        kind, wanted = Kind.TRADES, TRADE_COLUMNS
    else:
        raise ReplayError(path, _unknown_header(index), 1)
    symbol_col = index.get(SYMBOL_COLUMN)
    if kind is not Kind.QUOTES and symbol_col is not None:
        raise ReplayError(
            path, f"{kind} with a symbol column are not supported: one file per symbol"
        )
    return Layout(
        kind=kind,
        columns=tuple(index[c] for c in wanted),
        ncols=len(names),
        symbol_col=symbol_col,
        close_time_col=index.get(CLOSE_TIME_COLUMN),
        quoted=quoted,
        data_line=data_line,
    )


def _unknown_header(index: dict[str, int]) -> str:
    missing_q = [c for c in QUOTE_COLUMNS if c not in index]
    missing_k = [c for c in KLINE_COLUMNS if c not in index]
    closest, missing = (
        ("quotes", missing_q) if len(missing_q) <= len(missing_k) else ("klines", missing_k)
    )
    return (
        f"header {','.join(index)} is neither quotes ({','.join(QUOTE_COLUMNS)}) nor klines "
        f"({','.join(KLINE_COLUMNS)}); as {closest} it lacks {','.join(missing)}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def plan_source(source: DataSource) -> FilePlan:
    """Read the header and settle which symbol the file's rows belong to."""
    layout = read_layout(source.path)
    if layout.symbol_col is not None:
        return FilePlan(source, layout, source.symbol)
    symbol = source.symbol or symbol_from_name(source.path)
    if symbol is None:
        raise ReplayError(
            source.path,
            "no symbol: the file has no symbol column and its name does not start with one; "
            f"name it on the command line as SYMBOL={source.path}",
        )
    if not is_symbol(symbol):
        raise ReplayError(source.path, f"{symbol!r} is not a symbol (capitals and digits)")
    return FilePlan(source, layout, symbol)
