"""The embedded store: one SQLite file in WAL mode, safe across threads and processes.

``BEGIN IMMEDIATE`` takes SQLite's single write lock for each enqueue or claim, which is what
makes "one running job per app" and "a delivery once" hold between the web and worker
processes. ``synchronous=FULL`` makes a commit survive a power cut, not only a crash: a
delivery we answered 2xx for must never be lost.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from webhook.queue.rows import COLUMNS, Cursor, schema
from webhook.queue.sql import SqlStore


class SqliteStore(SqlStore):
    """A job store in one SQLite file; one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        with self._write() as cur:
            for statement in schema(
                serial="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL", bigint="INTEGER"
            ):
                cur.execute(statement)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=True
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        conn = self._connection()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        cur = self._connection().cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _insert_job(self, cur: Cursor, values: Sequence[Any]) -> int:
        columns = COLUMNS.removeprefix("id, ")
        marks = ", ".join("?" * len(values))
        cur.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", values)
        cur.execute("SELECT last_insert_rowid()")
        return int(cur.fetchone()[0])

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
