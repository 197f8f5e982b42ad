"""The shared store's dialect: PostgreSQL, for several web and worker replicas.

Each write transaction first takes one transaction-scoped advisory lock, which serializes
enqueues and claims across replicas just as SQLite's ``BEGIN IMMEDIATE`` does; they are
short, so the lock is never held for long. Reads take no lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg.rows import dict_row

from webhook.queue.database import Cursor

#: Arbitrary but fixed: the advisory lock key that serializes queue writes.
WRITE_LOCK_KEY = 0x5EB400C


class _QmarkCursor:
    """Lets the shared ``?``-style SQL run on psycopg's ``%s`` style."""

    def __init__(self, cur: psycopg.Cursor[dict[str, Any]]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self) -> Any:
        return self._cur.description

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(query.replace("?", "%s"), tuple(params))

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()


class PostgresDialect:
    """PostgreSQL's side of ``database.Dialect``."""

    types: ClassVar[Mapping[str, str]] = {
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "real": "DOUBLE PRECISION",
        "bigint": "BIGINT",
    }

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.url, autocommit=False, connect_timeout=10, row_factory=dict_row)

    def usable(self, conn: psycopg.Connection[dict[str, Any]]) -> bool:
        return not conn.closed

    @contextmanager
    def transaction(
        self, conn: psycopg.Connection[dict[str, Any]], *, write: bool
    ) -> Iterator[Cursor]:
        with conn.transaction(), conn.cursor() as raw:
            if write:
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            yield _QmarkCursor(raw)
