"""A job's row: read jobs by column name, and change one job with its report written to the
outbox in the same transaction, so a state change and its report never part.

Owns: ``JobRows``, the primitives the enqueue and claim paths of ``SqlStore`` build on.
Must not touch: which change is right when (enqueue.py and claims.py decide); Flask,
clusters, GitHub.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from webhook.model import Job, JobState
from webhook.queue import records
from webhook.queue.database import Cursor, Database
from webhook.queue.outbox import Outbox

JOBS = records.JOB_COLUMNS
#: States of a job that waits: to run (queued) or for approval (a plan out of sync).
WAITING = (JobState.QUEUED.value, JobState.OUT_OF_SYNC.value)


class JobRows:
    """Jobs in ``database``'s ``jobs`` table, each change reported through ``outbox``."""

    clock = staticmethod(time.time)
    database: Database[Any]
    outbox: Outbox

    def _end(
        self,
        cur: Cursor,
        job_id: int,
        now: float,
        state: JobState,
        message: str,
        *,
        where: tuple[str, Sequence[Any]] = ("1 = 1", ()),
        **fields: Any,
    ) -> Job | None:
        """Put a job in its final ``state``: finished now, its lease released."""
        ended: dict[str, Any] = {"finished_at": now, "lease_owner": None, "lease_expires_at": None}
        return self._change(
            cur, job_id, now, where=where, state=state, message=message, **ended, **fields
        )

    def _change(
        self,
        cur: Cursor,
        job_id: int,
        now: float,
        *,
        where: tuple[str, Sequence[Any]] = ("1 = 1", ()),
        **fields: Any,
    ) -> Job | None:
        """Set ``fields`` of a job (when ``where`` holds too) and report its new state in the
        same transaction; the changed job, or None when nothing matched."""
        values = records.changes(Job, **fields)
        assignments = ", ".join(f"{column} = ?" for column in values)
        condition, params = where
        cur.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ? AND {condition}",
            (*values.values(), job_id, *params),
        )
        if cur.rowcount != 1:
            return None
        changed = self._get(cur, job_id)
        if changed is not None:
            self.outbox.record(cur, changed, now)
        return changed

    def _supersede(self, cur: Cursor, newer: Job, now: float) -> list[Job]:
        """End the jobs waiting in ``newer``'s lane before it: it deploys what they would.

        Queued jobs never run; a plan awaiting approval is replaced by the newer one, so its
        commit gets a final status instead of staying "pending" forever. A job of unknown
        scope that replaces any is then made to run (``enqueue._must_run_once_superseding``):
        narrowed by its own change alone, it could deploy nothing and lose theirs.
        """
        older = self._all(
            cur, "WHERE lane = ? AND state IN (?, ?) AND id < ?", (newer.lane, *WAITING, newer.id)
        )
        message = f"superseded by {newer.commit[:7]}"
        return [
            self._end(cur, job.id, now, JobState.SUPERSEDED, message, superseded_by=newer.id) or job
            for job in older
        ]

    @staticmethod
    def _all(cur: Cursor, where: str, params: Sequence[Any] = ()) -> list[Job]:
        """Jobs from ``SELECT ... FROM jobs <where>``, read by column name."""
        cur.execute(f"SELECT {JOBS} FROM jobs {where}", params)
        return [records.load_job(row) for row in cur.fetchall()]

    def _first(self, cur: Cursor, where: str, params: Sequence[Any] = ()) -> Job | None:
        found = self._all(cur, where, params)
        return found[0] if found else None

    def _get(self, cur: Cursor, job_id: int) -> Job | None:
        return self._first(cur, "WHERE id = ?", (job_id,))

    def _read(self, where: str, params: Sequence[Any] = ()) -> list[Job]:
        with self.database.read() as cur:
            return self._all(cur, where, params)
