"""The report outbox: the job state changes the GitHub reporter has yet to deliver.

The store writes a row with every state change, in the same transaction as the change
(``record``), so a report survives a crash or a GitHub outage; the reporter reads and
acknowledges them through the store's ``pending_reports`` and friends. ``schema.py``
creates the table with the rest of the store's schema.
"""

from __future__ import annotations

from typing import Any

from webhook.model import Job
from webhook.queue import records
from webhook.queue.base import Report
from webhook.queue.database import Cursor, Database, insert

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id {serial},
    job_id {bigint} NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at {real} NOT NULL,
    next_attempt_at {real} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at {real}
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (delivered_at, next_attempt_at, id)
"""


class Outbox:
    """Reads and acknowledgements of the outbox table in ``db``."""

    def __init__(self, db: Database[Any]) -> None:
        self.db = db

    @staticmethod
    def record(cur: Cursor, job: Job, now: float) -> None:
        """Queue a report of ``job``'s new state in the transaction that changed it."""
        report = Report(id=0, job_id=job.id, state=job.state, message=job.message, attempts=0)
        insert(cur, "outbox", records.dump(report) | {"created_at": now, "next_attempt_at": now})

    def pending(self, now: float, *, limit: int) -> list[Report]:
        """Undelivered reports that are due at ``now``, oldest first."""
        with self.db.read() as cur:
            cur.execute(
                f"SELECT {records.select(Report)} FROM outbox "
                "WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (now, limit),
            )
            return [records.load(Report, row) for row in cur.fetchall()]

    def delivered(self, report_id: int, now: float) -> None:
        with self.db.write() as cur:
            cur.execute("UPDATE outbox SET delivered_at = ? WHERE id = ?", (now, report_id))

    def retry(self, report_id: int, due: float) -> None:
        with self.db.write() as cur:
            cur.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                (due, report_id),
            )
