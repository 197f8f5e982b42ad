"""Carry job state changes from the store's report outbox to GitHub.

Owns: which commit statuses a job's state becomes (context, state, description, link),
on which commits (the job's commit and every attached pull request's head), the pull
request comments (one per PR for the merge's deployments, one for its preview), the
optional GitHub Deployments, and the retry pacing when GitHub is down or rate-limits us.

Rules:
- a report is delivered only while it is the job's current state; a report whose job has
  since moved on is stale and is acknowledged without a word (the newer report speaks), so
  an outage that delays an old report can never overwrite a newer status. That holds
  between the writes of one report too: once the job has moved on, the rest of a report's
  writes (the pull request heads' statuses, the comment) are dropped, so a finished sync's
  green is not queued behind the writes of its ``pending`` (about a second on GitHub);
- an unchanged (state, description) is never posted twice to one commit and context
  (``webhook.posted_statuses`` remembers what was posted, across restarts, and what was
  about to be: after a crash mid-post, GitHub is asked before the status is posted again);
- a job that is only under way (queued, syncing) shows it on its commit at once; the rest
  of that report (the pull request heads' statuses, the deployment, the comment) waits
  ``SETTLE`` seconds first, and is never sent when the job has finished by then: a quick
  sync costs GitHub three writes fewer, and its green is not queued behind them;
- when GitHub is unavailable the report waits (``Retry-After``, ``X-RateLimit-Reset``, or
  a backoff) and nothing else is sent before then; a deployment never waits for GitHub.
Must not touch: the cluster, git, the queue's own tables (only its public methods).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from webhook import telemetry
from webhook.comments import (
    DEPLOY_MARKER,
    PREVIEW_MARKER,
    deployment_comment,
    plain_text,
    preview_comment,
)
from webhook.errors import Unavailable
from webhook.github import GitHubClient
from webhook.github_deployments import DeploymentState
from webhook.github_errors import GitHubRejected
from webhook.github_statuses import StatusState
from webhook.model import Job, JobState, Trigger
from webhook.posted_statuses import PostedStatuses, SqlPostedStatuses
from webhook.queue import JobStore
from webhook.queue.audit import ApprovalLog
from webhook.queue.base import Report
from webhook.settings import DeployerConfig
from webhook.text import cut

log = logging.getLogger(__name__)

#: Without a word from GitHub, wait 5 s, 10 s, 20 s ... up to ten minutes.
BASE_BACKOFF = 5.0
MAX_BACKOFF = 600.0
#: Recorded as the state before a status is posted, replaced once GitHub has answered: a
#: process killed in between finds it, and looks on GitHub before posting again.
POSTING = "posting:"
#: Seconds the rest of an under-way report waits (see the module's rules). Most syncs of a
#: merge end sooner; on GitHub each write takes a few hundred milliseconds.
SETTLE = 1.0


def status_for(job: Job) -> tuple[StatusState, str]:
    """The commit status that tells a reader of the PR page where ``job`` is.

    Superseded is ``success``: it is the queue working as meant (a newer commit of the same
    branch carries these changes along), not a fault, and GitHub has no "cancelled"; red
    would teach people to ignore red. The description names the newer commit, whose own
    status says whether that deployment worked. Out of sync (a manual app whose plan awaits
    approval) stays ``pending``: nothing failed, nothing is deployed yet, a person must act,
    which is what a yellow dot says; ``failure`` would be untrue and block required checks.
    """
    message = job.message.strip()
    preview = job.trigger is Trigger.PREVIEW
    match job.state:
        case JobState.QUEUED if job.retry_at is not None:
            return "error", message or "a dependency is unreachable; retrying"
        case JobState.QUEUED:
            return "pending", "queued"
        case JobState.RUNNING:
            doing = "rendering and dry-running" if preview else "syncing"
            return "pending", f"{doing} {job.commit[:7]}" + (
                f" (attempt {job.attempts})" if job.attempts > 1 else ""
            )
        case JobState.SUCCEEDED:
            return "success", message or "deployed"
        case JobState.FAILED:
            kind = (job.result or {}).get("error_kind")
            return ("error" if kind == "infrastructure" else "failure"), message or "failed"
        case JobState.SUPERSEDED:
            return "success", f"skipped: {message or 'superseded'}; the newer commit ships it"
        case JobState.OUT_OF_SYNC:
            return "pending", message or "out of sync: awaiting approval"
    raise ValueError(f"unknown job state {job.state}")  # pragma: no cover


class _Overtaken(Exception):
    """The job changed state while its report was being delivered: the newer report speaks."""


_DEPLOYMENT_STATE: dict[JobState, DeploymentState] = {
    JobState.RUNNING: "in_progress",
    JobState.SUCCEEDED: "success",
    JobState.FAILED: "failure",
    JobState.SUPERSEDED: "inactive",
    JobState.OUT_OF_SYNC: "queued",
}


class Reporter:
    """Drains the outbox of ``store`` into GitHub through ``client``."""

    def __init__(
        self,
        store: JobStore,
        config: DeployerConfig,
        client: GitHubClient,
        *,
        posted: PostedStatuses | None = None,
        clock: Callable[[], float] = time.time,
        settle: float = SETTLE,
    ) -> None:
        self.store = store
        self.config = config
        self.client = client
        self.posted = posted if posted is not None else SqlPostedStatuses(store)
        self.clock = clock
        self.settle = settle
        #: Under-way reports whose commit status is out, and when the rest of each is due.
        self._settling: dict[int, float] = {}
        #: GitHub asked us to wait until then: nothing is sent before.
        self.resume_at = 0.0
        self.wake = threading.Event()

    # -- the loop ------------------------------------------------------------------

    def job_changed(self, job: Job) -> None:
        """Worker listener: a job of this process changed, so a report is waiting now."""
        self.wake.set()

    def run(self, stop: threading.Event, *, interval: float = 0.25) -> None:
        """Deliver until ``stop`` is set; never raises.

        Woken at once by this process's workers; ``interval`` bounds the delay for reports
        written elsewhere (a queued job is recorded by the web process).
        """
        while not stop.is_set():
            try:
                delivered = self.deliver_pending()
            except Exception:
                log.exception("reporter round failed; trying again")
                delivered = 0
            if delivered:
                stop.wait(0.01)
                continue
            self.wake.wait(interval)
            self.wake.clear()

    def deliver_pending(self) -> int:
        """One round over the due reports; how many were acknowledged."""
        if self.clock() < self.resume_at:
            return 0
        reports = self.store.pending_reports()
        latest: dict[int, int] = {}
        for report in reports:
            latest[report.job_id] = report.id
        done = 0
        for report in reports:
            job = self.store.get(report.job_id)
            stale = job is None or latest[report.job_id] != report.id
            if stale or job is None or job.state is not report.state or job.silent:
                # Stale (a later report of the same job says more), or nothing to say yet
                # (scope unknown) or at all (the change did not touch the app).
                self._acknowledge(report)
                done += 1
                continue
            due = self._settling.get(report.id)
            if due is not None and self.clock() < due:
                continue  # the rest of an under-way report waits; later reports need not
            try:
                if due is None and self._under_way(job):
                    self._deliver(job, retry=report.attempts > 0, commit_only=True)
                    self._settling[report.id] = self.clock() + self.settle
                    continue
                self._deliver(job, retry=report.attempts > 0)
                if job.finished_at is not None and job.trigger is not Trigger.PREVIEW:
                    # The job was created when the push or merge was delivered.
                    telemetry.MERGE_TO_STATUS.labels(app=job.app).observe(
                        max(0.0, self.clock() - job.created_at)
                    )
            except Unavailable as exc:
                delay = self._delay(exc, report)
                self.resume_at = self.clock() + delay
                self.store.report_retry(report.id, delay=delay)
                log.warning(
                    "job %s: GitHub unavailable (%s); report %s waits %.0fs",
                    job.id,
                    exc,
                    report.id,
                    delay,
                )
                break
            except GitHubRejected as exc:
                log.error("job %s: GitHub refused the report, dropping it: %s", job.id, exc)
            except _Overtaken:
                log.debug("job %s: left %s; the newer report speaks", job.id, job.state.value)
            self._acknowledge(report)
            done += 1
        return done

    def _acknowledge(self, report: Report) -> None:
        self.store.report_delivered(report.id)
        self._settling.pop(report.id, None)

    def _under_way(self, job: Job) -> bool:
        """A job whose report has more than its commit's status to say, and that may well
        have finished before that is worth saying (see ``SETTLE``)."""
        if self.settle <= 0 or status_for(job)[0] != "pending":
            return False
        if job.state not in (JobState.QUEUED, JobState.RUNNING):
            return False  # out of sync waits for a person: say everything now
        app = self.config.app(job.app)
        deployment = app is not None and bool(app.deployment_environment)
        return bool(job.pull_requests) or (deployment and job.trigger is not Trigger.PREVIEW)

    @staticmethod
    def _delay(exc: Unavailable, report: Report) -> float:
        if exc.retry_after is not None:
            return min(max(exc.retry_after, 1.0), 3600.0)
        return float(min(BASE_BACKOFF * 2.0**report.attempts, MAX_BACKOFF))

    # -- one job -------------------------------------------------------------------

    def context(self, job: Job) -> str:
        prefix = self.config.status_context_prefix
        if job.trigger is Trigger.PREVIEW:
            prefix = prefix.rstrip("/") + "-preview/"
        return f"{prefix}{job.app}"

    def target_url(self, job: Job) -> str | None:
        base = self.config.public_url
        return f"{base.rstrip('/')}/jobs/{job.id}" if base else None

    def _deliver(self, job: Job, *, retry: bool, commit_only: bool = False) -> None:
        """Statuses, deployment and comments for ``job``'s state (``commit_only``: just the
        status of the job's own commit).

        On a retry GitHub may have done a write whose answer was lost: each status is
        looked up before it is posted again, so a retry never doubles one.
        """
        state, description = status_for(job)
        description = self._paused(job, description)
        # Messages quote repositories and tools: no HTML, no @mention that notifies.
        description = cut(plain_text(description), 140)
        shas = [job.commit] + [pr.head_sha for pr in job.pull_requests] * (not commit_only)
        context = self.context(job)
        for index, sha in enumerate(dict.fromkeys(shas)):
            if index:
                self._still(job)
            known = self.posted.get(job.repo, sha, context)
            if known == (state, description):
                continue
            # A post may have landed unheard: an ambiguous answer (a retry), or a crash
            # between the POST and its record (the intent below is still there).
            unsure = retry or known == (POSTING + state, description)
            if unsure and self.client.latest_status(job.repo, sha, context) == (
                state,
                description,
            ):
                self.posted.put(job.repo, sha, context, state, description)
                continue
            self.posted.put(job.repo, sha, context, POSTING + state, description)
            self.client.create_status(
                job.repo,
                sha,
                state=state,
                context=context,
                description=description,
                target_url=self.target_url(job),
            )
            self.posted.put(job.repo, sha, context, state, description)
        if commit_only:
            return
        app = self.config.app(job.app)
        if app is not None and app.deployment_environment and job.trigger is not Trigger.PREVIEW:
            self._still(job)
            self._deployment(job, app.deployment_environment, description)
        for pr in job.pull_requests:
            self._still(job)
            self._comment(job, pr.number)

    def _still(self, job: Job) -> None:
        """Raise _Overtaken if ``job`` has left the state being reported. Every state change
        writes its own report (``queue/store.py``), so the newer one is waiting."""
        now = self.store.get(job.id)
        if now is not None and now.state is not job.state:
            raise _Overtaken

    def _paused(self, job: Job, description: str) -> str:
        """A rollback's status says that the app is paused there, and by whom."""
        if job.trigger is not Trigger.MANUAL or job.state is not JobState.SUCCEEDED:
            return description
        pause = self.store.pauses.get(job.app)
        if pause is None or pause.commit != job.commit:
            return description
        return f"{pause.describe()}; {description}"

    def _deployment(self, job: Job, environment: str, description: str) -> None:
        """A GitHub Deployment per sync: created when the job runs, then its statuses."""
        deployment_state = _DEPLOYMENT_STATE.get(job.state)
        key = f"deployment/{environment}/{job.id}"
        if deployment_state is None or (
            job.state is JobState.SUPERSEDED and self.posted.get(job.repo, job.commit, key) is None
        ):
            return  # a job superseded in the queue never ran: no deployment to close
        if self.posted.get(job.repo, job.commit, key) == (deployment_state, description):
            return
        deployment_id = self.client.ensure_deployment(
            job.repo, job.commit, environment=environment, job_id=job.id, description=description
        )
        self.client.create_deployment_status(
            job.repo,
            deployment_id,
            state=deployment_state,
            description=description,
            log_url=self.target_url(job),
        )
        self.posted.put(job.repo, job.commit, key, deployment_state, description)

    def _comment(self, job: Job, number: int) -> None:
        preview = job.trigger is Trigger.PREVIEW
        jobs = self._jobs_of_pull_request(job, number, preview=preview)
        public_url = self.config.public_url.rstrip("/") if self.config.public_url else None
        if preview:
            body, marker = preview_comment(number, jobs, public_url), PREVIEW_MARKER
        else:
            approvals = ApprovalLog(self.store).for_jobs(j.id for j in jobs)
            body = deployment_comment(number, jobs, public_url, approvals)
            marker = DEPLOY_MARKER
        self.client.upsert_comment(job.repo, number, marker, body)

    def _jobs_of_pull_request(self, job: Job, number: int, *, preview: bool) -> list[Job]:
        """Each app's newest job for PR ``number`` (previews, or the merge's deployments)."""
        newest: dict[str, Job] = {}
        for candidate in self.store.jobs_for_pull_request(job.repo, number):
            if (candidate.trigger is Trigger.PREVIEW) != preview or candidate.silent:
                continue
            newest.setdefault(candidate.app, candidate)
        newest[job.app] = job if job.id >= newest.get(job.app, job).id else newest[job.app]
        return list(newest.values())
