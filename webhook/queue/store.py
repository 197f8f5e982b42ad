"""The queue's rules, written once in SQL over a ``Database`` of either dialect.

The store composes its parts: a ``Database`` (connections and the write lock of SQLite
or PostgreSQL), the report ``Outbox`` written in the same transaction as each change, the
enqueue rules (``enqueue.py``), a job's run under a lease (``claims.py``), the row
primitives they share (``job_rows.py``) and the metrics query (``stats.py``). Jobs are
read and written by column name (``records.py``); every write runs under the database's
single write lock, so "one running job per lane" and "a delivery once" need no cleverness.
Owns: ``SqlStore`` and its reads. Must not touch: Flask, clusters, GitHub.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from webhook.affected import RecordedInputs
from webhook.model import Job, JobState
from webhook.queue import inputs
from webhook.queue.base import Report
from webhook.queue.claims import Claims
from webhook.queue.database import Database
from webhook.queue.doorbell import Doorbell
from webhook.queue.enqueue import Enqueuing
from webhook.queue.job_rows import JOBS as JOBS  # re-exported
from webhook.queue.outbox import Outbox
from webhook.queue.pauses import Pauses
from webhook.queue.schema import migrate
from webhook.queue.stats import StoreStats, count


class SqlStore(Enqueuing, Claims):
    """A durable queue of sync jobs in ``database`` (``JobStore``)."""

    def __init__(self, database: Database[Any]) -> None:
        self.database = database
        try:
            #: What opening the store did to its schema (``schema.migrate``).
            self.migration = migrate(database)
        except BaseException:  # a schema too new: leave no connection behind
            database.close()
            raise
        self.outbox = Outbox(database)
        self.inputs = inputs.InputsTable(database)
        self.pauses = Pauses(database)
        #: Rung after a job is queued (``open_store`` sets it): a waiting worker wakes.
        self.doorbell: Doorbell | None = None

    # -- what each app's last render read --------------------------------------

    def record_inputs(self, app: str, recorded: RecordedInputs | None) -> None:
        """Keep what ``app``'s last render read; None: unknown (``queue/inputs.py``)."""
        self.inputs.record(app, recorded, self.clock())

    def recorded_inputs(
        self, apps: Sequence[str], *, unless_waiting: bool = True
    ) -> dict[str, RecordedInputs]:
        """Recorded inputs of ``apps``, without those whose deploy is waiting to run."""
        return self.inputs.recorded(apps, unless_waiting=unless_waiting)

    # -- reads ----------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        found = self._read("WHERE id = ?", (job_id,))
        return found[0] if found else None

    def jobs_for_app(self, app: str, *, limit: int = 50) -> list[Job]:
        return self._read("WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit))

    def jobs_for_pull_request(self, repo: str, number: int, *, limit: int = 500) -> list[Job]:
        """Jobs that carry pull request ``number`` of ``repo``, newest first: one query,
        however many apps the repo has."""
        # A coarse text match on the stored JSON, made exact below.
        jobs = self._read(
            "WHERE repo = ? AND pull_requests LIKE ? ORDER BY id DESC LIMIT ?",
            (repo, f'%"number": {int(number)},%', limit),
        )
        return [job for job in jobs if any(pr.number == number for pr in job.pull_requests)]

    def accepted(self, hook_id: str, deliveries: Sequence[str]) -> set[str]:
        """Which of ``deliveries`` (GUIDs) of hook ``hook_id`` the store has accepted."""
        if not deliveries:
            return set()
        marks = ", ".join("?" * len(deliveries))
        with self.database.read() as cur:
            cur.execute(
                f"SELECT delivery FROM deliveries WHERE hook_id = ? AND delivery IN ({marks})",
                (hook_id, *deliveries),
            )
            return {str(row["delivery"]) for row in cur.fetchall()}

    def latest_jobs(self) -> dict[str, Job]:
        """Each app's newest deployment job (previews live in lanes of their own)."""
        latest = self._read("WHERE id IN (SELECT MAX(id) FROM jobs WHERE lane = app GROUP BY app)")
        return {job.app: job for job in latest}

    def iter_jobs(self, *, state: JobState) -> Iterator[Job]:
        yield from self._read("WHERE state = ? ORDER BY id", (state.value,))

    # -- the outbox and the counts --------------------------------------------

    def pending_reports(self, *, limit: int = 100) -> list[Report]:
        return self.outbox.pending(self.clock(), limit=limit)

    def report_delivered(self, report_id: int) -> None:
        self.outbox.delivered(report_id, self.clock())

    def report_retry(self, report_id: int, *, delay: float) -> None:
        self.outbox.retry(report_id, self.clock() + delay)

    def stats(self) -> StoreStats:
        return count(self.database)

    def ping(self) -> None:
        with self.database.read() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        self.database.close()
