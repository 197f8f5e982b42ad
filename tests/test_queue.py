"""The durable queue's rules, on both real stores: SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import JobStore, SqlStore, open_store
from webhook.queue.base import MAX_ATTEMPTS, DeliveryKey

SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40


def request(
    app: str = "web",
    commit: str = SHA_A,
    trigger: Trigger = Trigger.PUSH,
    prs: tuple[PullRequestRef, ...] = (),
) -> SyncRequest:
    return SyncRequest(
        app=app,
        repo="acme/gitops",
        commit=commit,
        ref="refs/heads/main",
        trigger=trigger,
        delivery="d",
        pull_requests=prs,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = open_store(store_url)
    assert isinstance(opened, SqlStore)
    yield opened
    opened.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(store: SqlStore) -> Clock:
    clock = Clock()
    store.clock = clock  # type: ignore[method-assign]
    return clock


def test_same_delivery_twice_enqueues_once(store: SqlStore) -> None:
    key = DeliveryKey(hook_id="1", delivery="guid")
    first = store.enqueue([request()], delivery=key)
    second = store.enqueue([request()], delivery=key)
    assert not first.duplicate and first.jobs[0].created
    assert second.duplicate and second.jobs == ()
    assert len(store.jobs_for_app("web")) == 1


def test_same_guid_for_another_hook_is_a_new_delivery_but_not_a_new_job(
    store: SqlStore,
) -> None:
    store.enqueue([request()], delivery=DeliveryKey(hook_id="1", delivery="guid"))
    other = store.enqueue([request()], delivery=DeliveryKey(hook_id="2", delivery="guid"))
    assert not other.duplicate
    assert not other.jobs[0].created
    assert len(store.jobs_for_app("web")) == 1


def test_push_and_merge_of_one_commit_are_one_job_carrying_the_pull_request(
    store: SqlStore,
) -> None:
    pr = PullRequestRef(number=7, head_sha=SHA_C)
    store.enqueue([request()], delivery=DeliveryKey(hook_id="1", delivery="push"))
    merged = store.enqueue(
        [request(trigger=Trigger.MERGE, prs=(pr,))],
        delivery=DeliveryKey(hook_id="1", delivery="pr"),
    )
    jobs = store.jobs_for_app("web")
    assert len(jobs) == 1 and not merged.jobs[0].created
    assert jobs[0].pull_requests == (pr,)


def test_merge_after_push_adds_no_app_the_push_did_not_touch(store: SqlStore) -> None:
    store.enqueue([request(app="web")])
    merged = store.enqueue(
        [request(app="web", trigger=Trigger.MERGE), request(app="db", trigger=Trigger.MERGE)]
    )
    assert [e.job.app for e in merged.jobs] == ["web"]
    assert store.jobs_for_app("db") == []


def test_newer_commit_supersedes_queued_ones(store: SqlStore) -> None:
    first = store.enqueue([request(commit=SHA_A)]).jobs[0].job
    second = store.enqueue([request(commit=SHA_B)]).jobs[0].job
    third = store.enqueue([request(commit=SHA_C)])
    assert [j.id for j in third.superseded] == [second.id]
    old = store.get(first.id)
    assert old is not None and old.state is JobState.SUPERSEDED
    assert old.superseded_by == second.id and old.message == "superseded by bbbbbbb"
    assert [j.state for j in store.jobs_for_app("web")] == [
        JobState.QUEUED,
        JobState.SUPERSEDED,
        JobState.SUPERSEDED,
    ]


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


def test_every_job_survives_a_reopen(store_url: str) -> None:
    first = open_store(store_url)
    ids = [e.job.id for e in first.enqueue([request(app=f"app-{i}") for i in range(5)]).jobs]
    first.close()
    reopened = open_store(store_url)
    assert sorted(reopened.latest_jobs()) == [f"app-{i}" for i in range(5)]
    assert all(reopened.get(i).state is JobState.QUEUED for i in ids)  # type: ignore[union-attr]
    reopened.close()


def _enqueue_same_commit(url: str, hook: str) -> None:
    store = open_store(url)
    store.enqueue([request()], delivery=DeliveryKey(hook_id=hook, delivery="g"))
    store.close()


def test_concurrent_deliveries_of_one_commit_from_many_processes_make_one_job(
    store: JobStore, store_url: str
) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_enqueue_same_commit, args=(store_url, str(i))) for i in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(store.jobs_for_app("web")) == 1


def test_finishing_as_a_non_final_state_is_refused(store: SqlStore) -> None:
    store.enqueue([request()])
    job = store.claim("w", lease_seconds=30)
    assert job is not None
    with pytest.raises(ValueError, match="cannot finish"):
        store.finish(job.id, "w", StepOutcome(state=JobState.QUEUED, message=""))


def test_every_state_change_is_in_the_outbox_until_delivered(store: SqlStore) -> None:
    first = store.enqueue([request(commit=SHA_A)]).jobs[0].job
    store.enqueue([request(commit=SHA_B)])
    job = store.claim("w", lease_seconds=30)
    assert job is not None
    store.finish(job.id, "w", StepOutcome(state=JobState.SUCCEEDED, message="ok"))
    reports = store.pending_reports()
    assert [(r.job_id == first.id, r.state) for r in reports] == [
        (True, JobState.QUEUED),
        (False, JobState.QUEUED),
        (True, JobState.SUPERSEDED),
        (False, JobState.RUNNING),
        (False, JobState.SUCCEEDED),
    ]
    store.report_delivered(reports[0].id)
    store.report_retry(reports[1].id, delay=3600)
    assert [r.id for r in store.pending_reports()] == [r.id for r in reports[2:]]


def test_previews_run_in_their_own_lane_and_never_supersede_deployments(
    store: SqlStore,
) -> None:
    pr = (PullRequestRef(number=3, head_sha=SHA_C),)
    deploy = store.enqueue([request(commit=SHA_A)]).jobs[0].job
    preview = store.enqueue([request(commit=SHA_C, trigger=Trigger.PREVIEW, prs=pr)])
    assert preview.superseded == () and preview.jobs[0].job.lane == "web#pr-3"
    first = store.claim("w1", lease_seconds=30)
    second = store.claim("w2", lease_seconds=30)
    assert {first.id, second.id} == {deploy.id, preview.jobs[0].job.id}  # type: ignore[union-attr]
    assert store.latest_jobs()["web"].id == deploy.id


def test_a_plan_awaiting_approval_is_superseded_by_a_newer_commit(store: SqlStore) -> None:
    store.enqueue([request(commit=SHA_A)])
    job = store.claim("w", lease_seconds=30)
    assert job is not None
    store.finish(job.id, "w", StepOutcome(state=JobState.OUT_OF_SYNC, message="2 to create"))
    newer = store.enqueue([request(commit=SHA_B)])
    assert [j.id for j in newer.superseded] == [job.id]
    old = store.get(job.id)
    assert old is not None and old.state is JobState.SUPERSEDED
    assert old.message == "superseded by bbbbbbb"
    assert store.pending_reports()[-1].state is JobState.SUPERSEDED


def test_stats_count_jobs_deliveries_and_unreported_changes(store: SqlStore) -> None:
    store.enqueue(
        [request(app="web"), request(app="db")], delivery=DeliveryKey(hook_id="1", delivery="g")
    )
    job = store.claim("w", lease_seconds=30)
    assert job is not None
    store.finish(job.id, "w", StepOutcome(state=JobState.FAILED, message="boom"))
    stats = store.stats()
    assert stats.jobs == {
        (job.app, "failed"): 1,
        ("db" if job.app == "web" else "web", "queued"): 1,
    }
    assert stats.deliveries == 1
    assert stats.reports_pending == 4 and stats.oldest_report_at is not None
    assert list(stats.last_finished) == [job.app]


def test_jobs_of_a_pull_request_are_found_in_one_query_newest_first(store: SqlStore) -> None:
    seven = (PullRequestRef(number=7, head_sha=SHA_C),)
    seventy = (PullRequestRef(number=70, head_sha=SHA_C),)
    web = store.enqueue([request(app="web", commit=SHA_A, prs=seven)]).jobs[0].job
    db = store.enqueue([request(app="db", commit=SHA_B, prs=seven)]).jobs[0].job
    store.enqueue([request(app="cache", commit=SHA_B, prs=seventy)])
    assert [j.id for j in store.jobs_for_pull_request("acme/gitops", 7)] == [db.id, web.id]
    assert store.jobs_for_pull_request("other/repo", 7) == []
