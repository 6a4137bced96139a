"""Market-data replay for the simulator: quotes and klines files as one time-ordered quote stream.

Files are CSV, plain, gzip or zip (told apart by content), with a header naming the columns, or
folders of them (Binance's public archive: `BTCUSDT-5m-2024-01.zip`, with or without header):

* quotes: `ts_ms,bid_price,bid_qty,ask_price,ask_qty` (more columns allowed, any order), with an
  optional `symbol` column for files holding several symbols;
* klines: `open_time_ms,open,high,low,close,volume[,close_time_ms,...]`, one symbol per file,
  expanded into four quotes per bar as the `klines` module describes.

A file without a symbol column takes its symbol from the user (`SYMBOL=PATH`) or from its name
(`BTCUSDT-5m-....csv.gz`). Rows that cannot be replayed faithfully stop the replay with a
ReplayError naming file and line; crossed quotes (bid > ask) are counted and skipped.
"""

from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.funding import FundingRate, FundingRates
from slt.adapters.replay.inspection import SymbolInfo, inspect_sources, time_span
from slt.adapters.replay.klines import read_bars
from slt.adapters.replay.quotes import REORDER_WINDOW_MS
from slt.adapters.replay.replay import Replay, TickSize, open_replay
from slt.adapters.replay.sources import DataSource, expand_sources, parse_data_arg
from slt.adapters.replay.stats import FileStats

__all__ = [
    "REORDER_WINDOW_MS",
    "DataSource",
    "FileStats",
    "FundingRate",
    "FundingRates",
    "Replay",
    "ReplayError",
    "SymbolInfo",
    "TickSize",
    "expand_sources",
    "inspect_sources",
    "open_replay",
    "parse_data_arg",
    "read_bars",
    "time_span",
]
