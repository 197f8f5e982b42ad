"""One database shared by the parts that keep records in it: connections, transactions, schema.

The job store owns the tables of the queue; the GitHub reporter owns its memory of posted
statuses (``webhook.posted_statuses``); both live in one database through this object, so a
restart forgets neither. What differs between SQLite and PostgreSQL is a ``Dialect``
(``sqlite.py``, ``postgres.py``): how to connect, how a write transaction takes the single
write lock (``BEGIN IMMEDIATE`` or an advisory lock), placeholders and column types. Every
query here is written once, with ``?`` placeholders, and reads its rows by column name.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar


class Cursor(Protocol):
    """A DB-API cursor whose rows are read by column name (``row["state"]``)."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def execute(self, query: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


class Dialect(Protocol[C]):
    """What SQLite and PostgreSQL do differently; everything else is shared SQL."""

    @property
    def types(self) -> Mapping[str, str]:
        """Column types that differ: ``serial`` (the auto-increment key), ``real``, ``bigint``."""

    def connect(self) -> C:
        """A new connection; rows come back by column name."""

    def usable(self, conn: C) -> bool:
        """False once the connection is closed or broken: a new one is opened."""

    def transaction(self, conn: C, *, write: bool) -> AbstractContextManager[Cursor]:
        """A transaction committed on exit; a write one holds the database's write lock, so
        writes are serialized across threads, processes and replicas."""


class Database(Generic[C]):
    """Connections to one database, one per thread."""

    def __init__(self, dialect: Dialect[C]) -> None:
        self.dialect = dialect
        self._local = threading.local()

    def _connection(self) -> C:
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None or not self.dialect.usable(conn):
            conn = self.dialect.connect()
            self._local.conn = conn
        return conn

    def write(self) -> AbstractContextManager[Cursor]:
        """A transaction holding the write lock until it commits; keep it short."""
        return self.dialect.transaction(self._connection(), write=True)

    def read(self) -> AbstractContextManager[Cursor]:
        """A transaction for reads; takes no write lock."""
        return self.dialect.transaction(self._connection(), write=False)

    def create(self, schema: str) -> None:
        """Run the ``;``-separated statements of ``schema`` with the dialect's column types."""
        with self.write() as cur:
            for statement in statements(schema, self.dialect.types):
                cur.execute(statement)

    def columns(self, table: str) -> set[str]:
        """The column names ``table`` has today."""
        with self.read() as cur:
            cur.execute(f"SELECT * FROM {table} LIMIT 0")
            return {str(column[0]) for column in cur.description}

    def close(self) -> None:
        """Close this thread's connection."""
        conn: C | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def statements(schema: str, types: Mapping[str, str]) -> list[str]:
    """The ``;``-separated statements of ``schema``, ``{real}`` and friends filled in."""
    for name, sql_type in types.items():
        schema = schema.replace("{" + name + "}", sql_type)
    return [statement for statement in schema.split(";") if statement.strip()]


def insert(cur: Cursor, table: str, values: Mapping[str, Any]) -> int:
    """Insert one row by column name; its new ``id``."""
    marks = ", ".join("?" * len(values))
    cur.execute(
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks}) RETURNING id",
        tuple(values.values()),
    )
    return int(cur.fetchone()["id"])
