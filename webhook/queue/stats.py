"""The metrics query: what ``/metrics`` shows, counted from the records at scrape time.

One source for the page, the metrics and the reports: nothing is counted in memory, so
every process and replica answers alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webhook.model import Job
from webhook.queue import records
from webhook.queue.database import Database


@dataclass(frozen=True, kw_only=True)
class StoreStats:
    """Job counts per app and state, deliveries, the outbox's backlog, each app's last run."""

    jobs: dict[tuple[str, str], int]
    deliveries: int
    #: Accepted deliveries by the webhook secret that signed them (``current``, ``previous``).
    signed_with: dict[str, int]
    reports_pending: int
    oldest_report_at: float | None
    last_finished: dict[str, Job]
    #: When the oldest job still waiting for a worker was queued (None: none waits).
    oldest_queued_at: float | None = None

    def jobs_in(self, state: str) -> int:
        """Jobs in ``state`` over every app."""
        return sum(n for (_, s), n in self.jobs.items() if s == state)


def count(db: Database[Any]) -> StoreStats:
    """Read the counts in one transaction."""
    with db.read() as cur:
        cur.execute("SELECT app, state, COUNT(*) AS n FROM jobs GROUP BY app, state")
        jobs = {(str(r["app"]), str(r["state"])): int(r["n"]) for r in cur.fetchall()}
        cur.execute("SELECT COUNT(*) AS n FROM deliveries")
        deliveries = int(cur.fetchone()["n"])
        cur.execute("SELECT secret, COUNT(*) AS n FROM deliveries GROUP BY secret")
        signed_with = {str(r["secret"]): int(r["n"]) for r in cur.fetchall()}
        cur.execute(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE delivered_at IS NULL"
        )
        outbox = cur.fetchone()
        cur.execute(
            f"SELECT {records.JOB_COLUMNS} FROM jobs WHERE id IN (SELECT MAX(id) FROM jobs "
            "WHERE lane = app AND finished_at IS NOT NULL GROUP BY app)"
        )
        finished = [records.load_job(row) for row in cur.fetchall()]
        cur.execute("SELECT MIN(created_at) AS oldest FROM jobs WHERE state = 'queued'")
        queued_at = cur.fetchone()["oldest"]
    oldest = outbox["oldest"]
    return StoreStats(
        jobs=jobs,
        deliveries=deliveries,
        signed_with=signed_with,
        reports_pending=int(outbox["n"]),
        oldest_report_at=float(oldest) if oldest is not None else None,
        last_finished={job.app: job for job in finished},
        oldest_queued_at=float(queued_at) if queued_at is not None else None,
    )
