"""Store on SQLite (through sqlite-utils): the bot's durable state in one file.

Conventions, chosen so that what is saved comes back as it was:

- Decimals are stored as TEXT (`str(d)`) and read back with `Decimal(text)`, which keeps the
  exact digits, trailing zeros and exponent. sqlite-utils would turn a Decimal into a float, so
  this module never hands it one.
- Positions are flat dicts whose keys may grow as the Position type grows: a key the table lacks
  becomes a new column on save. SQLite cannot tell a Decimal or a bool from text or an integer,
  so the table `position_columns` records each column's kind (`decimal`, `bool` or `plain` for
  int, float and str) the first time the column holds a value; a later value of another kind is
  a TypeError rather than a silently changed type. Enums come back as their plain values.
  Keys a saved record lacked come back as None.
- Samples are stored as one JSON document each (orjson): tuples come back as lists, and NaN and
  infinities as None, as JSON has no spelling for them.
- `meta` holds the last position id handed out and the schema version.

Durability: every write method commits before it returns, in WAL mode with `synchronous=FULL`,
so a returned write survives a crash or a power cut. Writes happen on order, fill and state
events, never per quote.

Threads: a store holds one connection and is used from the thread that opened it (the event
loop's); sqlite3 raises ProgrammingError on use from any other thread. Do not share a store
across threads; another process may read the file while the bot runs (WAL allows it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from sqlite_utils import Database
from sqlite_utils.db import NotFoundError, Table

from slt.domain.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.position import FINAL_STATUSES
from slt.domain.values import Side
from slt.ports.store import BreakerEvent, Store, TradeRecord

SCHEMA_VERSION = 1

# Position statuses after which a position needs no more attention at start-up.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    id INTEGER PRIMARY KEY,
    symbol TEXT,
    direction TEXT,
    status TEXT,
    qty TEXT,
    entry_price TEXT
);
CREATE TABLE IF NOT EXISTS position_columns (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('decimal', 'bool', 'plain'))
);
CREATE TABLE IF NOT EXISTS orders (
    client_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    position_id INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT,
    stop_price TEXT,
    reduce_only INTEGER NOT NULL,
    status TEXT,
    filled_qty TEXT NOT NULL,
    avg_price TEXT NOT NULL,
    exchange_id TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_position ON orders (position_id, seq);
CREATE TABLE IF NOT EXISTS fills (
    symbol TEXT NOT NULL,
    trade_id INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    fee TEXT NOT NULL,
    realized_pnl TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    order_status TEXT NOT NULL,
    reduce_only INTEGER NOT NULL,
    is_maker INTEGER NOT NULL,
    PRIMARY KEY (symbol, trade_id)
);
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position_id INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    entry_price TEXT NOT NULL,
    exit_price TEXT NOT NULL,
    fees TEXT NOT NULL,
    pnl TEXT NOT NULL,
    open_ms INTEGER NOT NULL,
    close_ms INTEGER NOT NULL,
    exit_reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS breaker_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    cause TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS breaker_events_by_ts ON breaker_events (ts_ms);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data TEXT NOT NULL
);
"""

# Kinds of the columns the positions table is created with, so that a float quantity is refused
# on the very first save instead of being stored as text.
_INITIAL_POSITION_KINDS = {
    "id": "plain",
    "symbol": "plain",
    "direction": "plain",
    "status": "plain",
    "qty": "decimal",
    "entry_price": "decimal",
}

_ORDER_DECIMALS = ("qty", "price", "stop_price", "filled_qty", "avg_price")
_TRADE_DECIMALS = ("qty", "entry_price", "exit_price", "fees", "pnl")

_INSERT_ORDER = """
INSERT INTO orders (
    client_id, seq, position_id, purpose, symbol, side, type, qty, price, stop_price,
    reduce_only, status, filled_qty, avg_price, exchange_id, reason
) VALUES (
    :client_id, (SELECT coalesce(max(seq), 0) + 1 FROM orders), :position_id, :purpose, :symbol,
    :side, :type, :qty, :price, :stop_price, :reduce_only, NULL, '0', '0', '', ''
)
"""

_INSERT_FILL = """
INSERT OR IGNORE INTO fills (
    symbol, trade_id, client_id, side, qty, price, fee, realized_pnl, ts_ms, order_status,
    reduce_only, is_maker
) VALUES (
    :symbol, :trade_id, :client_id, :side, :qty, :price, :fee, :realized_pnl, :ts_ms,
    :order_status, :reduce_only, :is_maker
)
"""


class SqliteStore(Store):
    """The Store port on one SQLite file; `":memory:"` gives a throw-away store for tests."""

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        if not self._db.memory:
            self._db.enable_wal()
            # WAL's usual companion, NORMAL, may lose the last commits on a power cut; a store
            # that is told about fills must not forget them.
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        with self._db.atomic():
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                [SCHEMA_VERSION],
            )
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('last_position_id', 0)"
            )
            self._db.table("position_columns").insert_all(
                [{"name": n, "kind": k} for n, k in _INITIAL_POSITION_KINDS.items()],
                ignore=True,
            )
        self._position_kinds: dict[str, str] = {
            row["name"]: row["kind"] for row in self._db.query("SELECT * FROM position_columns")
        }
        self._position_columns = {name.lower() for name in self._positions.columns_dict}

    @property
    def _positions(self) -> Table:
        return self._db.table("positions")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- positions ---

    def next_position_id(self) -> int:
        # Also stepping past any saved id keeps the promise even for a position saved with an id
        # that did not come from here.
        with self._db.atomic():
            self._db.execute(
                "UPDATE meta SET value = max(value, (SELECT coalesce(max(id), 0) FROM positions))"
                " + 1 WHERE key = 'last_position_id'"
            )
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = 'last_position_id'"
            ).fetchone()
        return int(row[0])

    def save_position(self, record: dict[str, Any]) -> None:
        position_id = record.get("id")
        if not isinstance(position_id, int) or isinstance(position_id, bool):
            raise ValueError(f"a position record needs an integer 'id', got {position_id!r}")
        new_kinds = _new_kinds(record, self._position_kinds)
        new_columns = [key for key in record if key.lower() not in self._position_columns]
        row = {key: _encode(value) for key, value in record.items()}
        with self._db.atomic():
            for name in new_columns:
                # BLOB affinity stores each value as bound. sqlite-utils' alter=True would give a
                # column first seen as None TEXT affinity, which turns later integers into text.
                self._positions.add_column(name, "BLOB")
            self._db.table("position_columns").insert_all(
                [{"name": n, "kind": k} for n, k in new_kinds.items()]
            )
            self._positions.insert(row, replace=True)
        self._position_columns.update(name.lower() for name in new_columns)
        self._position_kinds.update(new_kinds)

    def open_positions(self) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in FINAL_STATUSES)
        rows = self._db.query(
            f"SELECT * FROM positions WHERE coalesce(status, '') NOT IN ({marks}) ORDER BY id",
            tuple(sorted(FINAL_STATUSES)),
        )
        return [self._decode_position(row) for row in rows]

    def _decode_position(self, row: dict[str, Any]) -> dict[str, Any]:
        decoded: dict[str, Any] = {}
        for key, value in row.items():
            kind = self._position_kinds.get(key)
            if value is not None and kind == "decimal":
                value = Decimal(value)
            elif value is not None and kind == "bool":
                value = bool(value)
            decoded[key] = value
        return decoded

    # --- orders and fills ---

    def save_order(self, position_id: int, purpose: str, order: OrderRequest) -> None:
        """Record an order before it is sent, with status None until the exchange answers.

        A client id saved before raises sqlite3.IntegrityError: client ids are unique by design.
        """
        self._db.execute(
            _INSERT_ORDER,
            {
                "client_id": order.client_id,
                "position_id": position_id,
                "purpose": purpose,
                "symbol": order.symbol,
                "side": str(order.side),
                "type": str(order.type),
                "qty": str(order.qty),
                "price": _encode(order.price),
                "stop_price": _encode(order.stop_price),
                "reduce_only": order.reduce_only,
            },
        )

    def update_order(self, state: OrderState) -> None:
        """Record the exchange's word on an order; KeyError for a client id never saved."""
        updates = {
            "status": str(state.status),
            "filled_qty": str(state.filled_qty),
            "avg_price": str(state.avg_price),
            "exchange_id": state.exchange_id,
            "reason": state.reason,
        }
        try:
            self._db.table("orders").update(state.client_id, updates)
        except NotFoundError:
            raise KeyError(f"no order with client id {state.client_id!r}") from None

    def orders(self, position_id: int) -> list[dict[str, Any]]:
        """Dicts with the OrderRequest's and OrderState's field names plus `position_id`,
        `purpose` and `seq`; Decimals as Decimal, enums as Side, OrderType and OrderStatus."""
        rows = self._db.query(
            "SELECT * FROM orders WHERE position_id = ? ORDER BY seq", [position_id]
        )
        return [_decode_order(row) for row in rows]

    def add_fill(self, fill: Fill) -> bool:
        cursor = self._db.execute(
            _INSERT_FILL,
            {
                "symbol": fill.symbol,
                "trade_id": fill.trade_id,
                "client_id": fill.client_id,
                "side": str(fill.side),
                "qty": str(fill.qty),
                "price": str(fill.price),
                "fee": str(fill.fee),
                "realized_pnl": str(fill.realized_pnl),
                "ts_ms": fill.ts_ms,
                "order_status": str(fill.order_status),
                "reduce_only": fill.reduce_only,
                "is_maker": fill.is_maker,
            },
        )
        return cursor.rowcount == 1

    # --- history ---

    def add_trade(self, trade: TradeRecord) -> None:
        self._db.table("trades").insert(
            {
                "position_id": trade.position_id,
                "symbol": trade.symbol,
                "side": trade.side,
                "qty": str(trade.qty),
                "entry_price": str(trade.entry_price),
                "exit_price": str(trade.exit_price),
                "fees": str(trade.fees),
                "pnl": str(trade.pnl),
                "open_ms": trade.open_ms,
                "close_ms": trade.close_ms,
                "exit_reason": trade.exit_reason,
            }
        )

    def trades(self) -> list[TradeRecord]:
        rows = self._db.query("SELECT * FROM trades ORDER BY id")
        return [_decode_trade(row) for row in rows]

    def add_breaker_event(self, event: BreakerEvent) -> None:
        self._db.table("breaker_events").insert(asdict(event))

    def breaker_events(self, since_ms: int = 0) -> list[BreakerEvent]:
        """Events at or after `since_ms`, in the order they were added."""
        rows = self._db.query(
            "SELECT ts_ms, source, target, cause FROM breaker_events WHERE ts_ms >= ? ORDER BY id",
            [since_ms],
        )
        return [BreakerEvent(**row) for row in rows]

    def add_samples(self, samples: Iterable[dict[str, Any]]) -> None:
        """All samples of one call are written in one transaction."""
        rows = [{"data": orjson.dumps(sample).decode()} for sample in samples]
        self._db.table("samples").insert_all(rows)

    def samples(self) -> list[dict[str, Any]]:
        rows = self._db.query("SELECT data FROM samples ORDER BY id")
        return [orjson.loads(row["data"]) for row in rows]


def _encode(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "bool"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, int | float | str):
        return "plain"
    raise TypeError(f"a position field must be None, bool, int, float, str or Decimal: {value!r}")


def _new_kinds(record: dict[str, Any], known: dict[str, str]) -> dict[str, str]:
    """Kinds of the record's columns not seen before; TypeError if a value changes a kind."""
    new = {}
    for key, value in record.items():
        kind = _kind(value)
        if kind is None:
            continue
        was = known.get(key)
        if was is None:
            new[key] = kind
        elif was != kind:
            raise TypeError(f"position field {key!r} holds {was} values, got {value!r}")
    return new


def _decode_order(row: dict[str, Any]) -> dict[str, Any]:
    order = dict(row)
    for key in _ORDER_DECIMALS:
        if order[key] is not None:
            order[key] = Decimal(order[key])
    order["side"] = Side(order["side"])
    order["type"] = OrderType(order["type"])
    order["status"] = None if order["status"] is None else OrderStatus(order["status"])
    order["reduce_only"] = bool(order["reduce_only"])
    return order


def _decode_trade(row: dict[str, Any]) -> TradeRecord:
    del row["id"]
    for key in _TRADE_DECIMALS:
        row[key] = Decimal(row[key])
    return TradeRecord(**row)
