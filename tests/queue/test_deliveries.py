"""Accepting deliveries: each once, one job per app and commit, however many events say it."""

from __future__ import annotations

from tests.processes import children
from tests.queue.support import SHA_A, SHA_B, SHA_C, request
from webhook.model import PullRequestRef, Trigger
from webhook.queue import JobStore, SqlStore, open_store
from webhook.queue.base import DeliveryKey


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


def test_each_merge_is_narrowed_by_the_push_of_its_own_commit(store: SqlStore) -> None:
    """One enqueue of merges of two commits: each commit's push, not the first one's, says
    which apps its merge touches."""
    store.enqueue([request(app="web", commit=SHA_A), request(app="db", commit=SHA_B)])
    merged = store.enqueue(
        [
            request(app=app, commit=commit, trigger=Trigger.MERGE)
            for commit in (SHA_A, SHA_B)
            for app in ("web", "db")
        ]
    )
    assert [(e.job.app, e.job.commit) for e in merged.jobs] == [("web", SHA_A), ("db", SHA_B)]
    assert [j.commit for j in store.jobs_for_app("web")] == [SHA_A]
    assert [j.commit for j in store.jobs_for_app("db")] == [SHA_B]


def _enqueue_same_commit(url: str, hook: str) -> None:
    store = open_store(url)
    store.enqueue([request()], delivery=DeliveryKey(hook_id=hook, delivery="g"))
    store.close()


def test_concurrent_deliveries_of_one_commit_from_many_processes_make_one_job(
    store: JobStore, store_url: str
) -> None:
    ctx = children()
    procs = [ctx.Process(target=_enqueue_same_commit, args=(store_url, str(i))) for i in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(store.jobs_for_app("web")) == 1
