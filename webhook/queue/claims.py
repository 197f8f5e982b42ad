"""A job's run in the store: claim the next runnable job under a lease, keep the lease,
check it (the fence before each apply tier), finish or retry, and recover the jobs of a
worker that died.

Owns: those transitions (``Claims``). Must not touch: how jobs are enqueued (enqueue.py);
Flask, clusters, GitHub.
"""

from __future__ import annotations

from typing import Any

from webhook.model import Job, JobState, StepOutcome
from webhook.queue.base import MAX_ATTEMPTS
from webhook.queue.database import Cursor
from webhook.queue.job_rows import JobRows


class Claims(JobRows):
    """Claim, heartbeat, holds, finish, retry and resolve_scope of ``SqlStore``."""

    def claim(self, owner: str, *, lease_seconds: float) -> Job | None:
        """Deployment lanes first: a burst of previews never holds the workers while a merge
        waits. Then the oldest job whose lane has nothing running."""
        # Idle workers poll often: look without the write lock first.
        runnable = (
            "((state = ? AND (retry_at IS NULL OR retry_at <= ?))"
            " OR (state = ? AND lease_expires_at < ?))"
        )
        with self.database.read() as cur:
            now = self.clock()
            cur.execute(
                f"SELECT 1 FROM jobs WHERE {runnable} LIMIT 1",
                (JobState.QUEUED.value, now, JobState.RUNNING.value, now),
            )
            if cur.fetchone() is None:
                return None
        with self.database.write() as cur:
            now = self.clock()
            self._expire(cur, now)
            job = self._first(
                cur,
                f"j WHERE {runnable} AND NOT EXISTS ("
                "  SELECT 1 FROM jobs r WHERE r.lane = j.lane AND r.state = ? "
                "  AND r.lease_expires_at >= ? AND r.id <> j.id) "
                "ORDER BY CASE WHEN j.lane = j.app THEN 0 ELSE 1 END, j.id LIMIT 1",
                (*(JobState.QUEUED.value, now), *(JobState.RUNNING.value, now) * 2),
            )
            if job is None:
                return None
            attempt = job.attempts + 1
            message = "running" if attempt == 1 else f"running (attempt {attempt})"
            lease: dict[str, Any] = {"lease_owner": owner, "lease_expires_at": now + lease_seconds}
            return self._change(
                cur,
                job.id,
                now,
                state=JobState.RUNNING,
                message=message,
                attempts=attempt,
                started_at=now,
                retry_at=None,
                **lease,
            )

    def _expire(self, cur: Cursor, now: float) -> None:
        """Deal with jobs whose worker died: supersede, give up, or leave them to be reclaimed."""
        lost = self._all(
            cur, "WHERE state = ? AND lease_expires_at < ?", (JobState.RUNNING.value, now)
        )
        for job in lost:
            cur.execute(
                "SELECT id, commit_sha FROM jobs WHERE lane = ? AND state = ? AND id > ? "
                "ORDER BY id DESC LIMIT 1",
                (job.lane, JobState.QUEUED.value, job.id),
            )
            newer = cur.fetchone()
            if newer is not None:
                state, by = JobState.SUPERSEDED, newer["id"]
                message = f"superseded by {newer['commit_sha'][:7]}"
            elif job.attempts >= MAX_ATTEMPTS:
                state, by = JobState.FAILED, None
                message = f"gave up after {job.attempts} attempts: worker lost"
            else:
                continue
            self._end(cur, job.id, now, state, message, superseded_by=by)

    def heartbeat(self, job_id: int, owner: str, *, lease_seconds: float) -> bool:
        with self.database.write() as cur:
            cur.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = ? "
                "AND lease_owner = ?",
                (self.clock() + lease_seconds, job_id, JobState.RUNNING.value, owner),
            )
            return cur.rowcount == 1

    def holds(self, job_id: int, owner: str) -> bool:
        """Whether ``owner`` holds the job's lease now (running, not expired): the fence a
        worker checks before each apply tier."""
        with self.database.read() as cur:
            cur.execute(
                "SELECT 1 FROM jobs WHERE id = ? AND state = ? AND lease_owner = ? "
                "AND lease_expires_at > ?",
                (job_id, JobState.RUNNING.value, owner, self.clock()),
            )
            return cur.fetchone() is not None

    def finish(self, job_id: int, owner: str, outcome: StepOutcome) -> Job | None:
        if not outcome.state.final:
            raise ValueError(f"a job cannot finish as {outcome.state}")
        with self.database.write() as cur:
            now = self.clock()
            leased = ("state = ? AND lease_owner = ?", (JobState.RUNNING.value, owner))
            return self._end(
                cur,
                job_id,
                now,
                outcome.state,
                outcome.message,
                where=leased,
                result=outcome.result,
            )

    def retry(self, job_id: int, owner: str, outcome: StepOutcome, *, delay: float) -> Job | None:
        """Queue the job again, not before ``delay`` seconds, if ``owner`` still holds it: a
        dependency was unreachable. The outbox reports the failure (as an ``error``)."""
        with self.database.write() as cur:
            now = self.clock()
            return self._change(
                cur,
                job_id,
                now,
                where=("state = ? AND lease_owner = ?", (JobState.RUNNING.value, owner)),
                state=JobState.QUEUED,
                message=outcome.message,
                result=outcome.result,
                retry_at=now + delay,
                lease_owner=None,
                lease_expires_at=None,
            )

    def resolve_scope(self, job_id: int) -> Job | None:
        """The job's app is touched after all: report it from now on, starting with now, and
        supersede the jobs that began waiting in its lane since it was queued (a plan an
        older job left meanwhile: this newer one plans again)."""
        with self.database.write() as cur:
            now = self.clock()
            resolved = self._change(cur, job_id, now, diff_base=None)
            if resolved is not None:
                self._supersede(cur, resolved, now)
            return resolved
