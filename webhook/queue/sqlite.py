"""The embedded store's dialect: one SQLite file in WAL mode, safe across threads and processes.

``BEGIN IMMEDIATE`` takes SQLite's single write lock for each enqueue or claim, which is what
makes "one running job per app" and "a delivery once" hold between the web and worker
processes. ``synchronous=FULL`` makes a commit survive a power cut, not only a crash: a
delivery we answered 2xx for must never be lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from webhook.queue.database import Cursor


class SqliteDialect:
    """SQLite's side of ``database.Dialect``."""

    types: ClassVar[Mapping[str, str]] = {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "real": "REAL",
        "bigint": "INTEGER",
    }

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def connect(self) -> sqlite3.Connection:
        # Transactions are begun explicitly (below), so the module must not begin its own.
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def usable(self, conn: sqlite3.Connection) -> bool:
        return True  # a local file: nothing to lose but by ``close``

    @contextmanager
    def transaction(self, conn: sqlite3.Connection, *, write: bool) -> Iterator[Cursor]:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()
