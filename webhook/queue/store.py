"""The queue's rules, written once in SQL over a ``Database`` of either dialect.

The store composes three parts: a ``Database`` (connections and the write lock of SQLite
or PostgreSQL), the report ``Outbox`` written in the same transaction as each change, and
the metrics query (``stats.py``). Jobs are read and written by column name
(``records.py``); every write runs under the database's single write lock, so "one running
job per lane" and "a delivery once" need no cleverness.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from webhook.affected import RecordedInputs
from webhook.model import Job, JobState, Pause, StepOutcome, SyncRequest, Trigger
from webhook.queue import inputs, records
from webhook.queue.base import MAX_ATTEMPTS, DeliveryKey, Enqueued, EnqueueResult, Report
from webhook.queue.database import Cursor, Database, insert
from webhook.queue.doorbell import Doorbell
from webhook.queue.outbox import Outbox
from webhook.queue.pauses import Pauses
from webhook.queue.schema import migrate
from webhook.queue.stats import StoreStats, count

JOBS = records.JOB_COLUMNS
_DEDUPED_TRIGGERS = (Trigger.PUSH.value, Trigger.MERGE.value)
_WAITING = (JobState.QUEUED.value, JobState.OUT_OF_SYNC.value)
#: What a paused app does not run: the automatic triggers. A person's approval (a manual
#: job, the rollback itself) and a pull request's preview (which changes nothing) still run.
_PAUSABLE = (Trigger.PUSH, Trigger.MERGE, Trigger.DRIFT)


class SqlStore:
    """A durable queue of sync jobs in ``database`` (``JobStore``)."""

    clock = staticmethod(time.time)

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

    # -- writes ---------------------------------------------------------------

    def enqueue(
        self, requests: Sequence[SyncRequest], *, delivery: DeliveryKey | None = None
    ) -> EnqueueResult:
        result = self._enqueue(requests, delivery)
        if self.doorbell is not None and any(
            e.created and e.job.state is JobState.QUEUED for e in result.jobs
        ):
            self.doorbell.ring()  # after the commit: the job is there to be claimed
        return result

    def _enqueue(
        self, requests: Sequence[SyncRequest], delivery: DeliveryKey | None
    ) -> EnqueueResult:
        with self.database.write() as cur:
            now = self.clock()
            if delivery is not None:
                cur.execute(
                    "SELECT 1 FROM deliveries WHERE hook_id = ? AND delivery = ?",
                    (delivery.hook_id, delivery.delivery),
                )
                if cur.fetchone() is not None:
                    return EnqueueResult(duplicate=True)
                cur.execute(
                    "INSERT INTO deliveries (hook_id, delivery, received_at, secret) "
                    "VALUES (?, ?, ?, ?)",
                    (delivery.hook_id, delivery.delivery, now, delivery.signed_with),
                )
            results: list[Enqueued] = []
            superseded: list[Job] = []
            for request in self._narrow_merge(cur, requests):
                existing = self._existing(cur, request)
                if existing is not None:
                    attached = self._attach(cur, existing, request, now)
                    results.append(
                        Enqueued(job=self._touched(cur, attached, request, now), created=False)
                    )
                    continue
                paused = self._paused(cur, request)
                if paused is not None:
                    results.append(
                        Enqueued(job=self._skip(cur, request, paused, now), created=True)
                    )
                    continue
                queued = Job.of(
                    request, id=0, state=JobState.QUEUED, created_at=now, message="queued"
                )
                job = self._get(cur, insert(cur, "jobs", records.job_values(queued)))
                assert job is not None
                self.outbox.record(cur, job, now)
                superseded.extend(self._supersede(cur, job, now))
                results.append(Enqueued(job=job, created=True))
            return EnqueueResult(duplicate=False, jobs=tuple(results), superseded=tuple(superseded))

    @staticmethod
    def _paused(cur: Cursor, request: SyncRequest) -> Pause | None:
        if request.trigger not in _PAUSABLE or request.approved:
            return None
        return Pauses.read(cur, request.app)

    def _skip(self, cur: Cursor, request: SyncRequest, pause: Pause, now: float) -> Job:
        """Record a paused app's push as skipped: out of sync (a person must act, which is
        what GitHub's pending dot says), final, superseding nothing (not the rollback that
        may still be queued), and reported like any state change."""
        message = f"{pause.describe()}; not deployed until `webhook-deployer resume {pause.app}`"
        skipped = Job.of(
            request,
            id=0,
            state=JobState.OUT_OF_SYNC,
            created_at=now,
            finished_at=now,
            message=message,
            result={"paused": pause.to_dict()},
        )
        job = self._get(cur, insert(cur, "jobs", records.job_values(skipped)))
        assert job is not None
        self.outbox.record(cur, job, now)
        return job

    def _touched(self, cur: Cursor, job: Job, request: SyncRequest, now: float) -> Job:
        """A paused app's skipped merge (scope unknown, so silent) is touched after all when
        the push of its commit names the app: report it, as no worker will narrow it."""
        paused_skip = job.state is JobState.OUT_OF_SYNC and bool((job.result or {}).get("paused"))
        if paused_skip and job.diff_base is not None and request.diff_base is None:
            return self._change(cur, job.id, now, diff_base=None) or job
        return job

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
                apps = {row["app"] for row in cur.fetchall()}
                known[key] = apps or None
            apps_of_push = known[key]
            if apps_of_push is None or request.app in apps_of_push:
                narrowed.append(request)
        return narrowed

    def _existing(self, cur: Cursor, request: SyncRequest) -> Job | None:
        if request.trigger.value not in _DEDUPED_TRIGGERS:
            return None
        return self._first(
            cur,
            "WHERE app = ? AND commit_sha = ? AND trigger IN (?, ?) ORDER BY id DESC LIMIT 1",
            (request.app, request.commit, *_DEDUPED_TRIGGERS),
        )

    def _attach(self, cur: Cursor, job: Job, request: SyncRequest, now: float) -> Job:
        """Remember the pull requests of a second event for the same deployment."""
        merged = list(job.pull_requests)
        merged.extend(pr for pr in request.pull_requests if pr not in merged)
        if len(merged) == len(job.pull_requests):
            return job
        # The pull request's head commit has seen nothing yet: report the current state.
        return self._change(cur, job.id, now, pull_requests=tuple(merged)) or job

    def _supersede(self, cur: Cursor, newer: Job, now: float) -> list[Job]:
        # Queued jobs never run; a plan awaiting approval is replaced by the newer one, so
        # its commit gets a final status instead of staying "pending" forever.
        older = self._all(
            cur, "WHERE lane = ? AND state IN (?, ?) AND id < ?", (newer.lane, *_WAITING, newer.id)
        )
        message = f"superseded by {newer.commit[:7]}"
        return [
            self._end(cur, job.id, now, JobState.SUPERSEDED, message, superseded_by=newer.id) or job
            for job in older
        ]

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
        """The job's app is touched after all: report it from now on, starting with now."""
        with self.database.write() as cur:
            return self._change(cur, job_id, self.clock(), diff_base=None)

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

    def record_inputs(self, app: str, recorded: RecordedInputs | None) -> None:
        """Keep what ``app``'s last render read; None: unknown (``queue/inputs.py``)."""
        self.inputs.record(app, recorded, self.clock())

    # -- reads ----------------------------------------------------------------

    def recorded_inputs(
        self, apps: Sequence[str], *, unless_waiting: bool = True
    ) -> dict[str, RecordedInputs]:
        """Recorded inputs of ``apps``, without those whose deploy is waiting to run."""
        return self.inputs.recorded(apps, unless_waiting=unless_waiting)

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
