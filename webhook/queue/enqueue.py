"""Enqueue: the jobs an event asks for, written once. A delivery is accepted at most once;
a merge's request is narrowed by the push of its commit; a second event for the same
deployment attaches its pull requests; a paused app's automatic trigger is recorded as
skipped; a new job supersedes the older waiting ones in its lane.

Owns: those rules (``Enqueuing``). Must not touch: claiming and running jobs (claims.py);
Flask, clusters, GitHub.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.model import Job, JobState, Pause, SyncRequest, Trigger
from webhook.queue import records
from webhook.queue.base import DeliveryKey, Enqueued, EnqueueResult
from webhook.queue.database import Cursor, insert
from webhook.queue.doorbell import Doorbell
from webhook.queue.job_rows import JobRows
from webhook.queue.pauses import Pauses

_DEDUPED_TRIGGERS = (Trigger.PUSH.value, Trigger.MERGE.value)
#: What a paused app does not run: the automatic triggers. A person's approval (a manual
#: job, the rollback itself) and a pull request's preview (which changes nothing) still run.
_PAUSABLE = (Trigger.PUSH, Trigger.MERGE, Trigger.DRIFT)


def _must_run_once_superseding(job: Job) -> bool:
    """Whether ``job``, having replaced older jobs of its lane, must now run whatever its own
    change touches.

    A deployment whose scope is unknown (a ``diff_base``: a merge, a push whose file lists
    were cut) diffs only its own change, and may end "not touched", deploying nothing: the
    older job's change (another merge queued behind it) would be lost while its status says
    the newer commit ships it. Having superseded it, the newer job deploys its commit, which
    holds that change: the burst still costs one sync. A preview diffs its pull request's
    whole change from the base branch, so its newest run already covers the older ones."""
    return job.diff_base is not None and job.trigger is not Trigger.PREVIEW


class Enqueuing(JobRows):
    """``SqlStore.enqueue`` and the rules it applies."""

    doorbell: Doorbell | None

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
                replaced = self._supersede(cur, job, now)
                if replaced and _must_run_once_superseding(job):
                    job = self._change(cur, job.id, now, diff_base=None) or job
                superseded.extend(replaced)
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
