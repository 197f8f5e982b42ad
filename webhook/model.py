"""Plain data types that the receiver, the queue, the worker and the reporters exchange.

Nothing here imports Flask, a database driver, Kubernetes or PyGithub: these types are the
contract between those parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any


class Trigger(StrEnum):
    """Why a job exists."""

    PUSH = "push"
    MERGE = "merge"
    MANUAL = "manual"
    DRIFT = "drift"
    #: A pull request's plan: rendered and dry-run against the cluster, never applied.
    PREVIEW = "preview"
    #: A ``/deploy ...`` comment on a pull request: the worker checks the commenter's
    #: permission and acts (approve, refresh a preview) or replies with a refusal.
    COMMAND = "command"


class JobState(StrEnum):
    """A job's life: queued -> running -> one final state."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    #: Manual apps: the diff is known, the cluster is not changed until someone approves.
    OUT_OF_SYNC = "out_of_sync"

    @property
    def final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, kw_only=True)
class PullRequestRef:
    """A merged pull request: statuses go to its head commit too."""

    number: int
    head_sha: str


@dataclass(frozen=True, kw_only=True)
class SyncRequest:
    """One app to sync at one commit, as an event asks for it."""

    app: str
    repo: str
    commit: str
    ref: str
    trigger: Trigger
    delivery: str | None = None
    pull_requests: tuple[PullRequestRef, ...] = ()
    #: Manual approval: apply even when the app has ``auto_sync: false``.
    approved: bool = False
    #: Set when the event could not say which apps it touched: the worker diffs the commit
    #: against this revision (a SHA, or ``parent`` for a merge's first parent) first, and an
    #: untouched app's job ends without a word to GitHub.
    diff_base: str | None = None
    #: A comment command (``webhook.commands``): verb, app, sha, commenter, comment, PR.
    command: dict[str, Any] | None = None

    @property
    def lane(self) -> str:
        """Jobs of one lane run one at a time, and a newer one supersedes queued older ones.

        A comment command has a lane of its own: it must never supersede the plan it may
        approve before its author's permission is checked."""
        if self.trigger is Trigger.COMMAND:
            return f"{self.app}#comment-{(self.command or {}).get('comment_id', 0)}"
        if self.trigger is Trigger.PREVIEW and self.pull_requests:
            return f"{self.app}#pr-{self.pull_requests[0].number}"
        return self.app


@dataclass(frozen=True, kw_only=True)
class Job(SyncRequest):
    """A stored sync request and where it is in its life.

    Every field of the request is inherited, so a new request field is declared once; the
    store derives its columns from these fields (``webhook.queue.records``).
    """

    id: int
    state: JobState
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
    result: dict[str, Any] | None = None
    superseded_by: int | None = None
    #: A job queued again after an unreachable dependency is not claimed before this time.
    retry_at: float | None = None

    @classmethod
    def of(cls, request: SyncRequest, **life: Any) -> Job:
        """``request`` as a job, with ``life`` (id, state, ...) set."""
        asked = {f.name: getattr(request, f.name) for f in fields(SyncRequest)}
        return cls(**asked, **life)

    @property
    def silent(self) -> bool:
        """Nothing to report: the scope is unknown yet, or the change did not touch the app."""
        if self.trigger is Trigger.COMMAND:
            return True  # a command answers in its own reply comment, never in a status
        return self.diff_base is not None or bool(self.result and self.result.get("untouched"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: enums as their values, pull requests as objects."""
        plain = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        return {**plain, "lane": self.lane}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [asdict(item) for item in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Pause:
    """An app held at a rolled-back commit: no push, merge or drift job deploys it until
    someone resumes it (``webhook-deployer resume``), or the next drift check would undo
    the rollback."""

    app: str
    #: The commit the app was rolled back to (what the cluster should now run).
    commit: str
    #: Who asked for it, as the API's access check named them.
    by: str
    paused_at: float
    reason: str = ""

    def describe(self) -> str:
        """One line for a commit status, the page and the CLI (well under 140 characters)."""
        return f"paused: rolled back to {self.commit[:7]} by {self.by}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}


#: How many of an app's newest jobs are searched for its plan awaiting approval.
APPROVAL_WINDOW = 50


def awaiting_approval(jobs: Iterable[Job]) -> Job | None:
    """The newest plan awaiting approval among an app's ``jobs`` (newest first): a job of its
    deployment lane, out of sync. Not just the newest job: a merge found not to touch the app
    ends after the plan without superseding it (``webhook.queue.enqueue``), and the plan
    still waits; a newer job that does touch the app supersedes it, so it is no longer out of
    sync."""
    return next(
        (
            job
            for job in jobs
            if job.state is JobState.OUT_OF_SYNC
            and job.lane == job.app
            and job.trigger is not Trigger.PREVIEW
        ),
        None,
    )


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """What a sync step tells the worker: the final state, one line for people, details."""

    state: JobState
    message: str
    result: dict[str, Any] = field(default_factory=dict)
