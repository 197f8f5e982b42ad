"""Comment commands on pull requests, run by the worker: ``/deploy approve`` and ``/deploy diff``.

Owns: what a command job (``Trigger.COMMAND``, queued by the receiver from an
``issue_comment`` delivery) does. The author's permission is checked here, with GitHub,
never in the request: write access approves the app's pending commit (or ``@<sha>``, if
its branch reaches it) or refreshes the preview; anyone else gets a polite refusal in a
reply. The deployer's own comments are ignored. Each reply is found again by a hidden
marker naming the comment it answers, so a command run twice replies once, and an
approval already recorded for the comment is not recorded again.
Must not touch: the cluster (the approved or preview job it queues does that).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from cachetools import TTLCache

from webhook.access import Level, PermissionCache
from webhook.comments import escape
from webhook.errors import Unavailable
from webhook.github_errors import GitHubRejected
from webhook.github_session import Identity
from webhook.model import (
    APPROVAL_WINDOW,
    Job,
    JobState,
    PullRequestRef,
    StepOutcome,
    SyncRequest,
    Trigger,
    awaiting_approval,
)
from webhook.queue import JobStore
from webhook.queue.audit import ApprovalLog
from webhook.revisions import (
    RevisionRefused,
    RevisionUnavailable,
    approved_revision,
    manual_request,
)
from webhook.settings import AppConfig, DeployerConfig, Environment
from webhook.worker import SyncStep

log = logging.getLogger(__name__)
#: Seconds after a refusal during which the same person's further commands on the same pull
#: request are refused without a reply: anyone may comment, and a reply per comment let an
#: outsider spend the deployer's GitHub budget (a thread search and a write each; GitHub
#: allows about 500 content-creating requests an hour) that every app's statuses share.
REFUSAL_QUIET = 3600.0


class CommandGitHub(Protocol):
    """What a command needs of GitHub (``webhook.github.GitHubClient``)."""

    def identity(self) -> Identity: ...

    def permission(self, repo: str, login: str) -> str: ...

    def pull_request(self, repo: str, number: int) -> dict[str, Any]: ...

    def upsert_comment(self, repo: str, number: int, marker: str, body: str) -> int: ...


def reply_marker(comment_id: int) -> str:
    return f"<!-- webhook-deployer:reply:{int(comment_id)} -->"


class Commands:
    """Runs command jobs; every other job goes to ``step``."""

    def __init__(
        self,
        step: SyncStep,
        github: CommandGitHub,
        store: JobStore,
        config: DeployerConfig,
        env: Environment,
    ) -> None:
        self.step, self.github, self.store = step, github, store
        self.config, self.env = config, env
        self.permissions = PermissionCache(
            lambda repo, login: Level.of(github.permission(repo, login)), ttl=env.permission_ttl
        )
        self.approvals = ApprovalLog(store)
        #: (repo, pull request, login) refused within ``REFUSAL_QUIET``, in this process.
        self._refused: TTLCache[tuple[str, int, str], bool] = TTLCache(
            maxsize=4096, ttl=REFUSAL_QUIET
        )
        self._refused_lock = threading.Lock()

    def __call__(self, job: Job) -> StepOutcome:
        if job.trigger is not Trigger.COMMAND:
            return self.step(job)
        command = job.command or {}
        app = self.config.app(job.app)
        if app is None:
            return _done(JobState.FAILED, f"app {job.app!r} is not configured", command)
        try:
            return self._run(app, job, command)
        except (Unavailable, RevisionUnavailable) as exc:
            return _done(JobState.FAILED, f"infrastructure: {exc}", command)
        except GitHubRejected as exc:
            return _done(JobState.FAILED, f"GitHub refused: {exc}", command)

    def _run(self, app: AppConfig, job: Job, command: dict[str, Any]) -> StepOutcome:
        login = str(command.get("login") or "")
        user_id = command.get("user_id")
        if self.github.identity().wrote(login, user_id if isinstance(user_id, int) else None):
            return _done(JobState.SUCCEEDED, "ignored: the deployer's own comment", command)
        level = self.permissions.level(app.repo, login)
        if level < Level.WRITE:
            access = {Level.NONE: "no access", Level.READ: "read access"}[level]
            key = (app.repo.lower(), int(command.get("number") or 0), login.lower())
            with self._refused_lock:
                quiet = key in self._refused
            if quiet:
                return _done(
                    JobState.SUCCEEDED, f"refused: {login} has {access} (already told)", command
                )
            self._reply(
                job,
                command,
                f"Sorry {escape('@' + login)}, `/deploy {command.get('verb')}` needs write access "
                f"to {escape(app.repo)}, and you have {access}. A maintainer can run it.",
            )
            with self._refused_lock:
                self._refused[key] = True
            return _done(JobState.SUCCEEDED, f"refused: {login} has {access}", command)
        if command.get("verb") == "approve":
            return self._approve(app, job, command, login)
        return self._diff(app, job, command)

    def _approve(
        self, app: AppConfig, job: Job, command: dict[str, Any], login: str
    ) -> StepOutcome:
        url = str(command.get("url") or f"comment {command.get('comment_id')}")
        earlier = self.approvals.earlier(app.name, url)
        if earlier is not None:
            return _done(JobState.SUCCEEDED, f"already approved: job {earlier.job_id}", command)
        pending = awaiting_approval(self.store.jobs_for_app(app.name, limit=APPROVAL_WINDOW))
        number = int(command.get("number") or 0)
        if not command.get("sha") and pending is not None and not _brought_by(pending, number):
            # Without a commit, a comment approves what its own thread brought: a newer plan
            # (another merge landed since the commenter looked) is not theirs to approve.
            prs = ", ".join(f"#{pr.number}" for pr in pending.pull_requests) or "no pull request"
            self._reply(
                job,
                command,
                f"Not approved: the plan of **{escape(app.name)}** awaiting approval is "
                f"`{pending.commit[:7]}` ({prs}), not this pull request's merge. Approve it "
                f"where it was reviewed, or name the commit: "
                f"`/deploy approve {app.name}@<sha>`.",
            )
            return _done(
                JobState.SUCCEEDED, f"refused: the pending plan is {pending.commit[:7]}", command
            )
        target = command.get("sha") or (pending.commit if pending is not None else None)
        if not target:
            self._reply(job, command, f"Nothing of **{escape(app.name)}** awaits approval.")
            return _done(JobState.SUCCEEDED, "nothing awaits approval", command)
        try:
            commit = approved_revision(app, self.config, self.env, str(target))
        except RevisionRefused as exc:
            self._reply(job, command, f"Not approved: {escape(str(exc))}")
            return _done(JobState.SUCCEEDED, f"refused: {exc}", command)
        plan = pending if pending is not None and pending.commit == commit else None
        request = manual_request(app, commit, plan=plan)
        queued, _ = self.approvals.approve(
            request, who=login, how="comment", detail=url, pending=plan
        )
        self._reply(
            job,
            command,
            f"Approved `{commit[:7]}` of **{escape(app.name)}** for {escape('@' + login)}: "
            f"{self._link(queued.id)} deploys it.",
        )
        return _done(JobState.SUCCEEDED, f"approved {commit[:7]}: job {queued.id}", command)

    def _diff(self, app: AppConfig, job: Job, command: dict[str, Any]) -> StepOutcome:
        number = int(command.get("number") or 0)
        pull = self.github.pull_request(app.repo, number)
        head, base = pull.get("head") or {}, pull.get("base") or {}
        head_sha, branch = str(head.get("sha") or ""), str(base.get("ref") or "")
        head_repo = (head.get("repo") or {}).get("full_name")
        base_repo = (base.get("repo") or {}).get("full_name")
        if branch != app.branch:
            message = (
                f"**{escape(app.name)}** deploys branch `{escape(app.branch)}`, "
                f"not `{escape(branch)}`."
            )
            self._reply(job, command, message)
            return _done(JobState.SUCCEEDED, "refused: another branch", command)
        if head_repo != base_repo and not self.config.preview_forks:
            self._reply(job, command, "Pull requests from forks get no preview here.")
            return _done(JobState.SUCCEEDED, "refused: a fork", command)
        request = SyncRequest(
            app=app.name,
            repo=app.repo,
            commit=head_sha,
            ref=f"refs/pull/{number}/head",
            trigger=Trigger.PREVIEW,
            delivery=job.delivery,
            pull_requests=(PullRequestRef(number=number, head_sha=head_sha),),
        )
        queued = self.store.enqueue([request]).jobs[0].job
        self._reply(
            job,
            command,
            f"Refreshing the preview of **{escape(app.name)}** at `{head_sha[:7]}`: "
            f"{self._link(queued.id)}.",
        )
        return _done(JobState.SUCCEEDED, f"preview queued: job {queued.id}", command)

    def _link(self, job_id: int) -> str:
        base = self.config.public_url
        return f"[job {job_id}]({base.rstrip('/')}/jobs/{job_id})" if base else f"job {job_id}"

    def _reply(self, job: Job, command: dict[str, Any], text: str) -> None:
        comment_id = int(command.get("comment_id") or 0)
        number = int(command.get("number") or 0)
        marker = reply_marker(comment_id)
        self.github.upsert_comment(job.repo, number, marker, f"{marker}\n{text}\n")


def _brought_by(plan: Job, number: int) -> bool:
    """Whether pull request ``number``'s merge is what ``plan`` deploys."""
    return any(pr.number == number for pr in plan.pull_requests)


def _done(state: JobState, message: str, command: dict[str, Any]) -> StepOutcome:
    return StepOutcome(
        state=state, message=message, result={"command": command.get("verb"), "outcome": message}
    )
