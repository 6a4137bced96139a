"""What a replay leaves out and the simulated exchange (slt.adapters.fake_exchange) puts
back: where a triggered stop really fills, funding payments, and liquidation.

Stop fills. A triggered STOP_MARKET / TAKE_PROFIT_MARKET executes at its trigger price, or at
the first quote beyond it when price jumped over it (a gap), worsened by `slippage_bps`. Which
of the two depends on what the quotes are:

* recorded quotes (bookTicker): every quote is real, so the first one at or beyond the trigger
  is where the market was: the order fills there (a gap costs what it really cost);
* quotes expanded from klines (open, extremes, close: slt.adapters.replay.klines): the quotes
  inside a bar are points on a continuous path, which went through the trigger before reaching
  the extreme; only a bar's open can lie beyond the trigger with nothing traded in between
  (the gap from the previous close). So inside a bar the fill is at the trigger, at a bar's
  open it is the open.

The bot's own price-rule exits (take-profit, trailing stop: market orders it sends when a quote
crosses the level, `OrderRequest.reacts_to`) fill by the same rule: on a kline's path at the
level, not at the bar's extreme, which a live bot watching every quote would never have waited
for; virtual positions are labelled alike (slt.application.trader.virtual), so the permission
layer's evidence is what real fills would have given.

Which extreme a kline's path visits first is one fixed order for every position (up bars low
first, down bars high first), so it favours a short in an up bar whose stop and target both
lie inside the bar. With stops of the strategy's ATR-based distance, no candidate on the bundled
5-minute data met such a bar (0 of 2,486 labelled outcomes that hit a level); shorter stops or
longer bars would need the stop-first rule per position.

Funding. Every 8 h (00:00, 08:00, 16:00 UTC) each open position pays (or receives)
qty * mark * rate: a long pays a positive rate, a short receives it. Rates come from a
`FundingRates` (the fundingRate files recorded among the data, read by
slt.adapters.replay.funding), else a constant default (0 unless configured).

Liquidation. Isolated-margin formula per position: a long is liquidated when the mark falls to
entry * (1 - 1/leverage + mmr), a short when it rises to entry * (1 + 1/leverage - mmr), with the
maintenance margin rate `mmr` from a setting. (The account is cross margin; the isolated price
is the conservative one for a bot that risks a small fraction per position.)
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

FUNDING_PERIOD_MS = 8 * 3_600_000
BPS = Decimal("0.0001")


class FundingRates(Protocol):
    def rate_at(self, symbol: str, ts_ms: int) -> Decimal:
        """The funding rate settled for `symbol` at the funding time `ts_ms`."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedFunding:
    """Recorded rates, `{symbol: [(calc_time_ms, rate), ...]}` sorted by time (Binance's archive
    `calc_time,funding_interval_hours,last_funding_rate`), with `default` for funding times
    that have no record within the period before them (another symbol, a gap in the file)."""

    rates: Mapping[str, Sequence[tuple[int, Decimal]]] = field(default_factory=dict)
    default: Decimal = Decimal(0)

    def rate_at(self, symbol: str, ts_ms: int) -> Decimal:
        series = self.rates.get(symbol)
        if not series:
            return self.default
        i = bisect.bisect_right(series, ts_ms, key=lambda row: row[0]) - 1
        if i < 0 or series[i][0] <= ts_ms - FUNDING_PERIOD_MS:
            return self.default
        return series[i][1]


@dataclass(frozen=True, slots=True)
class Realism:
    """The simulated exchange's realism settings (see the module doc)."""

    slippage_bps: Decimal = Decimal(0)  # on every triggered conditional order
    maintenance_margin_rate: Decimal = Decimal("0.004")
    funding: FundingRates = field(default_factory=RecordedFunding)

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.slippage_bps <= Decimal(1000):
            raise ValueError("simulation.stop_slippage_bps must be in [0, 1000]")
        if not Decimal(0) <= self.maintenance_margin_rate < Decimal("0.5"):
            raise ValueError("simulation.maintenance_margin_rate must be in [0, 0.5)")


def trigger_fill(
    level: Decimal, quote_price: Decimal, buy: bool, in_bar: bool, slippage_bps: Decimal
) -> Decimal:
    """The price a triggered conditional order fills at, before rounding to the tick."""
    base = level if in_bar else quote_price
    slip = slippage_bps * BPS
    return base * (1 + slip) if buy else base * (1 - slip)


def liquidation_price(entry: Decimal, long: bool, leverage: int, mmr: Decimal) -> Decimal:
    margin = Decimal(1) / leverage
    return entry * (1 - margin + mmr) if long else entry * (1 + margin - mmr)
