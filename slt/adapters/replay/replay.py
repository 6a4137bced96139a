"""One time-ordered stream of quotes over many files, read lazily."""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from operator import itemgetter

from slt.adapters.closing import Closing
from slt.adapters.replay.klines import Spreader, infer_interval, read_kline_quotes, spreader
from slt.adapters.replay.layout import FilePlan, Kind, plan_source
from slt.adapters.replay.quotes import QuoteStream, read_quotes
from slt.adapters.replay.sources import DataSource, expand_sources
from slt.adapters.replay.stats import Counts, FileStats
from slt.adapters.replay.trades import read_trade_quotes
from slt.domain.values import Quote

TickSize = Callable[[str], Decimal | None]

# Merge order: time, then symbol; heapq.merge breaks remaining ties by the order of its
# inputs, which is file order, and never reorders within one input.
_MERGE_KEY = itemgetter(1, 0)


def _no_tick(symbol: str) -> Decimal | None:
    return None


class Replay(Closing):
    """Quotes of all sources in time order; iterate it (again to start over).

    Equal times: by symbol, then by source order; within one multi-symbol file, file order.

    Files are opened when iteration starts and read line by line, so memory stays flat however
    large they are. `stats` reflects the pass in progress or the last one.
    """

    def __init__(
        self,
        plans: list[FilePlan],
        spreads: dict[str, Spreader],
        *,
        start_ms: int | None,
        end_ms: int | None,
    ) -> None:
        self._plans = plans
        self._spreads = spreads
        self._start_ms = start_ms
        self._end_ms = end_ms
        self._counts = [Counts() for _ in plans]
        self._streams: list[QuoteStream] = []

    @property
    def sources(self) -> tuple[DataSource, ...]:
        return tuple(p.source for p in self._plans)

    @property
    def stats(self) -> tuple[FileStats, ...]:
        """Per-file counts, one per source in the order given."""
        return tuple(
            FileStats(
                path=p.path,
                symbol=p.symbol,
                kind=str(p.layout.kind),
                rows_read=c.rows,
                quotes_emitted=c.emitted,
                crossed_skipped=c.crossed,
                filtered_out=c.filtered,
            )
            for p, c in zip(self._plans, self._counts, strict=True)
        )

    def __iter__(self) -> Iterator[Quote]:
        self.close()
        self._counts = [Counts() for _ in self._plans]
        self._streams = [self._stream(p, c) for p, c in zip(self._plans, self._counts, strict=True)]
        if len(self._streams) == 1:
            return self._streams[0]
        return heapq.merge(*self._streams, key=_MERGE_KEY)

    def close(self) -> None:
        """Close the files of an unfinished pass (also done when its iterator is collected)."""
        for stream in self._streams:
            stream.close()
        self._streams = []

    def _stream(self, plan: FilePlan, counts: Counts) -> QuoteStream:
        if plan.layout.kind is Kind.QUOTES:
            return read_quotes(plan, counts, self._start_ms, self._end_ms)
        assert plan.symbol is not None
        spread = self._spreads[plan.symbol]
        read = read_trade_quotes if plan.layout.kind is Kind.TRADES else read_kline_quotes
        return read(plan, counts, self._start_ms, self._end_ms, spread)


def open_replay(
    sources: list[DataSource],
    *,
    spread_bps: float = 1.0,
    tick_size: TickSize = _no_tick,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Replay:
    """A replay of `sources` (files, or folders of them), checked up front: every file exists,
    has a known header and a symbol.

    `spread_bps` and `tick_size` shape the quotes made from klines (see `klines`) and from
    aggregate trades (see `trades`); quotes files are replayed as recorded. `start_ms` is
    inclusive, `end_ms` exclusive. Raises ReplayError for unusable files and ValueError for
    unusable arguments; bad rows further in raise ReplayError during iteration.
    """
    if not sources:
        raise ValueError("no data sources to replay")
    if not (math.isfinite(spread_bps) and 0 <= spread_bps < 20_000):
        raise ValueError(f"spread_bps {spread_bps} must be in [0, 20000)")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ValueError(f"end_ms {end_ms} is not after start_ms {start_ms}")
    plans = [_resolve(plan_source(s)) for s in expand_sources(sources)]
    spreads = {
        p.symbol: spreader(spread_bps, tick_size(p.symbol))
        for p in plans
        if p.layout.kind is not Kind.QUOTES and p.symbol is not None
    }
    return Replay(plans, spreads, start_ms=start_ms, end_ms=end_ms)


def _resolve(plan: FilePlan) -> FilePlan:
    """Find a klines file's interval now, so a file that lacks one fails before the run."""
    if plan.layout.kind is Kind.KLINES:
        return dataclasses.replace(plan, interval_ms=infer_interval(plan))
    return plan
