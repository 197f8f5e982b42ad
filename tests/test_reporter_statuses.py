"""What each job state says on GitHub (``status_for``) and how long a report waits when
GitHub is unavailable (``Reporter._delay``): pure functions, checked word for word here,
as a reader of the pull request page sees them. The same statuses going out to the local
GitHub API server are in ``test_reporter.py``."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.errors import Unavailable
from webhook.model import Job, JobState, Trigger
from webhook.queue.base import Report
from webhook.reporter import BASE_BACKOFF, MAX_BACKOFF, Reporter, status_for

COMMIT = "0123456789abcdef" + "0" * 24


def job(state: JobState, message: str = "", **fields: Any) -> Job:
    values: dict[str, Any] = {
        "app": "web",
        "repo": "acme/gitops",
        "commit": COMMIT,
        "ref": "refs/heads/main",
        "trigger": Trigger.MERGE,
        "id": 7,
        "state": state,
        "message": message,
        **fields,
    }
    return Job(**values)


@pytest.mark.parametrize(
    ("the_job", "expected"),
    [
        (job(JobState.QUEUED, "queued"), ("pending", "queued")),
        (job(JobState.QUEUED, " cluster down ", retry_at=5.0), ("error", "cluster down")),
        (
            job(JobState.QUEUED, "", retry_at=5.0),
            ("error", "a dependency is unreachable; retrying"),
        ),
        (job(JobState.RUNNING, "running", attempts=1), ("pending", "syncing 0123456")),
        (
            job(JobState.RUNNING, "running", attempts=2),
            ("pending", "syncing 0123456 (attempt 2)"),
        ),
        (
            job(JobState.RUNNING, "", attempts=1, trigger=Trigger.PREVIEW),
            ("pending", "rendering and dry-running 0123456"),
        ),
        (job(JobState.SUCCEEDED, "applied 3"), ("success", "applied 3")),
        (job(JobState.SUCCEEDED, "  "), ("success", "deployed")),
        (job(JobState.FAILED, "bad manifest"), ("failure", "bad manifest")),
        (job(JobState.FAILED, ""), ("failure", "failed")),
        (
            job(JobState.FAILED, "etcd down", result={"error_kind": "infrastructure"}),
            ("error", "etcd down"),
        ),
        (
            job(JobState.FAILED, "refused", result={"error_kind": "rejected"}),
            ("failure", "refused"),
        ),
        (
            job(JobState.SUPERSEDED, "superseded by abcdef0"),
            ("success", "skipped: superseded by abcdef0; the newer commit ships it"),
        ),
        (
            job(JobState.SUPERSEDED, ""),
            ("success", "skipped: superseded; the newer commit ships it"),
        ),
        (job(JobState.OUT_OF_SYNC, "plan: 2 changes"), ("pending", "plan: 2 changes")),
        (job(JobState.OUT_OF_SYNC, ""), ("pending", "out of sync: awaiting approval")),
    ],
    ids=lambda v: (
        v.state.value + (f"-{v.message.strip() or 'empty'}") if isinstance(v, Job) else ""
    ),
)
def test_each_state_becomes_its_status_and_description(
    the_job: Job, expected: tuple[str, str]
) -> None:
    assert status_for(the_job) == expected


def report(attempts: int) -> Report:
    return Report(id=1, job_id=1, state=JobState.RUNNING, message="", attempts=attempts)


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, BASE_BACKOFF), (1, 2 * BASE_BACKOFF), (3, 8 * BASE_BACKOFF), (7, MAX_BACKOFF)],
)
def test_without_a_hint_a_report_backs_off_doubling_up_to_the_cap(
    attempts: int, seconds: float
) -> None:
    assert (BASE_BACKOFF, MAX_BACKOFF) == (5.0, 600.0)
    delay = Reporter._delay(Unavailable("down"), report(attempts))
    assert delay == seconds and isinstance(delay, float)


@pytest.mark.parametrize(
    ("hint", "seconds"),
    [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (42.0, 42.0), (3600.0, 3600.0), (86_400.0, 3600.0)],
)
def test_github_s_hint_is_followed_within_a_second_and_an_hour(hint: float, seconds: float) -> None:
    assert Reporter._delay(Unavailable("slow down", retry_after=hint), report(5)) == seconds
