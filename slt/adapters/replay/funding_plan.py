"""Which funding a simulation charges: the recorded rates among the `--data` sources (Binance's
`SYMBOL-fundingRate-YYYY-MM` files), else the configured default, stated once per run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from slt.adapters.replay import DataSource, FundingRates
from slt.adapters.replay.funding import funding_sources

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FundingPlan:
    rates: FundingRates  # the recorded events (none: every symbol at the default)
    note: str  # for the summary and the run report: where each symbol's funding comes from


def funding_plan(
    sources: Sequence[DataSource], symbols: Sequence[str], default_rate: Decimal
) -> FundingPlan:
    """Read the funding files named by `sources`; raises ReplayError naming a bad file."""
    paths = funding_sources(sources)
    rates = FundingRates.load(paths) if paths else FundingRates(())
    recorded = [s for s in symbols if s in rates.symbols]
    without = [s for s in symbols if s not in rates.symbols]
    default = f"default rate {default_rate} per 8 h (simulation.funding_rate)"
    parts = []
    if recorded:
        events = sum(len(rates.events(s, 0, 2**62)) for s in recorded)
        parts.append(f"recorded rates for {', '.join(recorded)} ({events} events)")
    if without:
        parts.append(f"no recorded rates for {', '.join(without)}: {default}")
        log.warning("funding: no recorded rates for %s; charging the %s", ", ".join(without),
                    default)
    return FundingPlan(rates, "; ".join(parts))
