"""Plain data types that the receiver, the queue, the worker and the reporters exchange.

Nothing here imports Flask, a database driver, Kubernetes or PyGithub: these types are the
contract between those parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Trigger(StrEnum):
    """Why a job exists."""

    PUSH = "push"
    MERGE = "merge"
    MANUAL = "manual"
    DRIFT = "drift"
    #: A pull request's plan: rendered and dry-run against the cluster, never applied.
    PREVIEW = "preview"


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

    @property
    def lane(self) -> str:
        """Jobs of one lane run one at a time, and a newer one supersedes queued older ones."""
        if self.trigger is Trigger.PREVIEW and self.pull_requests:
            return f"{self.app}#pr-{self.pull_requests[0].number}"
        return self.app


@dataclass(frozen=True, kw_only=True)
class Job:
    """A stored sync request and where it is in its life."""

    id: int
    app: str
    repo: str
    commit: str
    ref: str
    trigger: Trigger
    state: JobState
    delivery: str | None = None
    pull_requests: tuple[PullRequestRef, ...] = ()
    approved: bool = False
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
    result: dict[str, Any] | None = None
    superseded_by: int | None = None
    lane: str = ""
    diff_base: str | None = None

    @property
    def silent(self) -> bool:
        """Nothing to report: the scope is unknown yet, or the change did not touch the app."""
        return self.diff_base is not None or bool(self.result and self.result.get("untouched"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "repo": self.repo,
            "commit": self.commit,
            "ref": self.ref,
            "trigger": self.trigger.value,
            "state": self.state.value,
            "delivery": self.delivery,
            "pull_requests": [
                {"number": pr.number, "head_sha": pr.head_sha} for pr in self.pull_requests
            ],
            "approved": self.approved,
            "attempts": self.attempts,
            "lease_owner": self.lease_owner,
            "lease_expires_at": self.lease_expires_at,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "message": self.message,
            "result": self.result,
            "superseded_by": self.superseded_by,
            "lane": self.lane,
            "diff_base": self.diff_base,
        }


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """What a sync step tells the worker: the final state, one line for people, details."""

    state: JobState
    message: str
    result: dict[str, Any] = field(default_factory=dict)
