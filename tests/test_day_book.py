"""The daily loss tally: persisted, rolled by the clock, every close booked on its own day."""

from decimal import Decimal

from slt.adapters.sqlite_store import SqliteStore
from slt.application.trader.day_book import DayBook
from slt.domain.values import DAY_MS

DAY = 20_000 * DAY_MS  # 00:00 UTC of some day


def test_a_restart_resumes_the_days_figures_instead_of_starting_afresh() -> None:
    store = SqliteStore(":memory:")
    days = DayBook(store, DAY + 1_000)
    days.roll(DAY + 1_000, Decimal(1000))
    days.book(DAY + 5_000, Decimal(-20))
    again = DayBook(store, DAY + 9_000)
    assert not again.due(DAY + 9_000)
    assert (again.start_equity, again.realized) == (Decimal(1000), Decimal(-20))


def test_a_loss_closed_before_the_days_first_cycle_counts_for_that_day() -> None:
    store = SqliteStore(":memory:")
    days = DayBook(store, DAY - 60_000)
    days.roll(DAY - 60_000, Decimal(1000))
    days.book(DAY - 30_000, Decimal(-10))
    days.book(DAY + 10_000, Decimal(-30))  # closed after midnight, before any roll
    assert (days.day, days.realized) == (DAY // DAY_MS, Decimal(-30))
    assert days.start_equity == Decimal(990)  # yesterday's start plus what it closed
    assert not days.due(DAY + 60_000)  # this day is open already: its loss stays counted
    assert store.day_tally(DAY // DAY_MS - 1).realized == Decimal(-10)  # type: ignore[union-attr]


def test_the_day_rolls_on_the_clock_at_midnight() -> None:
    store = SqliteStore(":memory:")
    days = DayBook(store, DAY - 1)
    days.roll(DAY - 1, Decimal(1000))
    days.book(DAY - 1, Decimal(-50))
    assert days.due(DAY) and not days.due(DAY - 1)
    days.roll(DAY, Decimal(950))
    assert (days.start_equity, days.realized) == (Decimal(950), Decimal(0))


def test_the_equity_peak_survives_restarts_and_days_and_only_rises() -> None:
    store = SqliteStore(":memory:")
    days = DayBook(store, DAY)
    days.roll(DAY, Decimal(1000))
    days.observe(Decimal(1200))
    days.observe(Decimal(1100))
    assert days.peak_equity == Decimal(1200)
    later = DayBook(store, DAY + 3 * DAY_MS)  # restarted days later
    assert later.peak_equity == Decimal(1200) and later.due(DAY + 3 * DAY_MS)
    later.roll(DAY + 3 * DAY_MS, Decimal(900))
    assert (later.start_equity, later.peak_equity) == (Decimal(900), Decimal(1200))
