"""The job store's interface: what the receiver, the worker and the API need, nothing more.

Rules every store keeps, in one transaction each:
- a delivery (hook id + GUID) is accepted once; a redelivery enqueues nothing;
- one job per app and commit for push and merge triggers: a second event for the same merge
  attaches its pull request to the existing job instead of deploying twice;
- a newer job for an app supersedes that app's queued ones;
- at most one running job per app; a claim is a lease that expires if its worker dies;
- every state change writes a report to the outbox in the same transaction, so the GitHub
  reporter can deliver it later, even after a crash or a GitHub outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from webhook.affected import RecordedInputs
from webhook.model import Job, JobState, StepOutcome, SyncRequest
from webhook.queue.database import Database
from webhook.queue.pauses import Pauses
from webhook.queue.stats import StoreStats

#: After this many claims a job fails instead of killing workers forever.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, kw_only=True)
class DeliveryKey:
    """GitHub shares one GUID between all hooks of an event, so the hook id is part of the key."""

    hook_id: str
    delivery: str
    #: Which webhook secret signed it (``current`` or ``previous``): kept beside the key,
    #: not part of it, for the rotation metric.
    signed_with: str = "current"


@dataclass(frozen=True, kw_only=True)
class Enqueued:
    """A job that an enqueue created (``created``) or found already there."""

    job: Job
    created: bool


@dataclass(frozen=True, kw_only=True)
class EnqueueResult:
    duplicate: bool
    jobs: tuple[Enqueued, ...] = ()
    superseded: tuple[Job, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Report:
    """A job state change that the GitHub reporter has yet to deliver (the outbox)."""

    id: int
    job_id: int
    state: JobState
    message: str
    attempts: int


class JobStore(Protocol):
    """A durable queue of sync jobs."""

    #: The database the jobs live in; other parts keep their own tables there too (the
    #: reporter's memory of posted statuses), so one restart-proof place holds all records.
    database: Database[Any]
    #: Apps paused by a rollback; a push or drift job for one is recorded as skipped.
    pauses: Pauses

    def clock(self) -> float:
        """The time the records are written with (seconds since the epoch)."""

    def enqueue(
        self, requests: Sequence[SyncRequest], *, delivery: DeliveryKey | None = None
    ) -> EnqueueResult:
        """Store ``requests`` atomically with the delivery mark; committed when it returns."""

    def claim(self, owner: str, *, lease_seconds: float) -> Job | None:
        """Lease the oldest runnable job of an app with nothing running, or None."""

    def heartbeat(self, job_id: int, owner: str, *, lease_seconds: float) -> bool:
        """Extend a lease; False when the lease was lost (expired and reclaimed)."""

    def holds(self, job_id: int, owner: str) -> bool:
        """Whether ``owner`` holds the job's lease now (running, not expired)."""

    def retry(self, job_id: int, owner: str, outcome: StepOutcome, *, delay: float) -> Job | None:
        """Queue the job again after ``delay`` seconds if ``owner`` still holds its lease."""

    def finish(self, job_id: int, owner: str, outcome: StepOutcome) -> Job | None:
        """Record the outcome if ``owner`` still holds the lease; the finished job or None."""

    def get(self, job_id: int) -> Job | None: ...

    def jobs_for_app(self, app: str, *, limit: int = 50) -> list[Job]:
        """Newest first."""

    def jobs_for_pull_request(self, repo: str, number: int, *, limit: int = 500) -> list[Job]:
        """Jobs carrying pull request ``number`` of ``repo``, newest first."""

    def latest_jobs(self) -> dict[str, Job]:
        """Each app's newest job."""

    def accepted(self, hook_id: str, deliveries: Sequence[str]) -> set[str]:
        """Which of ``deliveries`` (GUIDs) of hook ``hook_id`` were accepted."""

    def resolve_scope(self, job_id: int) -> Job | None:
        """Clear ``diff_base`` (the app is touched) and report the job's current state."""

    def record_inputs(self, app: str, recorded: RecordedInputs | None) -> None:
        """Keep what ``app``'s last render read; None forgets it (inputs unknown)."""

    def recorded_inputs(
        self, apps: Sequence[str], *, unless_waiting: bool = True
    ) -> dict[str, RecordedInputs]:
        """The recorded inputs of ``apps`` (none for an app whose deploy waits to run)."""

    def pending_reports(self, *, limit: int = 100) -> list[Report]:
        """State changes not yet reported to GitHub; written with the change itself."""

    def report_delivered(self, report_id: int) -> None: ...

    def report_retry(self, report_id: int, *, delay: float) -> None: ...

    def stats(self) -> StoreStats:
        """Job counts per app and state, deliveries, unreported state changes."""

    def ping(self) -> None:
        """Raise if the store cannot be reached."""

    def close(self) -> None: ...
