"""Funding in the simulation: recorded rates (Binance's fundingRate archive files among the
`--data` sources) charged to open positions at their recorded times, into the ledger, the
trades' P&L, the summary and the run report; the default rate, said once, for the others."""

from __future__ import annotations

import json
import math
import sqlite3
import zipfile
from decimal import Decimal as D
from pathlib import Path

import pytest

from slt.adapters.fake_exchange import FakeExchange
from slt.domain.account_events import AccountEvent, BalanceChange
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.realism import Realism, RecordedFunding
from slt.domain.values import Quote, Side
from slt.entrypoints.cli import main
from tests.test_fake_exchange import BTC, BTC_FILTERS, ManualClock, run

H8 = 8 * 3_600_000
ETH = "ETHUSDT"


def exchange(realism: Realism | None = None) -> tuple[FakeExchange, list[AccountEvent]]:
    ex = FakeExchange({BTC: BTC_FILTERS}, ManualClock(0), wallet=D(10_000), realism=realism)
    events: list[AccountEvent] = []
    ex.add_account_listener(events.append)
    return ex, events


def quote(ex: FakeExchange, ts: int, price: float) -> None:
    ex.on_quote(Quote(BTC, ts, price, 1.0, price, 1.0))


def fees(events: list[AccountEvent]) -> list[tuple[int, D]]:
    return [(e.ts_ms, e.amount) for e in events if isinstance(e, BalanceChange)]


def test_recorded_events_are_charged_at_their_own_time_longs_paying_a_positive_rate() -> None:
    ex, events = exchange(Realism(funding=RecordedFunding(default=D("0.01"))))
    # Archive calc_times lie a few ms after the funding moment; this symbol settles every 4 h.
    ex.set_funding_events([(H8 + 17, BTC, D("0.0001")), (H8 + H8 // 2 + 3, BTC, D("-0.0003"))])
    quote(ex, H8 - 60_000, 100.0)
    run(ex.place(OrderRequest("e", BTC, Side.BUY, OrderType.MARKET, D(10))))
    quote(ex, H8 + 5, 100.0)  # the grid's 08:00 passed, the recorded event not yet
    assert fees(events) == []
    quote(ex, H8 + 1000, 110.0)  # a long pays 10 * 110 * 0.0001 = 0.11
    quote(ex, 2 * H8 + 1, 100.0)  # a negative rate pays the long: 10 * 100 * 0.0003 = 0.3
    assert fees(events) == [(H8 + 17, D("-0.11")), (H8 + H8 // 2 + 3, D("0.3"))]
    assert ex.funding_paid == D("0.11") - D("0.3")  # the default never applies to BTC


def test_a_short_receives_a_positive_rate_and_a_flat_symbol_pays_nothing() -> None:
    ex, events = exchange()
    ex.set_funding_events([(H8, BTC, D("0.0002")), (2 * H8, BTC, D("0.0002"))])
    quote(ex, 1, 100.0)
    run(ex.place(OrderRequest("e", BTC, Side.SELL, OrderType.MARKET, D(10))))
    quote(ex, H8, 100.0)  # 10 * 100 * 0.0002 = 0.2 received
    run(ex.place(OrderRequest("x", BTC, Side.BUY, OrderType.MARKET, D(10), reduce_only=True)))
    quote(ex, 2 * H8, 100.0)
    assert fees(events) == [(H8, D("0.2"))]
    assert ex.funding_paid == D("-0.2")


# -- end to end: `slt simulate --data` with funding files ------------------------------------

BUNDLED = Path(__file__).resolve().parents[1] / "slt" / "data" / "market"
DAY0 = 1_764_547_200_000  # 2025-12-01 00:00 UTC
TWO_DAYS = ["--start", "2025-12-01T00:00", "--end", "2025-12-03T00:00"]
RATE = D("0.001")  # ten times a usual rate, so the payments are plain to see


def funding_rows(header: bool) -> str:
    rows = ["calc_time,funding_interval_hours,last_funding_rate"] if header else []
    rows += [f"{DAY0 + i * H8 + 4},8,{RATE}" for i in range(7)]
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("zipped", [False, True])
def test_simulate_charges_recorded_funding_into_ledger_pnl_summary_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    zipped: bool,
) -> None:
    monkeypatch.setenv("SLT__LEARNER__PERMISSION", "false")  # trade, so positions pay funding
    data = tmp_path / "data"
    data.mkdir()
    for symbol in (BTC, ETH):
        (data / f"{symbol}-5m.csv.gz").write_bytes(
            (BUNDLED / f"{symbol}-5m-20251130-20260129.csv.gz").read_bytes()
        )
    name = "BTCUSDT-fundingRate-2025-12"
    if zipped:
        with zipfile.ZipFile(data / f"{name}.zip", "w") as z:
            z.writestr(f"{name}.csv", funding_rows(header=False))
    else:
        (data / f"{name}.csv").write_text(funding_rows(header=True))
    out = tmp_path / "out"
    assert main(["simulate", "--data", str(data), "--out", str(out), "--json", *TWO_DAYS]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["funding_source"] == (
        "recorded rates for BTCUSDT (7 events); no recorded rates for ETHUSDT: default rate 0 "
        "per 8 h (simulation.funding_rate)"
    )
    db = sqlite3.connect(out / "state.db")
    ledger = db.execute(
        "SELECT l.ts_ms, l.symbol, l.amount, p.direction, p.qty FROM ledger l "
        "JOIN positions p ON p.id = l.position_id WHERE l.kind = 'FUNDING_FEE'"
    ).fetchall()
    assert ledger, "no BTC position was open at a funding time: pick another span"
    for ts_ms, symbol, amount, direction, _ in ledger:
        assert symbol == BTC and (ts_ms - DAY0) % H8 == 4
        assert (D(amount) < 0) == (direction == "LONG")  # a positive rate: longs pay
    paid = -sum((D(a) for _, _, a, _, _ in ledger), D(0))
    assert D(summary["funding"]) == paid.quantize(D("0.0001"))
    # The positions' funding is in their trades' P&L: the trades add up to the final equity.
    pnl = sum((D(r.split(",")[8]) for r in (out / "trades.csv").read_text().split()[1:]), D(0))
    assert abs(D(10_000) + pnl - D(summary["final_equity"])) < D("0.001")
    report = (out / "report.md").read_text()
    assert f"funding: {summary['funding']} USDT paid; recorded rates for BTCUSDT" in report


def test_a_funding_folder_next_to_a_klines_file_and_a_bad_funding_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    funding = tmp_path / "fundingRate"
    funding.mkdir()
    (funding / "BTCUSDT-fundingRate-2025-12.csv").write_text(funding_rows(header=True))
    klines = BUNDLED / "BTCUSDT-5m-20251130-20260129.csv.gz"
    args = ["simulate", "--data", str(klines), "--data", str(funding), "--json", *TWO_DAYS[:2],
            "--end", "2025-12-01T06:00"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert json.loads(capsys.readouterr().out)["funding_source"].startswith(
        "recorded rates for BTCUSDT (7 events)"
    )
    (funding / "BTCUSDT-fundingRate-2025-11.csv").write_text(f"{DAY0 - H8},8,lots\n")
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    assert "BTCUSDT-fundingRate-2025-11.csv" in capsys.readouterr().err


# -- the `funding` feature: known from its settlement time on, never before ------------------


def test_a_rate_is_known_from_its_calc_time_on_and_not_after_a_day(tmp_path: Path) -> None:
    from slt.adapters.replay import FundingRates

    path = tmp_path / "BTCUSDT-fundingRate-2025-12.csv"
    path.write_text(f"{DAY0 + 4},8,0.0001\n{DAY0 + H8 + 4},8,-0.0002\n")
    rates = FundingRates.load([path])
    assert rates.last_rate(BTC, DAY0 + 3) is None  # the first settlement has not happened
    assert rates.last_rate(BTC, DAY0 + 4) == pytest.approx(0.0001)
    assert rates.last_rate(BTC, DAY0 + H8 + 3) == pytest.approx(0.0001)
    assert rates.last_rate(BTC, DAY0 + H8 + 4) == pytest.approx(-0.0002)
    assert rates.last_rate(BTC, DAY0 + H8 + 4 + 24 * 3_600_000 + 1) is None  # a gap: unknown
    assert rates.last_rate(ETH, DAY0 + H8) is None


def test_every_decision_sees_the_last_rate_settled_before_it_and_no_later_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from slt.adapters.sqlite_store import SqliteStore

    data = tmp_path / "data"
    data.mkdir()
    for symbol in (BTC, ETH, "SOLUSDT"):  # SOLUSDT without funding data
        (data / f"{symbol}-5m.csv.gz").write_bytes(
            (BUNDLED / f"{symbol}-5m-20251130-20260129.csv.gz").read_bytes()
        )
    # A different rate at every settlement, so reading a later (or earlier) one shows.
    times = [DAY0 + i * H8 + 4 for i in range(8)]
    recorded = {
        symbol: [D(k * 10 + i + 1) / 100_000 * (-1) ** i for i in range(8)]
        for k, symbol in enumerate((BTC, ETH))
    }
    for symbol, rates in recorded.items():
        (data / f"{symbol}-fundingRate-2025-12.csv").write_text(
            "".join(f"{t},8,{r}\n" for t, r in zip(times, rates, strict=True))
        )
    out = tmp_path / "out"
    assert main(["simulate", "--data", str(data), "--out", str(out), "--json", *TWO_DAYS]) == 0
    capsys.readouterr()
    store = SqliteStore(out / "state.db")
    decisions = [r for r in store.samples() if "features" in r and "decision_ms" in r]
    store.close()
    # Decisions in several funding periods, so a later or earlier rate would show.
    assert len({r["features"]["funding"] for r in decisions} - {None}) >= 3
    seen = {r["symbol"] for r in decisions}
    assert {BTC, ETH, "SOLUSDT"} <= seen
    for r in decisions:
        rates = recorded.get(r["symbol"], [])
        known = [rate for t, rate in zip(times, rates, strict=False) if t <= r["decision_ms"]]
        sign = 1 if r["direction"] == "LONG" else -1
        value = r["features"]["funding"]
        if not known:
            assert value is None or math.isnan(value)
        else:
            assert value == pytest.approx(-float(known[-1]) * sign * 1e4)
