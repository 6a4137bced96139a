"""The whole-run report: its figures by hand, the gap check, and the files a simulation writes."""

from __future__ import annotations

import gzip
import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from slt.adapters.replay import market_prices, parse_data_arg
from slt.adapters.replay.market_prices import kline_prices, missing_bars
from slt.application.reporting.run_analysis import DataGap, PriceSeries, build_run_report
from slt.data import bundled_sources
from slt.domain.values import Bar
from slt.entrypoints.cli import main
from slt.ports.store import TradeRecord

H = 3_600_000
D = 24 * H
T0 = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000)
BTC = Path(__file__).resolve().parents[1] / "slt/data/market/BTCUSDT-5m-20251130-20260129.csv.gz"
Capsys = pytest.CaptureFixture[str]


def trade(pid: int, symbol: str, side: str, open_ms: int, close_ms: int, pnl: str,
          reason: str = "take_profit") -> TradeRecord:
    return TradeRecord(pid, symbol, side, Decimal(1), Decimal(100), Decimal(101), Decimal("0.1"),
                       Decimal(pnl), open_ms, close_ms, reason)


TRADES = (
    trade(1, "BTCUSDT", "LONG", T0 + H, T0 + 3 * H, "20"),  # day 1: +20
    trade(2, "ETHUSDT", "SHORT", T0 + 2 * H, T0 + D + H, "-50", "stop_loss"),  # day 2: -50
    trade(3, "BTCUSDT", "LONG", T0 + 2 * D, T0 + 2 * D + 2 * H, "10"),  # day 3: +10
    trade(4, "BTCUSDT", "SHORT", T0 + 2 * D + 3 * H, T0 + 2 * D + 4 * H, "0", "max_holding"),
)
PRICES = {
    "BTCUSDT": PriceSeries("BTCUSDT", (T0, T0 + D, T0 + 3 * D - 1), (100.0, 110.0, 120.0)),
    "ETHUSDT": PriceSeries("ETHUSDT", (T0, T0 + D, T0 + 3 * D - 1), (50.0, 45.0, 40.0)),
}


def report():  # type: ignore[no-untyped-def]
    return build_run_report("t", T0, T0 + 3 * D, start_wallet=Decimal(1000), trades=TRADES,
                            prices=PRICES, symbols=("BTCUSDT", "ETHUSDT"))


def test_totals_drawdown_and_streaks() -> None:
    r = report()
    assert (r.count, r.wins, r.draws, r.losses) == (4, 2, 1, 1)
    assert r.final_wallet == Decimal(980) and r.net_pnl == Decimal(-20)
    assert r.profit_factor == pytest.approx(30 / 50)
    assert r.expectancy == Decimal(-5)
    assert r.fees == Decimal("0.4")
    # equity 1000 -> 1020 (peak, day 1 03:00) -> 970 (trough, day 2 01:00) -> 980 -> 980
    assert r.max_drawdown == Decimal(50)
    assert r.max_drawdown_pct == pytest.approx(50 / 1020)
    assert (r.drawdown_peak_ms, r.drawdown_trough_ms) == (T0 + 3 * H, T0 + D + H)
    assert (r.max_wins_in_row, r.max_losses_in_row) == (1, 1)
    assert r.best_trade == TRADES[0] and r.worst_trade == TRADES[1]
    # profit % of the notional (1 x 100): +20%, -50%, +10%, 0%
    assert r.avg_profit_pct == pytest.approx((0.2 - 0.5 + 0.1 + 0.0) / 4)


def test_daily_ratios_follow_the_stated_conventions() -> None:
    r = report()
    assert [v for _, v in r.daily_equity] == [Decimal(x) for x in (1000, 1020, 970, 980)]
    returns = [1020 / 1000 - 1, 970 / 1020 - 1, 980 / 970 - 1]
    mean = sum(returns) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in returns) / 2)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in returns) / 3)
    assert r.ratios.sharpe == pytest.approx(mean / std * math.sqrt(365))
    assert r.ratios.sortino == pytest.approx(mean / downside * math.sqrt(365))
    cagr = 0.98 ** (365 / 3) - 1
    assert r.ratios.cagr == pytest.approx(cagr)
    assert r.ratios.calmar == pytest.approx(cagr / (50 / 1020))
    assert (r.days, r.winning_days, r.losing_days) == (3, 2, 1)
    assert r.best_day == (T0 + D, Decimal(20)) and r.worst_day == (T0 + 2 * D, Decimal(-50))
    assert (r.min_balance, r.max_balance) == (Decimal(970), Decimal(1020))
    assert r.volume == 4 * Decimal(201)  # 1 x (100 + 101) per trade


def test_exposure_groups_durations_and_market_change() -> None:
    r = report()
    # open: [1h, 3h) and [2h, 25h) overlap -> [1h, 25h); then [48h, 50h) and [51h, 52h)
    assert r.exposure == pytest.approx((24 + 2 + 1) / 72)
    assert r.max_open == 2
    assert [(g.key, g.trades, g.net_pnl) for g in r.per_symbol] == [
        ("BTCUSDT", 3, Decimal(30)), ("ETHUSDT", 1, Decimal(-50))]
    assert [(g.key, g.wins, g.draws, g.losses) for g in r.per_exit] == [
        ("max_holding", 0, 1, 0), ("stop_loss", 0, 0, 1), ("take_profit", 2, 0, 0)]
    assert [(g.key, g.trades) for g in r.per_month] == [("2025-12", 4)]
    assert [(g.key, g.trades) for g in r.per_side] == [("LONG", 2), ("SHORT", 2)]
    durations = {d.kind: d for d in r.durations}
    assert (durations["winners"].shortest_ms, durations["winners"].longest_ms) == (2 * H, 2 * H)
    assert durations["losers"].average_ms == 23 * H
    assert durations["all"].trades == 4
    assert dict(r.market_change_by_symbol) == pytest.approx({"BTCUSDT": 0.2, "ETHUSDT": -0.2})
    assert r.market_change == pytest.approx(0.0)
    # the basket at each day's end: (110/100 + 45/50) / 2 = 1.0 after day 1
    assert [v for _, v in r.buy_and_hold] == pytest.approx([1.0, 1.0, 1.0, 1.0])


def test_no_trades_gives_a_report_without_ratios() -> None:
    r = build_run_report("t", T0, T0 + D, start_wallet=Decimal(1000), trades=(), prices={})
    assert r.count == 0 and r.profit_factor is None and r.best_trade is None
    assert r.ratios.sharpe is None and r.ratios.sortino is None and r.ratios.calmar is None
    assert r.exposure == 0.0 and r.market_change is None


def test_missing_bars_are_found_between_bars() -> None:
    m5 = 300_000
    bars = [Bar(T0 + i * m5, 1, 1, 1, 1, 1) for i in (0, 1, 2, 9, 10, 12)]
    assert missing_bars("X", bars, m5) == [
        DataGap("X", T0 + 3 * m5, T0 + 9 * m5, 6),
        DataGap("X", T0 + 11 * m5, T0 + 12 * m5, 1),
    ]


def gapped_btc(tmp_path: Path) -> Path:
    """The first bundled day of BTCUSDT with 10:00..10:30 (six 5-minute bars) cut out."""
    with gzip.open(BTC, "rt") as f:
        lines = f.read().splitlines()
    day = [lines[0], *lines[289:577]]  # 2025-12-01
    ten = T0 + 10 * H
    kept = [x for x in day if not x[0].isdigit() or not ten <= int(x.split(",")[0]) < ten + H // 2]
    assert len(kept) == len(day) - 6
    path = tmp_path / "BTCUSDT-5m-gap.csv"
    path.write_text("\n".join(kept) + "\n")
    return path


def test_a_gap_in_klines_is_found_by_the_price_reader(tmp_path: Path) -> None:
    sources = [bundled_sources()[1], parse_data_arg(str(gapped_btc(tmp_path)))]
    prices, gaps = kline_prices(sources, T0, T0 + D)
    assert gaps == [DataGap("BTCUSDT", T0 + 10 * H, T0 + 10 * H + H // 2, 6)]
    assert set(prices) == {"BTCUSDT", "DOGEUSDT"}
    assert len(prices["BTCUSDT"].prices) == 288 - 6


def test_simulate_warns_of_the_gap_and_writes_a_self_contained_report(
    tmp_path: Path, capsys: Capsys
) -> None:
    out = tmp_path / "out"
    data = gapped_btc(tmp_path)
    eth = bundled_sources()[2].path
    argv = ["simulate", "--data", str(data), "--data", str(eth), "--out", str(out),
            "--start", "2025-12-01", "--end", "2025-12-02"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "warning: 1 gap in the klines (no bars, prices frozen):" in text
    assert "  BTCUSDT: no bars from 2025-12-01 10:00 to 2025-12-01 10:30 (6 missing)" in text
    assert f"report: {out / 'report.html'}" in text
    page = (out / "report.html").read_text()
    for title in ("Per pair", "Monthly", "Exit reasons", "Trade durations", "Data gaps",
                  "Equity and drawdown", "Trades over the price"):
        assert f"<h2>{title}</h2>" in page
    assert "Sharpe" in page and "market change (buy and hold of the pairs)" in page
    # self-contained: no script, no external stylesheet or image, nothing fetched
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert images == ["equity and drawdown", "BTCUSDT price with trades",
                      "ETHUSDT price with trades"]
    md = (out / "report.md").read_text()
    assert md.startswith("# slt simulation report\n")
    assert "| pair | trades | avg profit % |" in md
    assert "| TOTAL |" in md
    assert "BTCUSDT: no bars from 2025-12-01 10:00 to 2025-12-01 10:30 (6 missing)" in md

    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["data_gaps"] == 1 and summary["report"] == str(out / "report.html")
    assert 0.0 <= summary["exposure"] <= 1.0 and "sharpe" in summary and "sortino" in summary
    assert f"exposure: {summary['exposure']:.1%}" in text


def test_quote_files_give_one_mid_per_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = Path(__file__).parent / "fixtures/replay/alts-2021-04-05-quotes-head300.csv"
    rows = [line.split(",") for line in fixture.read_text().splitlines()[1:]]
    first, last = int(rows[0][1]), int(rows[-1][1]) + 1
    monkeypatch.setattr(market_prices, "QUOTE_POINTS", 3)
    prices = market_prices.quote_prices([parse_data_arg(str(fixture))], first, last)
    assert set(prices) == {r[0] for r in rows}
    bucket = (last - first) // 3
    for symbol, series in prices.items():
        mine = [r for r in rows if r[0] == symbol]
        assert 1 <= len(series.prices) <= 3 + 1  # the remainder of the span is a bucket too
        assert list(series.times_ms) == sorted(set(series.times_ms))
        # each point is the last mid of its bucket
        end = series.times_ms[-1] + 1
        inside = [r for r in mine if int(r[1]) < end]
        assert series.prices[-1] == pytest.approx((float(inside[-1][2]) + float(inside[-1][4])) / 2)
        assert all((t + 1 - first) % bucket == 0 or t == last - 1 for t in series.times_ms)
