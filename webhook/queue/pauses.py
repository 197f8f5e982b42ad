"""Paused apps: the table ``rollback`` writes and ``resume`` clears (issue #10).

A rollback deploys an earlier commit; without a pause the next push or drift check would
deploy the branch head again and undo it. The store reads this table in the transaction
that enqueues a job (``SqlStore.enqueue``), so a push for a paused app is recorded as
skipped, never queued; the drift poller asks before it checks an app.
"""

from __future__ import annotations

from typing import Any

from webhook.model import Pause
from webhook.queue.database import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS pauses (
    app TEXT PRIMARY KEY,
    commit_sha TEXT NOT NULL,
    paused_by TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    paused_at {real} NOT NULL
)
"""
_COLUMNS = "app, commit_sha, paused_by, reason, paused_at"


def _load(row: Any) -> Pause:
    return Pause(
        app=str(row["app"]),
        commit=str(row["commit_sha"]),
        by=str(row["paused_by"]),
        reason=str(row["reason"]),
        paused_at=float(row["paused_at"]),
    )


class Pauses:
    """Reads and writes of the ``pauses`` table in ``db``."""

    def __init__(self, db: Database[Any]) -> None:
        self.db = db

    @staticmethod
    def read(cur: Cursor, app: str) -> Pause | None:
        """The pause of ``app`` inside an open transaction (the enqueue's)."""
        cur.execute(f"SELECT {_COLUMNS} FROM pauses WHERE app = ?", (app,))
        row = cur.fetchone()
        return _load(row) if row is not None else None

    def get(self, app: str) -> Pause | None:
        with self.db.read() as cur:
            return self.read(cur, app)

    def all(self) -> dict[str, Pause]:
        with self.db.read() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM pauses")
            return {str(row["app"]): _load(row) for row in cur.fetchall()}

    def put(self, pause: Pause) -> None:
        """Pause (or re-pause at another commit: a second rollback) ``pause.app``."""
        with self.db.write() as cur:
            cur.execute(
                f"INSERT INTO pauses ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (app) "
                "DO UPDATE SET commit_sha = excluded.commit_sha, paused_by = excluded.paused_by, "
                "reason = excluded.reason, paused_at = excluded.paused_at",
                (pause.app, pause.commit, pause.by, pause.reason, pause.paused_at),
            )

    def remove(self, app: str) -> Pause | None:
        """Lift the pause of ``app``; the pause it was, or None when there was none."""
        with self.db.write() as cur:
            found = self.read(cur, app)
            cur.execute("DELETE FROM pauses WHERE app = ?", (app,))
            return found
