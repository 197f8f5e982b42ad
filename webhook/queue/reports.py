"""What the GitHub reporter last posted per commit and context, so it never reposts it.

Owns one table, ``posted_statuses``, beside the job store's tables in the same database
(it lives here because it must survive a restart: an in-memory memory would repost every
status after each deploy of the worker). It reuses the store's connections and
transactions; it never reads or writes the store's own tables. ``InMemoryPostedStatuses``
serves stores that are not SQL (and tests that want no database).
"""

from __future__ import annotations

import threading
from typing import Protocol

from webhook.queue.sql import SqlStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS posted_statuses (
    repo TEXT NOT NULL,
    sha TEXT NOT NULL,
    context TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT NOT NULL,
    posted_at REAL NOT NULL,
    PRIMARY KEY (repo, sha, context)
)
"""


class PostedStatuses(Protocol):
    """(repo, sha, context) -> the (state, description) last posted there."""

    def get(self, repo: str, sha: str, context: str) -> tuple[str, str] | None: ...

    def put(self, repo: str, sha: str, context: str, state: str, description: str) -> None: ...


class InMemoryPostedStatuses:
    """Forgets on restart: after one, an unchanged status may be posted once more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posted: dict[tuple[str, str, str], tuple[str, str]] = {}

    def get(self, repo: str, sha: str, context: str) -> tuple[str, str] | None:
        with self._lock:
            return self._posted.get((repo.lower(), sha, context))

    def put(self, repo: str, sha: str, context: str, state: str, description: str) -> None:
        with self._lock:
            self._posted[(repo.lower(), sha, context)] = (state, description)


class SqlPostedStatuses:
    """The memory in the store's database (SQLite or PostgreSQL: the SQL is common to both)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        with store._write() as cur:
            cur.execute(SCHEMA)

    def get(self, repo: str, sha: str, context: str) -> tuple[str, str] | None:
        with self._store._read() as cur:
            cur.execute(
                "SELECT state, description FROM posted_statuses "
                "WHERE repo = ? AND sha = ? AND context = ?",
                (repo.lower(), sha, context),
            )
            row = cur.fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def put(self, repo: str, sha: str, context: str, state: str, description: str) -> None:
        with self._store._write() as cur:
            cur.execute(
                "INSERT INTO posted_statuses (repo, sha, context, state, description, posted_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repo, sha, context) DO UPDATE SET "
                "state = excluded.state, description = excluded.description, "
                "posted_at = excluded.posted_at",
                (repo.lower(), sha, context, state, description, self._store.clock()),
            )


def posted_statuses_for(store: object) -> PostedStatuses:
    """The durable memory when ``store`` speaks SQL, else one in memory."""
    if isinstance(store, SqlStore):
        return SqlPostedStatuses(store)
    return InMemoryPostedStatuses()
