"""The queue's rules written once in SQL, for every store (SQLite, PostgreSQL).

A store subclass provides a connection, a write transaction that serializes enqueues and
claims (so "one running job per app" needs no cleverness), and the few dialect differences
(``rows.SqlBase``). The report outbox and the counts live in ``outbox.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from webhook.model import Job, JobState, StepOutcome, SyncRequest, Trigger
from webhook.queue.base import MAX_ATTEMPTS, DeliveryKey, Enqueued, EnqueueResult
from webhook.queue.outbox import Outbox
from webhook.queue.rows import COLUMNS, Cursor, prs_to_json, row_to_job

__all__ = ["COLUMNS", "Cursor", "SqlStore", "row_to_job"]

_DEDUPED_TRIGGERS = (Trigger.PUSH.value, Trigger.MERGE.value)


class SqlStore(Outbox):
    """The queue's rules over a DB-API connection."""

    # -- writes ---------------------------------------------------------------

    def enqueue(
        self, requests: Sequence[SyncRequest], *, delivery: DeliveryKey | None = None
    ) -> EnqueueResult:
        with self._write() as cur:
            now = self.clock()
            if delivery is not None:
                cur.execute(
                    "SELECT 1 FROM deliveries WHERE hook_id = ? AND delivery = ?",
                    (delivery.hook_id, delivery.delivery),
                )
                if cur.fetchone() is not None:
                    return EnqueueResult(duplicate=True)
                cur.execute(
                    "INSERT INTO deliveries (hook_id, delivery, received_at) VALUES (?, ?, ?)",
                    (delivery.hook_id, delivery.delivery, now),
                )
            results: list[Enqueued] = []
            superseded: list[Job] = []
            for request in self._narrow_merge(cur, requests):
                existing = self._existing(cur, request)
                if existing is not None:
                    results.append(
                        Enqueued(job=self._attach(cur, existing, request), created=False)
                    )
                    continue
                job_id = self._insert_job(
                    cur,
                    (
                        request.app,
                        request.repo,
                        request.commit,
                        request.ref,
                        request.trigger.value,
                        JobState.QUEUED.value,
                        request.delivery,
                        prs_to_json(request.pull_requests),
                        int(request.approved),
                        0,
                        None,
                        None,
                        now,
                        None,
                        None,
                        "queued",
                        None,
                        None,
                        request.lane,
                        request.diff_base,
                    ),
                )
                job = self._get(cur, job_id)
                assert job is not None
                self._record(cur, job, now)
                superseded.extend(self._supersede(cur, request.lane, job_id, request.commit, now))
                results.append(Enqueued(job=job, created=True))
            return EnqueueResult(duplicate=False, jobs=tuple(results), superseded=tuple(superseded))

    def _narrow_merge(self, cur: Cursor, requests: Sequence[SyncRequest]) -> list[SyncRequest]:
        """A merge event names no files; if the push for its commit came first, trust the push."""
        narrowed: list[SyncRequest] = []
        known: dict[tuple[str, str], set[str] | None] = {}
        for request in requests:
            if request.trigger is not Trigger.MERGE:
                narrowed.append(request)
                continue
            key = (request.repo, request.commit)
            if key not in known:
                cur.execute(
                    "SELECT app FROM jobs WHERE repo = ? AND commit_sha = ? AND trigger = ?",
                    (request.repo, request.commit, Trigger.PUSH.value),
                )
                apps = {row[0] for row in cur.fetchall()}
                known[key] = apps or None
            apps_of_push = known[key]
            if apps_of_push is None or request.app in apps_of_push:
                narrowed.append(request)
        return narrowed

    def _existing(self, cur: Cursor, request: SyncRequest) -> Job | None:
        if request.trigger.value not in _DEDUPED_TRIGGERS:
            return None
        cur.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE app = ? AND commit_sha = ? "
            "AND trigger IN (?, ?) ORDER BY id DESC LIMIT 1",
            (request.app, request.commit, *_DEDUPED_TRIGGERS),
        )
        row = cur.fetchone()
        return row_to_job(row) if row else None

    def _attach(self, cur: Cursor, job: Job, request: SyncRequest) -> Job:
        """Remember the pull requests of a second event for the same deployment."""
        merged = list(job.pull_requests)
        merged.extend(pr for pr in request.pull_requests if pr not in merged)
        if len(merged) == len(job.pull_requests):
            return job
        cur.execute("UPDATE jobs SET pull_requests = ? WHERE id = ?", (prs_to_json(merged), job.id))
        attached = self._get(cur, job.id) or job
        # The pull request's head commit has seen nothing yet: report the current state.
        self._record(cur, attached, self.clock())
        return attached

    def _supersede(
        self, cur: Cursor, lane: str, newer_id: int, commit: str, now: float
    ) -> list[Job]:
        # Queued jobs never run; a plan awaiting approval is replaced by the newer one, so
        # its commit gets a final status instead of staying "pending" forever.
        waiting = (JobState.QUEUED.value, JobState.OUT_OF_SYNC.value)
        cur.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE lane = ? AND state IN (?, ?) AND id < ?",
            (lane, *waiting, newer_id),
        )
        older = [row_to_job(row) for row in cur.fetchall()]
        if not older:
            return []
        cur.execute(
            "UPDATE jobs SET state = ?, superseded_by = ?, finished_at = ?, message = ? "
            "WHERE lane = ? AND state IN (?, ?) AND id < ?",
            (
                JobState.SUPERSEDED.value,
                newer_id,
                now,
                f"superseded by {commit[:7]}",
                lane,
                *waiting,
                newer_id,
            ),
        )
        done = [self._get(cur, job.id) or job for job in older]
        for job in done:
            self._record(cur, job, now)
        return done

    def claim(self, owner: str, *, lease_seconds: float) -> Job | None:
        # Idle workers poll often: look without the write lock first.
        with self._read() as cur:
            cur.execute(
                "SELECT 1 FROM jobs WHERE state = ? OR (state = ? AND lease_expires_at < ?) "
                "LIMIT 1",
                (JobState.QUEUED.value, JobState.RUNNING.value, self.clock()),
            )
            if cur.fetchone() is None:
                return None
        with self._write() as cur:
            now = self.clock()
            self._expire(cur, now)
            cur.execute(
                f"SELECT {COLUMNS} FROM jobs j WHERE "
                "(j.state = ? OR (j.state = ? AND j.lease_expires_at < ?)) AND NOT EXISTS ("
                "  SELECT 1 FROM jobs r WHERE r.lane = j.lane AND r.state = ? "
                "  AND r.lease_expires_at >= ? AND r.id <> j.id) "
                "ORDER BY j.id LIMIT 1",
                (JobState.QUEUED.value, JobState.RUNNING.value, now, JobState.RUNNING.value, now),
            )
            row = cur.fetchone()
            if row is None:
                return None
            job = row_to_job(row)
            cur.execute(
                "UPDATE jobs SET state = ?, lease_owner = ?, lease_expires_at = ?, "
                "attempts = attempts + 1, started_at = ?, message = ? WHERE id = ?",
                (
                    JobState.RUNNING.value,
                    owner,
                    now + lease_seconds,
                    now,
                    "running" if job.attempts == 0 else f"running (attempt {job.attempts + 1})",
                    job.id,
                ),
            )
            claimed = self._get(cur, job.id)
            if claimed is not None:
                self._record(cur, claimed, now)
            return claimed

    def _expire(self, cur: Cursor, now: float) -> None:
        """Deal with jobs whose worker died: supersede, give up, or leave them to be reclaimed."""
        cur.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE state = ? AND lease_expires_at < ?",
            (JobState.RUNNING.value, now),
        )
        for job in [row_to_job(row) for row in cur.fetchall()]:
            cur.execute(
                "SELECT id, commit_sha FROM jobs WHERE lane = ? AND state = ? AND id > ? "
                "ORDER BY id DESC LIMIT 1",
                (job.lane, JobState.QUEUED.value, job.id),
            )
            newer = cur.fetchone()
            if newer is not None:
                state, message, by = JobState.SUPERSEDED, f"superseded by {newer[1][:7]}", newer[0]
            elif job.attempts >= MAX_ATTEMPTS:
                state, message, by = (
                    JobState.FAILED,
                    f"gave up after {job.attempts} attempts: worker lost",
                    None,
                )
            else:
                continue
            cur.execute(
                "UPDATE jobs SET state = ?, message = ?, superseded_by = ?, finished_at = ?, "
                "lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
                (state.value, message, by, now, job.id),
            )
            expired = self._get(cur, job.id)
            if expired is not None:
                self._record(cur, expired, now)

    def heartbeat(self, job_id: int, owner: str, *, lease_seconds: float) -> bool:
        with self._write() as cur:
            cur.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = ? "
                "AND lease_owner = ?",
                (self.clock() + lease_seconds, job_id, JobState.RUNNING.value, owner),
            )
            return cur.rowcount == 1

    def finish(self, job_id: int, owner: str, outcome: StepOutcome) -> Job | None:
        if not outcome.state.final:
            raise ValueError(f"a job cannot finish as {outcome.state}")
        with self._write() as cur:
            cur.execute(
                "UPDATE jobs SET state = ?, message = ?, result = ?, finished_at = ?, "
                "lease_owner = NULL, lease_expires_at = NULL "
                "WHERE id = ? AND state = ? AND lease_owner = ?",
                (
                    outcome.state.value,
                    outcome.message,
                    json.dumps(outcome.result),
                    self.clock(),
                    job_id,
                    JobState.RUNNING.value,
                    owner,
                ),
            )
            if cur.rowcount != 1:
                return None
            finished = self._get(cur, job_id)
            if finished is not None:
                self._record(cur, finished, self.clock())
            return finished

    def resolve_scope(self, job_id: int) -> Job | None:
        """The job's app is touched after all: report it from now on, starting with now."""
        with self._write() as cur:
            cur.execute("UPDATE jobs SET diff_base = NULL WHERE id = ?", (job_id,))
            job = self._get(cur, job_id)
            if job is not None:
                self._record(cur, job, self.clock())
            return job

    # -- reads ----------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        with self._read() as cur:
            return self._get(cur, job_id)

    def jobs_for_app(self, app: str, *, limit: int = 50) -> list[Job]:
        with self._read() as cur:
            cur.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit)
            )
            return [row_to_job(row) for row in cur.fetchall()]

    def jobs_for_pull_request(self, repo: str, number: int, *, limit: int = 500) -> list[Job]:
        """Jobs that carry pull request ``number`` of ``repo``, newest first: one query,
        however many apps the repo has."""
        with self._read() as cur:
            # A coarse text match on the stored JSON, made exact below.
            cur.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE repo = ? AND pull_requests LIKE ? "
                "ORDER BY id DESC LIMIT ?",
                (repo, f'%"number": {int(number)},%', limit),
            )
            jobs = [row_to_job(row) for row in cur.fetchall()]
        return [job for job in jobs if any(pr.number == number for pr in job.pull_requests)]

    def latest_jobs(self) -> dict[str, Job]:
        """Each app's newest deployment job (previews live in lanes of their own)."""
        with self._read() as cur:
            cur.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE id IN "
                "(SELECT MAX(id) FROM jobs WHERE lane = app GROUP BY app)"
            )
            return {job.app: job for job in map(row_to_job, cur.fetchall())}

    def iter_jobs(self, *, state: JobState) -> Iterator[Job]:
        with self._read() as cur:
            cur.execute(f"SELECT {COLUMNS} FROM jobs WHERE state = ? ORDER BY id", (state.value,))
            rows = cur.fetchall()
        yield from map(row_to_job, rows)

    def ping(self) -> None:
        with self._read() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
