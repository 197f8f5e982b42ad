"""The notification outbox: one row per finished deployment job and target, delivered once.

Fed from the job records themselves (the same run records the page and GitHub's statuses
come from): each round the notifier asks for deployment jobs that finished recently and
records one row per (job, target); the primary key makes that idempotent, so any number of
worker processes may feed it. A row is claimed for a short lease before it is sent, so two
processes never send the same row at once; it is marked delivered when the receiver said
2xx, retried later otherwise, and given up after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from webhook.model import Job, JobState
from webhook.queue import records
from webhook.queue.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    job_id {bigint} NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at {real} NOT NULL,
    next_attempt_at {real} NOT NULL,
    claimed_until {real},
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at {real},
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, target)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (state, next_attempt_at)
"""
#: A receiver that keeps failing is given up on after this many attempts (about an hour
#: and a half with the notifier's backoff): a notification is worth little later.
MAX_ATTEMPTS = 12
#: Job states worth a notification: a sync's result, not the queue's own housekeeping.
NOTIFIED_STATES = (JobState.SUCCEEDED.value, JobState.FAILED.value)


@dataclass(frozen=True, kw_only=True)
class Notification:
    """A row of the outbox: which job's result goes to which target."""

    job_id: int
    target: str
    state: str
    attempts: int
    delivered_at: float | None = None
    last_error: str = ""


class NotificationOutbox:
    """The ``notifications`` table in ``db`` (created by the store's schema, version 3)."""

    def __init__(self, db: Database[Any]) -> None:
        self.db = db

    def record_finished(
        self, since: float, targets_for: Callable[[Job], Iterable[str]], now: float
    ) -> int:
        """A row per target for each deployment job that finished at or after ``since``;
        rows already there are left alone. How many rows were added."""
        with self.db.read() as cur:
            cur.execute(
                f"SELECT {records.JOB_COLUMNS} FROM jobs WHERE finished_at >= ? AND lane = app "
                f"AND state IN (?, ?) ORDER BY id",
                (since, *NOTIFIED_STATES),
            )
            jobs = [records.load_job(row) for row in cur.fetchall()]
        wanted = [(job.id, t) for job in jobs if not job.silent for t in targets_for(job)]
        if not wanted:
            return 0
        added = 0
        with self.db.write() as cur:
            for job_id, target in wanted:
                cur.execute(
                    "INSERT INTO notifications (job_id, target, created_at, next_attempt_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (job_id, target) DO NOTHING",
                    (job_id, target, now, now),
                )
                added += max(cur.rowcount, 0)
        return added

    def claim(self, now: float, *, lease: float, limit: int = 50) -> list[Notification]:
        """Due rows, each leased to the caller for ``lease`` seconds; oldest first."""
        with self.db.read() as cur:
            cur.execute(
                "SELECT job_id, target FROM notifications WHERE state = 'pending' "
                "AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?) "
                "ORDER BY created_at, job_id LIMIT ?",
                (now, now, limit),
            )
            due = [(int(row["job_id"]), str(row["target"])) for row in cur.fetchall()]
        claimed: list[Notification] = []
        for job_id, target in due:
            with self.db.write() as cur:
                cur.execute(
                    "UPDATE notifications SET claimed_until = ? WHERE job_id = ? AND target = ? "
                    "AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)",
                    (now + lease, job_id, target, now),
                )
                won = cur.rowcount == 1
            if won:
                claimed.extend(self._rows("WHERE job_id = ? AND target = ?", job_id, target))
        return claimed

    def delivered(self, row: Notification, now: float) -> None:
        self._set(row, state="delivered", delivered_at=now, attempts=row.attempts + 1)

    def failed(self, row: Notification, error: str, due: float) -> None:
        """One more failed attempt: due again at ``due``, or given up after the last one."""
        attempts = row.attempts + 1
        state = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        self._set(row, state=state, next_attempt_at=due, attempts=attempts, last_error=error)

    def all(self) -> list[Notification]:
        return self._rows("ORDER BY job_id, target")

    def _set(self, row: Notification, **values: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self.db.write() as cur:
            cur.execute(
                f"UPDATE notifications SET {assignments}, claimed_until = NULL "
                "WHERE job_id = ? AND target = ?",
                (*values.values(), row.job_id, row.target),
            )

    def _rows(self, where: str, *params: Any) -> list[Notification]:
        with self.db.read() as cur:
            cur.execute(
                "SELECT job_id, target, state, attempts, delivered_at, last_error "
                f"FROM notifications {where}",
                params,
            )
            return [
                Notification(
                    job_id=int(row["job_id"]),
                    target=str(row["target"]),
                    state=str(row["state"]),
                    attempts=int(row["attempts"]),
                    delivered_at=row["delivered_at"],
                    last_error=str(row["last_error"]),
                )
                for row in cur.fetchall()
            ]
