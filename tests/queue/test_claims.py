"""Claims are leases: one running job per lane, reclaimed when a worker dies, refused when lost."""

from __future__ import annotations

import pytest

from tests.queue.support import SHA_A, SHA_B, SHA_C, Clock, request
from webhook.model import JobState, PullRequestRef, StepOutcome, Trigger
from webhook.queue import SqlStore
from webhook.queue.base import MAX_ATTEMPTS


def test_one_running_job_per_app(store: SqlStore) -> None:
    store.enqueue([request(app="web", commit=SHA_A), request(app="db", commit=SHA_A)])
    web = store.claim("w1", lease_seconds=60)
    db = store.claim("w2", lease_seconds=60)
    assert web is not None and db is not None and {web.app, db.app} == {"web", "db"}
    store.enqueue([request(app="web", commit=SHA_B)])
    assert store.claim("w3", lease_seconds=60) is None  # web's next waits for the running one
    store.finish(web.id, "w1", StepOutcome(state=JobState.SUCCEEDED, message="ok"))
    nxt = store.claim("w3", lease_seconds=60)
    assert nxt is not None and nxt.commit == SHA_B and nxt.state is JobState.RUNNING


def test_expired_lease_is_claimed_again(store: SqlStore, clock: Clock) -> None:
    store.enqueue([request()])
    job = store.claim("dead-worker", lease_seconds=30)
    assert job is not None
    clock.now += 10
    assert store.claim("w2", lease_seconds=30) is None
    clock.now += 30
    again = store.claim("w2", lease_seconds=30)
    assert again is not None and again.id == job.id and again.attempts == 2
    # The dead worker's late result is refused: the lease is no longer its.
    assert (
        store.finish(job.id, "dead-worker", StepOutcome(state=JobState.SUCCEEDED, message="late"))
        is None
    )
    assert store.finish(job.id, "w2", StepOutcome(state=JobState.SUCCEEDED, message="ok"))


def test_heartbeat_keeps_the_lease(store: SqlStore, clock: Clock) -> None:
    store.enqueue([request()])
    job = store.claim("w1", lease_seconds=30)
    assert job is not None
    clock.now += 20
    assert store.heartbeat(job.id, "w1", lease_seconds=30)
    clock.now += 20
    assert store.claim("w2", lease_seconds=30) is None


def test_expired_job_with_newer_commit_queued_is_superseded(store: SqlStore, clock: Clock) -> None:
    store.enqueue([request(commit=SHA_A)])
    old = store.claim("dead", lease_seconds=30)
    store.enqueue([request(commit=SHA_B)])
    clock.now += 31
    nxt = store.claim("w2", lease_seconds=30)
    assert old is not None and nxt is not None and nxt.commit == SHA_B
    assert store.get(old.id).state is JobState.SUPERSEDED  # type: ignore[union-attr]


def test_job_that_keeps_killing_workers_fails_after_max_attempts(
    store: SqlStore, clock: Clock
) -> None:
    store.enqueue([request()])
    for _ in range(MAX_ATTEMPTS):
        assert store.claim("w", lease_seconds=1) is not None
        clock.now += 2
    assert store.claim("w", lease_seconds=1) is None
    job = store.jobs_for_app("web")[0]
    assert job.state is JobState.FAILED and "gave up" in job.message


def test_finishing_as_a_non_final_state_is_refused(store: SqlStore) -> None:
    store.enqueue([request()])
    job = store.claim("w", lease_seconds=30)
    assert job is not None
    with pytest.raises(ValueError, match="cannot finish"):
        store.finish(job.id, "w", StepOutcome(state=JobState.QUEUED, message=""))


def test_a_deployment_is_claimed_before_previews_queued_earlier(store: SqlStore) -> None:
    for number, app in enumerate(["web", "db", "cache"], start=1):
        pr = (PullRequestRef(number=number, head_sha=SHA_C),)
        store.enqueue([request(app=app, commit=SHA_C, trigger=Trigger.PREVIEW, prs=pr)])
    deploy = store.enqueue([request(app="web", commit=SHA_A, trigger=Trigger.MERGE)])
    first = store.claim("w1", lease_seconds=30)
    assert first is not None and first.id == deploy.jobs[0].job.id
    second = store.claim("w2", lease_seconds=30)
    assert second is not None and second.trigger is Trigger.PREVIEW and second.app == "web"
