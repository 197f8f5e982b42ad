"""The shared store: PostgreSQL, for several web and worker replicas.

Same rules and SQL as SQLite (``sql.py``). Each write transaction first takes one
transaction-scoped advisory lock, which serializes enqueues and claims across replicas just
as SQLite's ``BEGIN IMMEDIATE`` does; they are short, so the lock is never held for long.
Reads take no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from webhook.queue.rows import COLUMNS, Cursor, schema
from webhook.queue.sql import SqlStore

#: Arbitrary but fixed: the advisory lock key that serializes queue writes.
WRITE_LOCK_KEY = 0x5EB400C


class _QmarkCursor:
    """Lets the shared ``?``-style SQL run on psycopg's ``%s`` style."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(query.replace("?", "%s"), tuple(params))

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()


class PostgresStore(SqlStore):
    """A job store in PostgreSQL; one connection per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        with self._write() as cur:
            for statement in schema(
                serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                real="DOUBLE PRECISION",
                bigint="BIGINT",
            ):
                cur.execute(statement)

    def _connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url, autocommit=False, connect_timeout=10)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as raw:
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            yield _QmarkCursor(raw)

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        conn = self._connection()
        with conn.transaction(), conn.cursor() as raw:
            yield _QmarkCursor(raw)

    def _insert_job(self, cur: Cursor, values: Sequence[Any]) -> int:
        columns = COLUMNS.removeprefix("id, ")
        marks = ", ".join("?" * len(values))
        cur.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks}) RETURNING id", values)
        return int(cur.fetchone()[0])

    def close(self) -> None:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
