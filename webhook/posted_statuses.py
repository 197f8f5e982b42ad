"""The GitHub reporter's memory of what it last posted per commit and context.

The reporter never posts an unchanged (state, description) twice to one commit and
context; this remembers what it posted. The memory is the reporter's: it owns one table,
``posted_statuses``, kept in the job store's database (``JobStore.database``) because it
must survive a restart, or every status would be posted again after each deploy of the
worker. It shares the store's connections, never its tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from webhook.queue import JobStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS posted_statuses (
    repo TEXT NOT NULL,
    sha TEXT NOT NULL,
    context TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT NOT NULL,
    posted_at {real} NOT NULL,
    PRIMARY KEY (repo, sha, context)
)
"""


class PostedStatuses(Protocol):
    """(repo, sha, context) -> the (state, description) last posted there."""

    def get(self, repo: str, sha: str, context: str) -> tuple[str, str] | None: ...

    def put(self, repo: str, sha: str, context: str, state: str, description: str) -> None: ...


class SqlPostedStatuses:
    """The memory in ``store``'s database (SQLite or PostgreSQL: the SQL is common to both)."""

    def __init__(self, store: JobStore, *, clock: Callable[[], float] = time.time) -> None:
        self._db = store.database
        self._clock = clock
        self._db.create(SCHEMA)

    def get(self, repo: str, sha: str, context: str) -> tuple[str, str] | None:
        with self._db.read() as cur:
            cur.execute(
                "SELECT state, description FROM posted_statuses "
                "WHERE repo = ? AND sha = ? AND context = ?",
                (repo.lower(), sha, context),
            )
            row = cur.fetchone()
        return (str(row["state"]), str(row["description"])) if row else None

    def put(self, repo: str, sha: str, context: str, state: str, description: str) -> None:
        with self._db.write() as cur:
            cur.execute(
                "INSERT INTO posted_statuses (repo, sha, context, state, description, posted_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repo, sha, context) DO UPDATE SET "
                "state = excluded.state, description = excluded.description, "
                "posted_at = excluded.posted_at",
                (repo.lower(), sha, context, state, description, self._clock()),
            )
