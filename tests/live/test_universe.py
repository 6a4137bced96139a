"""The daily universe refresh: most traded symbols, open positions kept, new ones warmed up."""

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from slt.application.live.universe import most_traded
from slt.config import load_settings
from slt.domain.values import Bar
from slt.entrypoints.live import _universe_refresh


@dataclass
class Ticker:
    symbol: str
    quoteVolume: Decimal


def test_most_traded_usdt_perpetuals_in_volume_order_ties_by_symbol() -> None:
    tickers = [
        Ticker("AUSDT", Decimal(5)),
        Ticker("BUSDT", Decimal(9)),
        Ticker("CBTC", Decimal(99)),
        Ticker("DUSDT", Decimal(5)),
        Ticker("EUSDT", Decimal(100)),
    ]
    tradable = {"AUSDT": 1, "BUSDT": 1, "CBTC": 1, "DUSDT": 1}
    assert most_traded(tickers, tradable, 3) == ["BUSDT", "AUSDT", "DUSDT"]


def test_daily_refresh_swaps_symbols_keeps_held_ones_and_warms_up_new_ones() -> None:
    volumes = {"AUSDT": 1, "BUSDT": 2, "CUSDT": 3}
    subscribed: list[list[str]] = []
    warmed: list[tuple[str, str]] = []
    fed: list[str] = []

    async def ticker_24h():  # type: ignore[no-untyped-def]
        return [Ticker(s, Decimal(v)) for s, v in volumes.items()]

    async def klines(symbol: str, interval: str, limit: int):  # type: ignore[no-untyped-def]
        warmed.append((symbol, interval))
        return [Bar(0, 1.0, 1.0, 1.0, 1.0, 1.0)]

    async def set_symbols(symbols):  # type: ignore[no-untyped-def]
        subscribed.append(list(symbols))

    held = SimpleNamespace(symbol="AUSDT")
    container = SimpleNamespace(
        settings=lambda: load_settings(overrides={"live.universe_size": 2}),
        filters=lambda: dict.fromkeys(volumes, object()),
        controller=lambda: SimpleNamespace(positions={1: held}),
        feed=lambda: SimpleNamespace(set_symbols=set_symbols),
        bars=lambda: SimpleNamespace(on_kline=lambda s, i, b, c: fed.append(s)),
    )
    symbols = ["AUSDT", "BUSDT"]
    refresh = _universe_refresh(
        container,
        SimpleNamespace(ticker_24h=ticker_24h),  # type: ignore[arg-type]
        SimpleNamespace(klines=klines),
        symbols,
    )  # type: ignore[arg-type]

    async def main() -> None:
        await refresh(0)  # at start-up the universe is fresh: nothing to do
        assert subscribed == []
        volumes["CUSDT"] = 10  # C is now the most traded, A fell out but still holds a position
        await refresh(86_400_000)

    asyncio.run(main())
    assert subscribed == [["AUSDT", "BUSDT", "CUSDT"]]
    assert symbols == ["AUSDT", "BUSDT", "CUSDT"]
    assert {s for s, _ in warmed} == {"CUSDT"} and len(warmed) == 3  # three intervals
    assert set(fed) == {"CUSDT"}
