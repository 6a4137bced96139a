"""SqliteStore: what is saved comes back exactly, survives a reopen, and is committed at once,
whether the store is durable or not."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from slt.adapters.sqlite_store import SqliteStore
from slt.domain.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.values import Direction, Side
from slt.ports.store import BreakerEvent, DayTally, LedgerEntry, TradeRecord


def exact(value: Any) -> Any:
    """A comparable form that tells Decimal("1.0") from Decimal("1.00") and True from 1."""
    if is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, [exact(getattr(value, f.name)) for f in fields(value)])
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [exact(item) for item in value]
    return (type(value).__name__, str(value))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "slt.db"


@pytest.fixture(params=["memory", "file", "file-not-durable"])
def store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[SqliteStore]:
    path = ":memory:" if request.param == "memory" else db_path
    with SqliteStore(path, durable=request.param != "file-not-durable") as s:
        yield s


def position(position_id: int, status: str = "OPEN", **extra: Any) -> dict[str, Any]:
    return {
        "id": position_id,
        "symbol": "BTCUSDT",
        "direction": "LONG",
        "status": status,
        "qty": Decimal("0.0100"),
        "entry_price": Decimal("65000.10"),
        **extra,
    }


def order(client_id: str, qty: str = "0.010", **extra: Any) -> OrderRequest:
    return OrderRequest(client_id, "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(qty), **extra)


def fill(trade_id: int, symbol: str = "BTCUSDT") -> Fill:
    return Fill(
        symbol=symbol,
        client_id="c1",
        trade_id=trade_id,
        side=Side.BUY,
        qty=Decimal("0.005"),
        price=Decimal("65000.10"),
        fee=Decimal("0.01300002"),
        realized_pnl=Decimal("0"),
        ts_ms=1_700_000_000_000,
        order_status=OrderStatus.PARTIALLY_FILLED,
    )


def trade(position_id: int, pnl: str, close_ms: int) -> TradeRecord:
    return TradeRecord(
        position_id=position_id,
        symbol="ETHUSDT",
        side="SHORT",
        qty=Decimal("1.500"),
        entry_price=Decimal("3000.00"),
        exit_price=Decimal("2990.50"),
        fees=Decimal("0.123456789012345678"),
        pnl=Decimal(pnl),
        open_ms=close_ms - 60_000,
        close_ms=close_ms,
        exit_reason="take_profit",
    )


# --- positions ---


def test_position_comes_back_with_its_types(store: SqliteStore) -> None:
    record = position(
        7,
        stop_price=Decimal("64000.50"),
        opened_ms=1_700_000_000_000,
        trailing=True,
        score=0.25,
        note=None,
    )
    store.save_position(record)
    assert exact(store.open_positions()) == exact([record])


def test_enum_fields_come_back_as_their_values(store: SqliteStore) -> None:
    store.save_position(position(1, direction=Direction.SHORT))
    assert exact(store.open_positions()[0]["direction"]) == exact("SHORT")


def test_save_position_replaces_the_record_with_the_same_id(store: SqliteStore) -> None:
    store.save_position(position(1, status="PENDING_ENTRY"))
    store.save_position(position(2))
    store.save_position(position(1, status="OPEN", qty=Decimal("0.0200")))
    assert exact(store.open_positions()) == exact(
        [position(1, status="OPEN", qty=Decimal("0.0200")), position(2)]
    )


def test_open_positions_leave_out_final_statuses(store: SqliteStore) -> None:
    statuses = ["pending_open", "closed", "open", "rejected", "canceled", "exit_in_flight"]
    for position_id, status in enumerate(statuses, start=1):
        store.save_position(position(position_id, status))
    assert [(p["id"], p["status"]) for p in store.open_positions()] == [
        (1, "pending_open"),
        (3, "open"),
        (6, "exit_in_flight"),
    ]


def test_new_keys_become_columns_keeping_their_types(store: SqliteStore) -> None:
    store.save_position(position(1))
    # A column first seen empty must still return integers as integers later.
    store.save_position(position(2, exit_ms=None, exit_price=None))
    store.save_position(position(3, exit_ms=1_700_000_060_000, exit_price=Decimal("65100.00")))
    by_id = {p["id"]: p for p in store.open_positions()}
    assert exact(by_id[1]) == exact(position(1, exit_ms=None, exit_price=None))
    assert exact(by_id[3]) == exact(
        position(3, exit_ms=1_700_000_060_000, exit_price=Decimal("65100.00"))
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("qty", 0.01), ("entry_price", "65000.10"), ("trailing", 1)],
)
def test_a_value_that_changes_a_fields_kind_is_refused(
    store: SqliteStore, key: str, value: Any
) -> None:
    store.save_position(position(1, trailing=True))
    with pytest.raises(TypeError):
        store.save_position(position(2, **{key: value}))
    assert [p["id"] for p in store.open_positions()] == [1]


def test_keys_in_another_order_or_fewer_keys_land_in_their_columns(store: SqliteStore) -> None:
    store.save_position(position(1, note="first", score=1))
    store.save_position(dict(reversed(position(2, note="second", score=2).items())))
    store.save_position(position(3))
    by_id = {p["id"]: p for p in store.open_positions()}
    assert exact(by_id[2]) == exact(position(2, note="second", score=2))
    assert exact(by_id[3]) == exact(position(3, note=None, score=None))


def test_a_columns_first_value_fixes_its_kind_after_empty_saves(store: SqliteStore) -> None:
    store.save_position(position(1, late=None))
    store.save_position(position(2, late=None))
    store.save_position(position(3, late=Decimal("1.50")))
    with pytest.raises(TypeError):
        store.save_position(position(4, late=1.5))
    assert exact(store.open_positions()[2]["late"]) == exact(Decimal("1.50"))
    assert [p["id"] for p in store.open_positions()] == [1, 2, 3]


def test_a_save_that_fails_while_adding_columns_leaves_no_trace(store: SqliteStore) -> None:
    # SQLite column names ignore case, so the second new column cannot be added.
    with pytest.raises(sqlite3.OperationalError):
        store.save_position(position(1, extra=1, EXTRA=2))
    assert store.open_positions() == []
    # Nothing of the failed save is remembered: the column and its kind are learned afresh.
    store.save_position(position(2, extra=Decimal("2.0")))
    assert exact(store.open_positions()) == exact([position(2, extra=Decimal("2.0"))])


def test_odd_key_names_are_columns_too(store: SqliteStore) -> None:
    record = position(1, **{'say "hi"': "hi", "two words": 2, "select": True})
    store.save_position(record)
    store.save_position(record)
    assert exact(store.open_positions()) == exact([record])


def test_a_field_type_sqlite_cannot_hold_is_refused(store: SqliteStore) -> None:
    with pytest.raises(TypeError):
        store.save_position(position(1, levels=[1, 2]))
    assert store.open_positions() == []


@pytest.mark.parametrize("bad_id", [None, "1", True])
def test_a_position_needs_an_integer_id(store: SqliteStore, bad_id: Any) -> None:
    record = position(1)
    record["id"] = bad_id
    with pytest.raises(ValueError):
        store.save_position(record)


def test_next_position_id_never_repeats(store: SqliteStore) -> None:
    first = [store.next_position_id() for _ in range(3)]
    store.save_position(position(10))
    after_saved = store.next_position_id()
    assert first == [1, 2, 3]
    assert after_saved == 11


# --- orders and fills ---


def test_orders_saved_before_sending_are_unacknowledged(store: SqliteStore) -> None:
    store.save_order(1, "entry", order("e1", price=Decimal("65000.10")))
    [saved] = store.orders(1)
    assert exact(saved) == exact(
        {
            "client_id": "e1",
            "seq": 1,
            "position_id": 1,
            "purpose": "entry",
            "symbol": "BTCUSDT",
            "side": Side.BUY,
            "type": OrderType.LIMIT,
            "qty": Decimal("0.010"),
            "price": Decimal("65000.10"),
            "stop_price": None,
            "reduce_only": False,
            "status": None,
            "filled_qty": Decimal("0"),
            "avg_price": Decimal("0"),
            "exchange_id": "",
            "reason": "",
        }
    )


def test_orders_are_a_positions_own_oldest_first(store: SqliteStore) -> None:
    store.save_order(1, "entry", order("z-entry"))
    store.save_order(2, "entry", order("other"))
    stop = OrderRequest(
        "a-stop",
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        Decimal("0.010"),
        stop_price=Decimal("64000.0"),
        reduce_only=True,
    )
    store.save_order(1, "stop", stop)
    orders = store.orders(1)
    assert [(o["client_id"], o["purpose"]) for o in orders] == [
        ("z-entry", "entry"),
        ("a-stop", "stop"),
    ]
    assert exact(orders[1]["stop_price"]) == exact(Decimal("64000.0"))
    assert orders[1]["reduce_only"] is True
    assert store.orders(3) == []


def test_update_order_records_the_exchanges_word(store: SqliteStore) -> None:
    store.save_order(1, "entry", order("e1", price=Decimal("65000.10")))
    store.update_order(
        OrderState(
            "e1",
            "BTCUSDT",
            OrderStatus.PARTIALLY_FILLED,
            filled_qty=Decimal("0.004"),
            avg_price=Decimal("64999.90"),
            exchange_id="8886774",
        )
    )
    store.update_order(
        OrderState(
            "e1",
            "BTCUSDT",
            OrderStatus.FILLED,
            filled_qty=Decimal("0.010"),
            avg_price=Decimal("65000.00"),
            exchange_id="8886774",
            reason="done",
        )
    )
    [saved] = store.orders(1)
    got = {k: saved[k] for k in ("status", "filled_qty", "avg_price", "exchange_id", "reason")}
    assert exact(got) == exact(
        {
            "status": OrderStatus.FILLED,
            "filled_qty": Decimal("0.010"),
            "avg_price": Decimal("65000.00"),
            "exchange_id": "8886774",
            "reason": "done",
        }
    )
    assert exact(saved["price"]) == exact(Decimal("65000.10"))


def test_update_of_an_unknown_order_is_a_key_error(store: SqliteStore) -> None:
    with pytest.raises(KeyError):
        store.update_order(OrderState("nope", "BTCUSDT", OrderStatus.NEW, Decimal(0), Decimal(0)))


def test_a_client_id_is_saved_once(store: SqliteStore) -> None:
    store.save_order(1, "entry", order("e1"))
    with pytest.raises(sqlite3.IntegrityError):
        store.save_order(1, "entry", order("e1", qty="0.020"))
    assert [exact(o["qty"]) for o in store.orders(1)] == [exact(Decimal("0.010"))]


def test_fills_are_deduplicated_by_symbol_and_trade_id(store: SqliteStore) -> None:
    assert store.add_fill(fill(100)) is True
    assert store.add_fill(fill(100)) is False
    assert store.add_fill(fill(101)) is True
    assert store.add_fill(fill(100, symbol="ETHUSDT")) is True
    assert store.add_fill(fill(100, symbol="ETHUSDT")) is False


# --- history ---


def test_trades_come_back_in_closing_order_with_exact_decimals(store: SqliteStore) -> None:
    # close_ms deliberately out of order: the order of adding is the order of closing.
    added = [
        trade(1, "-14.250000", 3_000_000),
        trade(2, "7.10", 2_000_000),
        trade(3, "0", 4_000_000),
    ]
    for t in added:
        store.add_trade(t)
    assert exact(store.trades()) == exact(added)


def test_breaker_events_since_a_time(store: SqliteStore) -> None:
    events = [
        BreakerEvent(1_000, "CLOSED", "OPEN", "5 errors in 10 s"),
        BreakerEvent(2_000, "OPEN", "HALF_OPEN", "cool-down over"),
        BreakerEvent(3_000, "HALF_OPEN", "CLOSED", "probe succeeded"),
    ]
    for event in events:
        store.add_breaker_event(event)
    assert store.breaker_events() == events
    assert store.breaker_events(since_ms=2_000) == events[1:]
    assert store.breaker_events(since_ms=3_001) == []


def test_samples_round_trip_as_json(store: SqliteStore) -> None:
    first = {
        "ts_ms": 1_700_000_000_000,
        "symbol": "BTCUSDT",
        "features": [0.1, -2.5e-08, 3.0, 1e300],
        "outcome": {"pnl_bps": -12.5, "label": 0, "hit_stop": True, "note": None},
    }
    second = {"ts_ms": 1_700_000_060_000, "features": [], "outcome": {"label": 1}}
    store.add_samples([first])
    store.add_samples(iter([second]))
    assert exact(store.samples()) == exact([first, second])


def test_samples_of_one_call_are_written_all_or_none(store: SqliteStore) -> None:
    with pytest.raises(TypeError):
        store.add_samples([{"features": [1.0]}, {"features": object()}])
    assert store.samples() == []


@pytest.mark.parametrize("durable", [True, False])
def test_samples_of_one_call_are_all_or_none_when_the_database_refuses_one(
    db_path: Path, durable: bool
) -> None:
    with SqliteStore(db_path, durable=durable) as store:
        with sqlite3.connect(db_path) as other:
            other.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON samples WHEN instr(NEW.data, 'refused')"
                " BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        with pytest.raises(sqlite3.IntegrityError):
            store.add_samples([{"a": 1}, {"a": "refused"}])
        assert store.samples() == []


# --- the file ---


@pytest.mark.parametrize("durable", [True, False])
def test_a_file_store_runs_in_wal_mode(db_path: Path, durable: bool) -> None:
    SqliteStore(db_path, durable=durable).close()
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(("durable", "synchronous"), [(True, 2), (False, 0)])
def test_only_a_durable_store_waits_for_the_disk(
    db_path: Path, durable: bool, synchronous: int
) -> None:
    # synchronous is a setting of the connection, so only the store's own one can tell:
    # 2 is FULL (a commit returns once on disk), 0 is OFF (it never waits).
    with SqliteStore(db_path, durable=durable) as store:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous


@pytest.mark.parametrize("durable", [True, False])
def test_every_write_is_committed_when_the_method_returns(db_path: Path, durable: bool) -> None:
    def count(table: str) -> int:
        with sqlite3.connect(db_path) as other:
            return int(other.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def last_position_id() -> int:
        with sqlite3.connect(db_path) as other:
            query = "SELECT value FROM meta WHERE key = 'last_position_id'"
            return int(other.execute(query).fetchone()[0])

    with SqliteStore(db_path, durable=durable) as store:
        store.next_position_id()
        assert last_position_id() == 1
        store.save_position(position(1, late_field=Decimal("1.0")))
        assert count("positions") == 1
        store.save_order(1, "entry", order("e1"))
        assert count("orders") == 1
        store.update_order(OrderState("e1", "BTCUSDT", OrderStatus.NEW, Decimal(0), Decimal(0)))
        with sqlite3.connect(db_path) as other:
            assert other.execute("SELECT status FROM orders").fetchone()[0] == "NEW"
        store.add_fill(fill(1))
        assert count("fills") == 1
        store.add_trade(trade(1, "1.0", 1_000_000))
        assert count("trades") == 1
        store.add_breaker_event(BreakerEvent(1, "CLOSED", "OPEN", "x"))
        assert count("breaker_events") == 1
        store.add_samples([{"a": 1}, {"a": 2}])
        assert count("samples") == 2


@pytest.mark.parametrize("durable", [True, False])
def test_a_reopened_store_holds_everything(db_path: Path, durable: bool) -> None:
    # Reopened with the default: a simulation's store can be read by the usual tools.
    with SqliteStore(db_path, durable=durable) as store:
        store.save_position(position(store.next_position_id(), exit_ms=None))
        store.save_position(
            position(store.next_position_id(), trailing=False, late=Decimal("2.50"))
        )
        store.save_order(1, "entry", order("e1", price=Decimal("65000.10")))
        store.update_order(
            OrderState("e1", "BTCUSDT", OrderStatus.FILLED, Decimal("0.010"), Decimal("65000.0"))
        )
        store.save_order(2, "entry", order("e2"))
        store.add_fill(fill(100))
        store.add_trade(trade(1, "-14.250000", 3_000_000))
        store.add_breaker_event(BreakerEvent(1_000, "CLOSED", "OPEN", "errors"))
        store.add_samples([{"features": [0.5], "outcome": {"label": 1}}])
        before = exact(
            [
                store.open_positions(),
                store.orders(1),
                store.orders(2),
                store.trades(),
                store.breaker_events(),
                store.samples(),
            ]
        )

    with SqliteStore(db_path) as store:
        after = exact(
            [
                store.open_positions(),
                store.orders(1),
                store.orders(2),
                store.trades(),
                store.breaker_events(),
                store.samples(),
            ]
        )
        assert after == before
        assert store.add_fill(fill(100)) is False
        assert store.next_position_id() == 3
        store.save_order(1, "exit", order("x1"))
        assert [o["client_id"] for o in store.orders(1)] == ["e1", "x1"]
        # Column kinds survive too: a float where a Decimal was is still refused.
        with pytest.raises(TypeError):
            store.save_position(position(3, late=2.5))


@pytest.mark.parametrize("durable", [True, False])
def test_next_position_id_is_unique_across_a_reopen(db_path: Path, durable: bool) -> None:
    with SqliteStore(db_path, durable=durable) as store:
        before = {store.next_position_id() for _ in range(3)}
    with SqliteStore(db_path, durable=durable) as store:
        after = {store.next_position_id() for _ in range(3)}
    assert len(before | after) == 6


def test_a_store_is_not_shared_across_threads(store: SqliteStore) -> None:
    errors: list[BaseException] = []

    def use() -> None:
        try:
            store.next_position_id()
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()
    assert len(errors) == 1
    assert isinstance(errors[0], sqlite3.ProgrammingError)


def test_position_and_its_order_are_saved_together_or_not_at_all(store: SqliteStore) -> None:
    order = OrderRequest("slt1-x1", "BTCUSDT", Side.SELL, OrderType.MARKET, Decimal("0.5"),
                         reduce_only=True)
    store.save_position({"id": 1, "symbol": "BTCUSDT", "status": "open"})
    store.save_position_with_order({"id": 1, "symbol": "BTCUSDT", "status": "closing"}, "exit",
                                   order)
    assert store.open_positions()[0]["status"] == "closing"
    assert [o["client_id"] for o in store.orders(1)] == ["slt1-x1"]
    with pytest.raises(sqlite3.IntegrityError):  # the same client id again: nothing is kept
        store.save_position_with_order({"id": 1, "symbol": "BTCUSDT", "status": "open"},
                                       "exit", order)
    assert store.open_positions()[0]["status"] == "closing"


def test_ledger_and_day_tally_come_back_exactly(store: SqliteStore) -> None:
    entry = LedgerEntry(5, "FUNDING_FEE", "USDT", Decimal("-0.0100"), "BTCUSDT", 3)
    store.add_ledger_entry(entry)
    store.add_ledger_entry(LedgerEntry(9, "COMMISSION", "BNB", Decimal("-0.001")))
    assert exact(store.ledger()) == exact([entry, LedgerEntry(9, "COMMISSION", "BNB",
                                                                Decimal("-0.001"))])
    assert [e.kind for e in store.ledger(since_ms=6)] == ["COMMISSION"]
    assert store.day_tally(20_000) is None and store.day_tally() is None
    tally = DayTally(20_000, Decimal("1000.50"), Decimal("-3.2"), Decimal("1100.0"))
    store.save_day_tally(tally)
    store.save_day_tally(DayTally(19_999, Decimal(1), Decimal(0), Decimal(1)))
    assert exact(store.day_tally(20_000)) == exact(tally)
    assert exact(store.day_tally()) == exact(tally)  # the latest day
