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

Durability: every write method commits before it returns, in WAL mode. With `durable=True` (the
default, for the live bot) `synchronous=FULL` makes a returned write survive a crash or a power
cut. `durable=False` is for simulations, whose state is rebuilt by running them again: it sets
`synchronous=OFF`, so SQLite never waits for the disk; a committed write is still seen by this
store, by other readers of the file and after a clean close and reopen, but an operating-system
crash or a power cut may lose recent writes or, as SQLite warns, corrupt the file. Writes happen
on order, fill and state events, never per quote.

Speed: the writes of the hot path (about a dozen per simulated trade) run fixed SQL through the
stdlib connection under sqlite-utils, in autocommit mode, so that each costs one statement and no
schema look-up; sqlite-utils creates the schema and adds position columns. Position column kinds
are kept in memory: only a save with a new key, or with a column's first value, writes to
`position_columns`.

Threads: a store holds one connection and is used from the thread that opened it (the event
loop's); sqlite3 raises ProgrammingError on use from any other thread. Do not share a store
across threads; another process may read the file while the bot runs (WAL allows it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlite_utils import Database
from sqlite_utils.db import Table

from slt.adapters.closing import Closing
from slt.domain.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType
from slt.domain.position import FINAL_STATUSES
from slt.domain.values import DAY_MS, Side
from slt.ports.store import (
    DEFAULT_FAMILY,
    BreakerEvent,
    BreakerState,
    CommandRecord,
    DayTally,
    LedgerEntry,
    Store,
    TradeRecord,
    is_outcome,
    outcome_end_ms,
)

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
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    symbol TEXT NOT NULL,
    position_id INTEGER
);
CREATE INDEX IF NOT EXISTS ledger_by_ts ON ledger (ts_ms);
CREATE TABLE IF NOT EXISTS day_tally (
    day INTEGER PRIMARY KEY,
    start_equity TEXT NOT NULL,
    realized TEXT NOT NULL,
    peak_equity TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_by_close ON trades (close_ms);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    user TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    ok INTEGER NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS breaker_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    level TEXT NOT NULL,
    ban_until_ms INTEGER NOT NULL,
    retry_until_ms INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data TEXT NOT NULL,
    end_ms INTEGER              -- outcome_end_ms of an outcome; NULL for other samples
);
"""
# After the migration that gives older files the samples.end_ms column.
_SAMPLE_INDEX = "CREATE INDEX IF NOT EXISTS samples_by_end ON samples (end_ms)"
# An outcome's family as SQL (slt.ports.store.outcome_family), and the index the permission
# layer's reads of the last outcomes of one family search.
_FAMILY = f"coalesce(json_extract(data, '$.family'), '{DEFAULT_FAMILY}')"
_FAMILY_INDEX = (
    f"CREATE INDEX IF NOT EXISTS samples_by_family ON samples ({_FAMILY}, end_ms)"
    " WHERE end_ms IS NOT NULL"
)

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

# The writes below run on every order, fill and state change. They are fixed strings with `?`
# parameters so that sqlite3's statement cache prepares each one once per connection.

_STEP_POSITION_ID = (
    "UPDATE meta SET value = max(value, (SELECT coalesce(max(id), 0) FROM positions)) + 1"
    " WHERE key = 'last_position_id'"
)
_LAST_POSITION_ID = "SELECT value FROM meta WHERE key = 'last_position_id'"

_INSERT_ORDER = """
INSERT INTO orders (
    client_id, seq, position_id, purpose, symbol, side, type, qty, price, stop_price,
    reduce_only, status, filled_qty, avg_price, exchange_id, reason
) VALUES (
    ?, (SELECT coalesce(max(seq), 0) + 1 FROM orders), ?, ?, ?, ?, ?, ?, ?, ?, ?,
    NULL, '0', '0', '', ''
)
"""

_UPDATE_ORDER = (
    "UPDATE orders SET status = ?, filled_qty = ?, avg_price = ?, exchange_id = ?, reason = ?"
    " WHERE client_id = ?"
)

_INSERT_FILL = """
INSERT OR IGNORE INTO fills (
    symbol, trade_id, client_id, side, qty, price, fee, realized_pnl, ts_ms, order_status,
    reduce_only, is_maker
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_TRADE = """
INSERT INTO trades (
    position_id, symbol, side, qty, entry_price, exit_price, fees, pnl, open_ms, close_ms,
    exit_reason
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_BREAKER_EVENT = (
    "INSERT INTO breaker_events (ts_ms, source, target, cause) VALUES (?, ?, ?, ?)"
)
_INSERT_COMMAND = (
    "INSERT INTO commands (ts_ms, source, user, command, args, ok, result)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SAVE_BREAKER_STATE = (
    "INSERT OR REPLACE INTO breaker_state (id, level, ban_until_ms, retry_until_ms, ts_ms)"
    " VALUES (1, ?, ?, ?, ?)"
)
_INSERT_LEDGER = (
    "INSERT INTO ledger (ts_ms, kind, asset, amount, symbol, position_id)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_SAVE_DAY = (
    "INSERT OR REPLACE INTO day_tally (day, start_equity, realized, peak_equity)"
    " VALUES (?, ?, ?, ?)"
)
_DAY_COLUMNS = "SELECT day, start_equity, realized, peak_equity FROM day_tally"
_INSERT_SAMPLE = "INSERT INTO samples (data, end_ms) VALUES (?, ?)"
_INSERT_POSITION_KIND = "INSERT INTO position_columns (name, kind) VALUES (?, ?)"

# A position record's keys are the Position's fields, so a handful of key tuples covers a run;
# the bound only guards against a caller that invents keys without end.
_MAX_POSITION_STATEMENTS = 64
# The upper bound of a range query without one (any millisecond time is below it).
_NO_END = 2**62


class SqliteStore(Closing, Store):
    """The Store port on one SQLite file; `":memory:"` gives a throw-away store for tests.

    `durable=False` trades crash safety for speed (see the module docstring); use it only for
    stores whose contents can be recomputed, such as a simulation's.
    """

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self._db = Database(path)
        self._conn: sqlite3.Connection = self._db.conn
        # Autocommit: each hot write is one statement that commits itself, where the default
        # mode would add an implicit BEGIN and a separate COMMIT. Multi-statement writes open
        # an explicit transaction (`_transaction`, or sqlite-utils' atomic()).
        self._conn.isolation_level = None
        if not self._db.memory:
            self._db.enable_wal()
            # WAL's usual companion, NORMAL, may lose the last commits on a power cut; a store
            # that is told about fills must not forget them. OFF skips every fsync, for stores
            # that may lose them.
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self._db.executescript(_SCHEMA)
        self._add_sample_end_column()
        self._db.execute(_SAMPLE_INDEX)
        self._db.execute(_FAMILY_INDEX)
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
        # INSERT OR REPLACE per tuple of record keys; a tuple is cached only once every one of
        # its keys is a column, so a hit needs no column check.
        self._position_inserts: dict[tuple[str, ...], str] = {}

    def _add_sample_end_column(self) -> None:
        """Files written before samples had `end_ms` get the column, filled from the JSON."""
        if "end_ms" in self._db.table("samples").columns_dict:
            return
        rows = self._db.query("SELECT id, data FROM samples")
        ends = [(_sample_end(orjson.loads(row["data"])), row["id"]) for row in rows]
        with self._transaction():
            self._conn.execute("ALTER TABLE samples ADD COLUMN end_ms INTEGER")
            self._conn.executemany("UPDATE samples SET end_ms = ? WHERE id = ?", ends)

    @property
    def _positions(self) -> Table:
        return self._db.table("positions")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """The statements of the block as one transaction: all of them or none."""
        self._conn.execute("BEGIN")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            # A no-op if the error already ended the transaction, so the error propagates.
            self._conn.rollback()
            raise

    # --- positions ---

    def next_position_id(self) -> int:
        # Also stepping past any saved id keeps the promise even for a position saved with an id
        # that did not come from here.
        with self._transaction():
            self._conn.execute(_STEP_POSITION_ID)
            row = self._conn.execute(_LAST_POSITION_ID).fetchone()
        return int(row[0])

    def save_position(self, record: dict[str, Any]) -> None:
        position_id = record.get("id")
        if not isinstance(position_id, int) or isinstance(position_id, bool):
            raise ValueError(f"a position record needs an integer 'id', got {position_id!r}")
        new_kinds = _new_kinds(record, self._position_kinds)
        keys = tuple(record)
        values = [str(v) if isinstance(v, Decimal) else v for v in record.values()]
        sql = self._position_inserts.get(keys)
        if sql is not None and not new_kinds:
            self._conn.execute(sql, values)
            return
        self._save_position_learning(keys, values, new_kinds)

    def _save_position_learning(
        self, keys: tuple[str, ...], values: list[Any], new_kinds: dict[str, str]
    ) -> None:
        """The rare save that meets a new key or the first value of a column: record what it
        learns in the same transaction as the row, and in memory only once that commits."""
        new_columns = [key for key in keys if key.lower() not in self._position_columns]
        with self._transaction():
            for name in new_columns:
                # BLOB affinity stores each value as bound. sqlite-utils' alter=True would give a
                # column first seen as None TEXT affinity, which turns later integers into text.
                self._positions.add_column(name, "BLOB")
            self._conn.executemany(_INSERT_POSITION_KIND, new_kinds.items())
            sql = _insert_position_sql(keys)
            self._conn.execute(sql, values)
        self._position_columns.update(name.lower() for name in new_columns)
        self._position_kinds.update(new_kinds)
        if len(self._position_inserts) >= _MAX_POSITION_STATEMENTS:
            self._position_inserts.clear()
        self._position_inserts[keys] = sql

    def save_position_with_order(
        self, record: dict[str, Any], purpose: str, order: OrderRequest
    ) -> None:
        # The position's save takes its own transaction only when it learns a column; that
        # rare save goes first, and the pair is then written again as one transaction.
        keys = tuple(record)
        if self._position_inserts.get(keys) is None or _new_kinds(record, self._position_kinds):
            self.save_position(record)
        with self._transaction():
            self.save_position(record)
            self.save_order(record["id"], purpose, order)

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
        self._conn.execute(
            _INSERT_ORDER,
            (
                order.client_id,
                position_id,
                purpose,
                order.symbol,
                str(order.side),
                str(order.type),
                str(order.qty),
                _encode(order.price),
                _encode(order.stop_price),
                order.reduce_only,
            ),
        )

    def update_order(self, state: OrderState) -> None:
        """Record the exchange's word on an order; KeyError for a client id never saved."""
        cursor = self._conn.execute(
            _UPDATE_ORDER,
            (
                str(state.status),
                str(state.filled_qty),
                str(state.avg_price),
                state.exchange_id,
                state.reason,
                state.client_id,
            ),
        )
        if cursor.rowcount == 0:
            raise KeyError(f"no order with client id {state.client_id!r}")

    def orders(self, position_id: int) -> list[dict[str, Any]]:
        """Dicts with the OrderRequest's and OrderState's field names plus `position_id`,
        `purpose` and `seq`; Decimals as Decimal, enums as Side, OrderType and OrderStatus."""
        rows = self._db.query(
            "SELECT * FROM orders WHERE position_id = ? ORDER BY seq", [position_id]
        )
        return [_decode_order(row) for row in rows]

    def add_fill(self, fill: Fill) -> bool:
        cursor = self._conn.execute(
            _INSERT_FILL,
            (
                fill.symbol,
                fill.trade_id,
                fill.client_id,
                str(fill.side),
                str(fill.qty),
                str(fill.price),
                str(fill.fee),
                str(fill.realized_pnl),
                fill.ts_ms,
                str(fill.order_status),
                fill.reduce_only,
                fill.is_maker,
            ),
        )
        return cursor.rowcount == 1

    # --- history ---

    def add_trade(self, trade: TradeRecord) -> None:
        self._conn.execute(
            _INSERT_TRADE,
            (
                trade.position_id,
                trade.symbol,
                trade.side,
                str(trade.qty),
                str(trade.entry_price),
                str(trade.exit_price),
                str(trade.fees),
                str(trade.pnl),
                trade.open_ms,
                trade.close_ms,
                trade.exit_reason,
            ),
        )

    def trades(self) -> list[TradeRecord]:
        rows = self._db.query("SELECT * FROM trades ORDER BY id")
        return [_decode_trade(row) for row in rows]

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        self._conn.execute(
            _INSERT_LEDGER,
            (entry.ts_ms, entry.kind, entry.asset, str(entry.amount), entry.symbol,
             entry.position_id),
        )

    def ledger(self, since_ms: int = 0) -> list[LedgerEntry]:
        rows = self._db.query(
            "SELECT ts_ms, kind, asset, amount, symbol, position_id FROM ledger"
            " WHERE ts_ms >= ? ORDER BY id",
            [since_ms],
        )
        return [LedgerEntry(**{**row, "amount": Decimal(row["amount"])}) for row in rows]

    def day_tally(self, day: int | None = None) -> DayTally | None:
        if day is None:
            row = self._conn.execute(f"{_DAY_COLUMNS} ORDER BY day DESC LIMIT 1").fetchone()
        else:
            row = self._conn.execute(f"{_DAY_COLUMNS} WHERE day = ?", (day,)).fetchone()
        if row is None:
            return None
        return DayTally(row[0], Decimal(row[1]), Decimal(row[2]), Decimal(row[3]))

    def save_day_tally(self, tally: DayTally) -> None:
        self._conn.execute(
            _SAVE_DAY,
            (tally.day, str(tally.start_equity), str(tally.realized), str(tally.peak_equity)),
        )
    def trades_closed_between(self, start_ms: int, end_ms: int | None = None) -> list[TradeRecord]:
        rows = self._db.query(
            "SELECT * FROM trades WHERE close_ms >= ? AND close_ms < ? ORDER BY id",
            [start_ms, _NO_END if end_ms is None else end_ms],
        )
        return [_decode_trade(row) for row in rows]

    def add_breaker_event(self, event: BreakerEvent) -> None:
        self._conn.execute(
            _INSERT_BREAKER_EVENT, (event.ts_ms, event.source, event.target, event.cause)
        )

    def breaker_events(self, since_ms: int = 0, until_ms: int | None = None) -> list[BreakerEvent]:
        """Events in [since_ms, until_ms), in the order they were added."""
        rows = self._db.query(
            "SELECT ts_ms, source, target, cause FROM breaker_events"
            " WHERE ts_ms >= ? AND ts_ms < ? ORDER BY id",
            [since_ms, _NO_END if until_ms is None else until_ms],
        )
        return [BreakerEvent(**row) for row in rows]

    def breaker_event_before(self, ts_ms: int) -> BreakerEvent | None:
        rows = list(
            self._db.query(
                "SELECT ts_ms, source, target, cause FROM breaker_events WHERE ts_ms < ?"
                " ORDER BY ts_ms DESC, id DESC LIMIT 1",
                [ts_ms],
            )
        )
        return BreakerEvent(**rows[0]) if rows else None

    def save_breaker_state(self, state: BreakerState) -> None:
        self._conn.execute(
            _SAVE_BREAKER_STATE,
            (state.level, state.ban_until_ms, state.retry_until_ms, state.ts_ms),
        )

    def breaker_state(self) -> BreakerState | None:
        rows = list(
            self._db.query("SELECT level, ban_until_ms, retry_until_ms, ts_ms FROM breaker_state")
        )
        return BreakerState(**rows[0]) if rows else None

    def add_samples(self, samples: Iterable[dict[str, Any]]) -> None:
        """All samples of one call are written in one transaction."""
        # Encoded before the transaction opens: a sample orjson refuses fails the call at once.
        rows = [(orjson.dumps(sample).decode(), _sample_end(sample)) for sample in samples]
        with self._transaction():
            self._conn.executemany(_INSERT_SAMPLE, rows)

    def iter_samples(self) -> Iterator[dict[str, Any]]:
        for (data,) in self._conn.execute("SELECT data FROM samples ORDER BY id"):
            yield orjson.loads(data)

    # --- operator commands ---

    def add_command(self, record: CommandRecord) -> None:
        r = record
        self._conn.execute(
            _INSERT_COMMAND, (r.ts_ms, r.source, r.user, r.command, r.args, int(r.ok), r.result)
        )

    def commands(self, limit: int = 50) -> list[CommandRecord]:
        rows = self._conn.execute(
            "SELECT ts_ms, source, user, command, args, ok, result FROM commands"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [CommandRecord(t, s, u, c, a, bool(ok), res) for t, s, u, c, a, ok, res in rows]
    def outcomes_ended_between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        rows = self._db.query(
            "SELECT data FROM samples WHERE end_ms >= ? AND end_ms < ? ORDER BY id",
            [start_ms, end_ms],
        )
        return [orjson.loads(row["data"]) for row in rows]

    def recent_outcomes(
        self,
        family: str,
        before_ms: int,
        count: int,
        days: int,
        scored_above: float | None = None,
    ) -> list[dict[str, Any]]:
        where = f"end_ms IS NOT NULL AND {_FAMILY} = ? AND end_ms < ?"
        params: list[Any] = [family, before_ms]
        if scored_above is not None:
            where += " AND json_extract(data, '$.score') > ?"
            params.append(scored_above)
        last = self._conn.execute(
            f"SELECT data, end_ms FROM samples WHERE {where} ORDER BY end_ms DESC, id DESC"
            " LIMIT ?",
            [*params, count],
        ).fetchall()
        if len(last) == count and len({end // DAY_MS for _, end in last}) < days:
            # Too few days: reach back day by day (one index probe each) to the `days`-th.
            since = before_ms
            for _ in range(days):
                (end,) = self._conn.execute(
                    f"SELECT max(end_ms) FROM samples WHERE {where}",
                    [family, since, *params[2:]],
                ).fetchone()
                if end is None:
                    break
                since = end - end % DAY_MS
            last = self._conn.execute(
                f"SELECT data, end_ms FROM samples WHERE {where} AND end_ms >= ?"
                " ORDER BY end_ms DESC, id DESC",
                [*params, since],
            ).fetchall()
        return [orjson.loads(data) for data, _ in reversed(last)]

    def outcome_families(self, before_ms: int) -> list[str]:
        rows = self._conn.execute(
            f"SELECT DISTINCT {_FAMILY} FROM samples WHERE end_ms IS NOT NULL AND end_ms < ?"
            f" ORDER BY {_FAMILY}",
            [before_ms],
        ).fetchall()
        return [family for (family,) in rows]

    def first_activity_ms(self) -> int | None:
        # The aggregate min skips the NULL of an empty table.
        return self._ms(
            "SELECT min(v) FROM (SELECT min(open_ms) AS v FROM trades"
            " UNION ALL SELECT min(ts_ms) FROM breaker_events"
            " UNION ALL SELECT min(json_extract(data, '$.decision_ms')) FROM samples)"
        )

    def last_activity_ms(self) -> int | None:
        return self._ms(
            "SELECT max(v) FROM (SELECT max(close_ms) AS v FROM trades"
            " UNION ALL SELECT max(ts_ms) FROM breaker_events"
            " UNION ALL SELECT max(end_ms) FROM samples)"
        )

    def _ms(self, sql: str) -> int | None:
        """The one value of a one-row aggregate; None for SQL NULL (nothing recorded)."""
        (value,) = self._conn.execute(sql).fetchone()
        return None if value is None else int(value)


def _sample_end(sample: dict[str, Any]) -> int | None:
    return outcome_end_ms(sample) if is_outcome(sample) else None


def _insert_position_sql(keys: tuple[str, ...]) -> str:
    # REPLACE deletes the old row first, so a key the record lacks comes back as None.
    columns = ", ".join(_quote(key) for key in keys)
    marks = ", ".join("?" for _ in keys)
    return f"INSERT OR REPLACE INTO positions ({columns}) VALUES ({marks})"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


# Kinds by exact type, which answers for nearly every value without isinstance chains;
# subclasses such as enums go through _kind.
_KIND_OF_TYPE: dict[type, str | None] = {
    type(None): None,
    bool: "bool",
    Decimal: "decimal",
    int: "plain",
    float: "plain",
    str: "plain",
}


def _new_kinds(record: dict[str, Any], known: dict[str, str]) -> dict[str, str]:
    """Kinds of the record's columns not seen before; TypeError if a value changes a kind."""
    new = {}
    kind_of_type = _KIND_OF_TYPE
    for key, value in record.items():
        kind = kind_of_type[type(value)] if type(value) in kind_of_type else _kind(value)
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
