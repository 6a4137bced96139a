"""Recorded funding rates, from Binance's public archive (`BTCUSDT-fundingRate-2024-01.zip`).

A file holds one symbol's funding events, `calc_time,funding_interval_hours,last_funding_rate`
(header optional; plain, gzip or zip); the symbol comes from the file name. A positive rate
means longs pay shorts: at each event a position pays `qty * mark price * rate` if long and
receives it if short.

    rates = FundingRates.load([Path("data/fundingRate")])   # files, or folders of them
    rates.events("BTCUSDT", start_ms, end_ms)                 # events with start <= time < end
    rates.rate_at("BTCUSDT", ts_ms)                           # the latest event at or before ts
    rates.last_rate("BTCUSDT", now_ms)                        # the same as a feature reads it

`funding_sources` picks the funding files out of what `--data` names (files, and the
`-fundingRate-` files in folders), so one archive folder feeds the replay and the funding.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from slt.adapters.replay.errors import ReplayError
from slt.adapters.replay.rows import READ_ERRORS, parse_ms
from slt.adapters.replay.sources import (
    FUNDING_TOKEN,
    DataSource,
    files_in,
    is_funding_file,
    symbol_from_name,
)
from slt.adapters.replay.textio import open_text
from slt.ports.funding_rates import STALE_AFTER_MS

FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")


@dataclass(frozen=True, slots=True)
class FundingRate:
    symbol: str
    time_ms: int  # calc_time: the funding moment
    rate: Decimal  # last_funding_rate, exact as recorded
    interval_hours: int | None  # hours until the next funding, when the file says


class FundingRates:
    """Funding events per symbol, in time order."""

    def __init__(self, events: Iterable[FundingRate]) -> None:
        by_symbol: dict[str, dict[int, FundingRate]] = {}
        for e in events:
            seen = by_symbol.setdefault(e.symbol, {})
            have = seen.get(e.time_ms)
            if have is not None and have.rate != e.rate:
                raise ValueError(
                    f"{e.symbol} funding at {e.time_ms}: two rates, {have.rate} and {e.rate}"
                )
            seen[e.time_ms] = e
        self._events = {s: [seen[t] for t in sorted(seen)] for s, seen in sorted(by_symbol.items())}
        self._times = {s: [e.time_ms for e in events] for s, events in self._events.items()}

    @classmethod
    def load(cls, paths: Iterable[Path]) -> FundingRates:
        """Funding files, or folders searched for files named like `SYMBOL-fundingRate-...`.

        Raises ReplayError naming the file (and line) of anything unreadable."""
        events: list[FundingRate] = []
        for path in paths:
            files = [p for p in files_in(path) if FUNDING_TOKEN in p.name] if path.is_dir() else [
                path
            ]
            for file in files:
                events.extend(read_funding_file(file))
        try:
            return cls(events)
        except ValueError as exc:
            raise ReplayError(", ".join(str(p) for p in paths), str(exc)) from None

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._events)

    def all_events(self) -> list[FundingRate]:
        """Every event of every symbol, by symbol then time."""
        return [e for events in self._events.values() for e in events]

    def events(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingRate]:
        """Events of `symbol` with start_ms <= time_ms < end_ms, oldest first."""
        times = self._times.get(symbol, [])
        lo = bisect.bisect_left(times, start_ms)
        hi = bisect.bisect_left(times, end_ms)
        return self._events[symbol][lo:hi] if times else []

    def rate_at(self, symbol: str, ts_ms: int) -> FundingRate | None:
        """The latest event of `symbol` at or before `ts_ms`, None if there is none."""
        times = self._times.get(symbol, [])
        i = bisect.bisect_right(times, ts_ms)
        return self._events[symbol][i - 1] if i else None

    def last_rate(self, symbol: str, now_ms: int) -> float | None:
        """The FundingHistory port (slt.ports.funding_rates) over the recorded events."""
        event = self.rate_at(symbol, now_ms)
        if event is None or now_ms - event.time_ms > STALE_AFTER_MS:
            return None
        return float(event.rate)


def funding_sources(sources: Iterable[DataSource]) -> list[Path]:
    """The funding-rate files and the folders holding some, among `--data` sources."""
    paths = []
    for source in sources:
        path = source.path
        if path.is_dir():
            if any(FUNDING_TOKEN in p.name for p in files_in(path)):
                paths.append(path)
        elif is_funding_file(path):
            paths.append(path)
    return paths


def read_funding_file(path: Path) -> list[FundingRate]:
    symbol = symbol_from_name(path)
    if symbol is None:
        raise ReplayError(path, "no symbol: name funding files like BTCUSDT-fundingRate-2024-01")
    events: list[FundingRate] = []
    try:
        with open_text(path) as fh:
            for line, text in enumerate(fh, 1):
                fields = [f.strip() for f in text.split(",")]
                if not any(fields):
                    continue
                if line == 1 and fields[0] and not fields[0][0].isdigit():
                    if tuple(f.lower() for f in fields) != FUNDING_COLUMNS:
                        raise ReplayError(
                            path, f"header {text.strip()!r} is not {','.join(FUNDING_COLUMNS)}", 1
                        )
                    continue
                events.append(_event(path, line, symbol, fields))
    except READ_ERRORS as exc:
        raise ReplayError(path, f"cannot be read ({exc})") from None
    return events


def _event(path: Path, line: int, symbol: str, fields: list[str]) -> FundingRate:
    if len(fields) != len(FUNDING_COLUMNS):
        raise ReplayError(path, f"has {len(fields)} fields, expected {len(FUNDING_COLUMNS)}", line)
    time_ms = parse_ms(path, line, "calc_time", fields[0])
    try:
        rate = Decimal(fields[2])
    except InvalidOperation:
        raise ReplayError(path, f"last_funding_rate {fields[2]!r} is not a number", line) from None
    if not rate.is_finite() or abs(rate) >= 1:
        raise ReplayError(path, f"last_funding_rate {fields[2]!r} is not a plausible rate", line)
    hours = None
    if fields[1]:
        if not fields[1].isdigit() or int(fields[1]) == 0:
            raise ReplayError(
                path, f"funding_interval_hours {fields[1]!r} is not a whole number of hours", line
            )
        hours = int(fields[1])
    return FundingRate(symbol, time_ms, rate, hours)
