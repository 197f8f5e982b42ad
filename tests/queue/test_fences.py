"""The lease as a fence: who holds a job, until when, and what a worker that lost it may
still do (nothing); retries that wait their delay; the outbox's due times. A clock the test
moves stands for time passing, so each boundary is checked to the second."""

from __future__ import annotations

from tests.queue.support import SHA_A, SHA_B, Clock, request
from webhook.model import Job, JobState, StepOutcome
from webhook.queue import SqlStore
from webhook.queue.base import MAX_ATTEMPTS, DeliveryKey

OK = StepOutcome(state=JobState.SUCCEEDED, message="ok", result={"applied": 3})
UNREACHABLE = StepOutcome(state=JobState.FAILED, message="cluster unreachable", result={"x": 1})


def _claimed(store: SqlStore, owner: str = "w1", lease: float = 30) -> Job:
    store.enqueue([request()])
    job = store.claim(owner, lease_seconds=lease)
    assert job is not None
    return job


def test_a_claim_records_its_owner_lease_start_and_first_attempt(
    store: SqlStore, clock: Clock
) -> None:
    job = _claimed(store)
    assert (job.state, job.lease_owner, job.lease_expires_at) == (
        JobState.RUNNING,
        "w1",
        clock.now + 30,
    )
    assert (job.attempts, job.started_at, job.message) == (1, clock.now, "running")
    stored = store.get(job.id)
    assert stored == job


def test_the_holder_holds_until_its_lease_expires_and_no_one_else_does(
    store: SqlStore, clock: Clock
) -> None:
    job = _claimed(store)
    assert store.holds(job.id, "w1")
    assert not store.holds(job.id, "w2")
    assert not store.holds(job.id + 1, "w1")
    clock.now += 29.5
    assert store.holds(job.id, "w1")
    clock.now += 0.5  # the lease's last second is no longer held
    assert not store.holds(job.id, "w1")


def test_a_finished_job_is_held_by_no_one(store: SqlStore) -> None:
    job = _claimed(store)
    finished = store.finish(job.id, "w1", OK)
    assert finished is not None and finished.result == {"applied": 3}
    assert (finished.lease_owner, finished.lease_expires_at) == (None, None)
    assert not store.holds(job.id, "w1")
    assert store.finish(job.id, "w1", OK) is None  # a second finish changes nothing


def test_a_heartbeat_extends_the_lease_by_a_whole_lease_from_now_for_its_holder_only(
    store: SqlStore, clock: Clock
) -> None:
    job = _claimed(store)
    clock.now += 20
    assert not store.heartbeat(job.id, "w2", lease_seconds=30)
    assert store.get(job.id).lease_expires_at == clock.now + 10  # type: ignore[union-attr]
    assert store.heartbeat(job.id, "w1", lease_seconds=45)
    assert store.get(job.id).lease_expires_at == clock.now + 45  # type: ignore[union-attr]
    store.finish(job.id, "w1", OK)
    assert not store.heartbeat(job.id, "w1", lease_seconds=30)  # no lease to keep


def test_an_expired_lease_is_reclaimed_only_once_past_its_expiry(
    store: SqlStore, clock: Clock
) -> None:
    job = _claimed(store)
    clock.now += 30  # expiring now: not yet lost
    assert store.claim("w2", lease_seconds=30) is None
    clock.now += 0.5
    again = store.claim("w2", lease_seconds=30)
    assert again is not None and again.id == job.id
    assert (again.attempts, again.message, again.lease_owner) == (2, "running (attempt 2)", "w2")


def test_a_lost_job_is_given_up_only_after_max_attempts(store: SqlStore, clock: Clock) -> None:
    job = _claimed(store, lease=1)
    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.now += 2
        again = store.claim("w", lease_seconds=1)
        assert again is not None and again.attempts == attempt
    clock.now += 2
    assert store.claim("w", lease_seconds=1) is None
    lost = store.get(job.id)
    assert lost is not None and lost.state is JobState.FAILED
    assert lost.message == f"gave up after {MAX_ATTEMPTS} attempts: worker lost"
    assert (lost.finished_at, lost.lease_owner) == (clock.now, None)


def test_a_lost_job_with_a_newer_commit_queued_is_superseded_by_the_newest(
    store: SqlStore, clock: Clock
) -> None:
    job = _claimed(store)
    store.enqueue([request(commit=SHA_B)])
    clock.now += 31
    newest = store.claim("w2", lease_seconds=30)
    assert newest is not None
    lost = store.get(job.id)
    assert lost is not None and lost.state is JobState.SUPERSEDED
    assert (lost.superseded_by, lost.message) == (newest.id, f"superseded by {SHA_B[:7]}")


def test_a_retry_queues_the_job_again_not_before_its_delay(store: SqlStore, clock: Clock) -> None:
    job = _claimed(store)
    assert store.retry(job.id, "w2", UNREACHABLE, delay=60) is None  # not its lease
    queued = store.retry(job.id, "w1", UNREACHABLE, delay=60)
    assert queued is not None and queued.state is JobState.QUEUED
    assert (queued.message, queued.result, queued.retry_at) == (
        "cluster unreachable",
        {"x": 1},
        clock.now + 60,
    )
    assert (queued.lease_owner, queued.lease_expires_at) == (None, None)
    assert not store.holds(job.id, "w1")
    assert store.pending_reports()[-1].state is JobState.QUEUED  # reported, in the same write
    clock.now += 59.5
    assert store.claim("w1", lease_seconds=30) is None
    clock.now += 0.5  # due now
    again = store.claim("w1", lease_seconds=30)
    assert again is not None and again.id == job.id and again.attempts == 2
    assert again.retry_at is None


def test_resolving_a_scope_forgets_the_diff_base_and_reports(store: SqlStore) -> None:
    from dataclasses import replace

    narrowed = replace(request(), diff_base=SHA_B)
    job = store.enqueue([narrowed]).jobs[0].job
    assert job.diff_base == SHA_B
    before = len(store.pending_reports())
    resolved = store.resolve_scope(job.id)
    assert resolved is not None and resolved.diff_base is None
    assert store.get(job.id) == resolved
    assert len(store.pending_reports()) == before + 1
    assert store.resolve_scope(job.id + 100) is None


def test_accepted_deliveries_are_those_of_this_hook_only(store: SqlStore) -> None:
    assert store.accepted("1", []) == set()
    store.enqueue([request()], delivery=DeliveryKey(hook_id="1", delivery="g1"))
    store.enqueue([request(commit=SHA_B)], delivery=DeliveryKey(hook_id="2", delivery="g2"))
    assert store.accepted("1", ["g1", "g2", "g3"]) == {"g1"}
    assert store.accepted("2", ["g1", "g2"]) == {"g2"}


def test_jobs_are_listed_by_state_in_order_and_per_app_newest_first_up_to_a_limit(
    store: SqlStore,
) -> None:
    ids = [store.enqueue([request(app=a, commit=SHA_A)]).jobs[0].job.id for a in "xyz"]
    store.enqueue([request(app="x", commit=SHA_B)])
    running = store.claim("w", lease_seconds=30)
    assert running is not None
    assert [j.id for j in store.iter_jobs(state=JobState.QUEUED)] == sorted(
        j.id for j in store.iter_jobs(state=JobState.QUEUED)
    )
    assert running.id not in [j.id for j in store.iter_jobs(state=JobState.QUEUED)]
    assert [j.id for j in store.iter_jobs(state=JobState.RUNNING)] == [running.id]
    x_jobs = store.jobs_for_app("x")
    assert [j.commit for j in x_jobs] == [SHA_B, SHA_A] and x_jobs[1].id == ids[0]
    assert [j.commit for j in store.jobs_for_app("x", limit=1)] == [SHA_B]
    assert store.get(10_000) is None


def test_reports_come_oldest_first_up_to_a_limit_and_a_retried_one_when_due(
    store: SqlStore, clock: Clock
) -> None:
    for app in ("a", "b", "c"):
        store.enqueue([request(app=app)])
    reports = store.pending_reports()
    assert [r.job_id for r in reports] == sorted(r.job_id for r in reports) and len(reports) == 3
    assert [r.id for r in store.pending_reports(limit=2)] == [r.id for r in reports[:2]]
    assert all(r.attempts == 0 and r.message == "queued" for r in reports)
    store.report_retry(reports[0].id, delay=10)
    clock.now += 9.5
    assert [r.id for r in store.pending_reports()] == [r.id for r in reports[1:]]
    clock.now += 0.5  # due now
    again = store.pending_reports()
    assert [r.id for r in again] == [r.id for r in reports]
    assert [r.attempts for r in again] == [1, 0, 0]
    store.report_retry(reports[0].id, delay=0)
    assert store.pending_reports()[0].attempts == 2
    store.report_delivered(reports[1].id)
    assert [r.id for r in store.pending_reports()] == [reports[0].id, reports[2].id]


def test_a_store_answers_a_ping(store: SqlStore) -> None:
    store.ping()
    assert store.stats().jobs == {}


def test_an_enqueue_says_what_it_created_and_what_it_attached(
    store: SqlStore, clock: Clock
) -> None:
    from webhook.model import Pause, PullRequestRef, Trigger

    first = store.enqueue([request(app="web")])
    assert first.duplicate is False and first.jobs[0].created is True
    pr = (PullRequestRef(number=4, head_sha=SHA_B),)
    store.pauses.put(Pause(app="blog", commit=SHA_A, by="admin", paused_at=1.0))
    second = store.enqueue(
        [
            request(app="web", trigger=Trigger.MERGE, prs=pr),  # the push's job, attached
            request(app="db"),  # after an attached one: still enqueued
            request(app="blog", commit=SHA_B),  # paused: skipped, a new (final) job
            request(app="blog", commit=SHA_B, trigger=Trigger.PREVIEW, prs=pr),  # previews run
        ]
    )
    assert second.duplicate is False
    web, db, blog, preview = second.jobs
    assert (web.created, web.job.id, web.job.pull_requests) == (False, first.jobs[0].job.id, pr)
    assert db.created is True and db.job.state is JobState.QUEUED
    assert blog.created is True and blog.job.state is JobState.OUT_OF_SYNC
    assert (blog.job.created_at, blog.job.finished_at) == (clock.now, clock.now)
    assert preview.created is True and preview.job.state is JobState.QUEUED


def test_every_lost_job_is_dealt_with_in_one_claim(store: SqlStore, clock: Clock) -> None:
    """Two workers died: one job's lane has a newer commit (superseded), the other has not
    (reclaimed); both are handled, whichever comes first."""
    store.enqueue([request(app="db"), request(app="web")])
    db = store.claim("dead-1", lease_seconds=30)
    web = store.claim("dead-2", lease_seconds=30)
    assert db is not None and web is not None and (db.app, web.app) == ("db", "web")
    store.enqueue([request(app="web", commit=SHA_B)])
    clock.now += 31
    store.claim("w", lease_seconds=30)
    assert store.get(web.id).state is JobState.SUPERSEDED  # type: ignore[union-attr]


def test_an_enqueue_returns_the_jobs_it_superseded_as_superseded(store: SqlStore) -> None:
    older = store.enqueue([request(commit=SHA_A)]).jobs[0].job
    newer = store.enqueue([request(commit=SHA_B)])
    (superseded,) = newer.superseded
    assert (superseded.id, superseded.state) == (older.id, JobState.SUPERSEDED)
    assert superseded.superseded_by == newer.jobs[0].job.id
