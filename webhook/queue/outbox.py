"""The report outbox and the store's counts: what GitHub has yet to hear, what metrics show.

Every job state change writes an outbox row in the same transaction as the change (see
``SqlBase._record``); the GitHub reporter reads and acknowledges them here.
"""

from __future__ import annotations

from webhook.model import JobState
from webhook.queue.base import Report, StoreStats
from webhook.queue.rows import COLUMNS, SqlBase, row_to_job


class Outbox(SqlBase):
    """Reads and acknowledgements of the outbox; counts for ``/metrics``."""

    def pending_reports(self, *, limit: int = 100) -> list[Report]:
        """Undelivered reports that are due, oldest first."""
        with self._read() as cur:
            cur.execute(
                "SELECT id, job_id, state, message, attempts FROM outbox "
                "WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (self.clock(), limit),
            )
            return [
                Report(id=r[0], job_id=r[1], state=JobState(r[2]), message=r[3], attempts=r[4])
                for r in cur.fetchall()
            ]

    def report_delivered(self, report_id: int) -> None:
        with self._write() as cur:
            cur.execute(
                "UPDATE outbox SET delivered_at = ? WHERE id = ?", (self.clock(), report_id)
            )

    def report_retry(self, report_id: int, *, delay: float) -> None:
        with self._write() as cur:
            cur.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                (self.clock() + delay, report_id),
            )

    def stats(self) -> StoreStats:
        """Counts for the metrics endpoint, read at scrape time from the records themselves."""
        with self._read() as cur:
            cur.execute("SELECT app, state, COUNT(*) FROM jobs GROUP BY app, state")
            jobs = {(str(r[0]), str(r[1])): int(r[2]) for r in cur.fetchall()}
            cur.execute("SELECT COUNT(*) FROM deliveries")
            deliveries = int(cur.fetchone()[0])
            cur.execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL")
            row = cur.fetchone()
            cur.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE id IN (SELECT MAX(id) FROM jobs "
                "WHERE lane = app AND finished_at IS NOT NULL GROUP BY app)"
            )
            finished = [row_to_job(r) for r in cur.fetchall()]
        return StoreStats(
            jobs=jobs,
            deliveries=deliveries,
            reports_pending=int(row[0]),
            oldest_report_at=float(row[1]) if row[1] is not None else None,
            last_finished={job.app: job for job in finished},
        )
