"""Prices of a run's data for its report (market change, price charts), and the gaps in its
klines.

Read after the replay, from the same files, through the replay's own readers: a second pass
that keeps the replay's hot path free of bookkeeping for the report. Klines give their bar
closes (the bundled two months of 5 symbols are ~86k bars, a fraction of a second). Quote
files give one mid price per time bucket, at most QUOTE_POINTS per symbol: enough for a chart,
and a pass over the quotes costs about what parsing them cost the replay. Quotes have no bars,
so they get no gap check.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

from slt.adapters.replay import DataSource, open_replay, read_bars
from slt.adapters.replay.klines import infer_interval
from slt.adapters.replay.layout import Kind, plan_source
from slt.application.reporting.run_analysis import DataGap, PriceSeries
from slt.domain.values import Bar


def kline_prices(
    sources: Sequence[DataSource], start_ms: int, end_ms: int
) -> tuple[dict[str, PriceSeries], list[DataGap]]:
    """Bar closes per symbol in [start_ms, end_ms) (at each bar's close time), and the runs of
    missing bars between the first and the last bar of each symbol, in time order."""
    bars: dict[str, list[Bar]] = defaultdict(list)
    intervals: dict[str, int] = {}
    for source in sources:
        plan = plan_source(source)
        if plan.layout.kind is not Kind.KLINES or plan.symbol is None:
            continue
        interval = infer_interval(plan)
        if interval is None:
            continue
        intervals[plan.symbol] = min(interval, intervals.get(plan.symbol, interval))
        bars[plan.symbol].extend(read_bars(source, start_ms=start_ms, end_ms=end_ms))
    prices = {}
    gaps = []
    for symbol in sorted(bars):
        series = sorted(bars[symbol])
        interval = intervals[symbol]
        prices[symbol] = PriceSeries(
            symbol,
            tuple(b.open_ms + interval - 1 for b in series),
            tuple(b.close for b in series),
        )
        gaps += missing_bars(symbol, series, interval)
    gaps.sort(key=lambda g: (g.start_ms, g.symbol))
    return prices, gaps


def missing_bars(symbol: str, bars: Sequence[Bar], interval: int) -> list[DataGap]:
    return [
        DataGap(symbol, a.open_ms + interval, b.open_ms, (b.open_ms - a.open_ms) // interval - 1)
        for a, b in itertools.pairwise(bars)
        if b.open_ms - a.open_ms >= 2 * interval
    ]


QUOTE_POINTS = 4000


def quote_prices(
    sources: Sequence[DataSource], start_ms: int, end_ms: int
) -> dict[str, PriceSeries]:
    """The last mid price of each bucket of (end - start) / QUOTE_POINTS, per symbol of the
    quote files among `sources`, stamped at the bucket's end."""
    quoted = [s for s in sources if plan_source(s).layout.kind is Kind.QUOTES]
    if not quoted or end_ms <= start_ms:
        return {}
    bucket = max(1, (end_ms - start_ms) // QUOTE_POINTS)
    last: dict[str, dict[int, float]] = defaultdict(dict)
    with open_replay(quoted, start_ms=start_ms, end_ms=end_ms) as stream:
        for quote in stream:
            last[quote.symbol][(quote.ts_ms - start_ms) // bucket] = (quote.bid + quote.ask) / 2
    return {
        symbol: PriceSeries(
            symbol,
            tuple(min(start_ms + (k + 1) * bucket, end_ms) - 1 for k in mids),
            tuple(mids.values()),
        )
        for symbol, mids in sorted(last.items())
    }
