"""Jobs as records: kept across a reopen, read back by column name, found by pull request."""

from __future__ import annotations

from dataclasses import fields, replace

from tests.queue.support import SHA_A, SHA_B, SHA_C, request
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore, open_store


def test_every_job_survives_a_reopen(store_url: str) -> None:
    first = open_store(store_url)
    ids = [e.job.id for e in first.enqueue([request(app=f"app-{i}") for i in range(5)]).jobs]
    first.close()
    reopened = open_store(store_url)
    assert sorted(reopened.latest_jobs()) == [f"app-{i}" for i in range(5)]
    assert all(reopened.get(i).state is JobState.QUEUED for i in ids)  # type: ignore[union-attr]
    reopened.close()


def test_jobs_of_a_pull_request_are_found_in_one_query_newest_first(store: SqlStore) -> None:
    seven = (PullRequestRef(number=7, head_sha=SHA_C),)
    seventy = (PullRequestRef(number=70, head_sha=SHA_C),)
    web = store.enqueue([request(app="web", commit=SHA_A, prs=seven)]).jobs[0].job
    db = store.enqueue([request(app="db", commit=SHA_B, prs=seven)]).jobs[0].job
    store.enqueue([request(app="cache", commit=SHA_B, prs=seventy)])
    assert [j.id for j in store.jobs_for_pull_request("acme/gitops", 7)] == [db.id, web.id]
    assert store.jobs_for_pull_request("other/repo", 7) == []


def test_every_field_of_a_job_is_read_back_by_name(store: SqlStore) -> None:
    pr = PullRequestRef(number=4, head_sha=SHA_C)
    asked = replace(request(trigger=Trigger.MERGE, prs=(pr,)), approved=True, diff_base="parent")
    queued = store.enqueue([asked]).jobs[0].job
    claimed = store.claim("w1", lease_seconds=30)
    assert claimed is not None
    result = {"applied": ["ConfigMap shop/site"], "counts": {"created": 1}}
    outcome = StepOutcome(state=JobState.SUCCEEDED, message="1 created", result=result)
    store.finish(queued.id, "w1", outcome)
    job = store.get(queued.id)
    assert job is not None
    assert {f.name: getattr(job, f.name) for f in fields(SyncRequest)} == {
        f.name: getattr(asked, f.name) for f in fields(SyncRequest)
    }
    assert (job.state, job.message, job.result, job.attempts) == (
        JobState.SUCCEEDED,
        "1 created",
        result,
        1,
    )
    assert job.created_at <= job.started_at <= job.finished_at  # type: ignore[operator]
    assert job.lease_owner is None and job.lease_expires_at is None


def test_a_store_made_before_a_field_existed_gains_its_column(store_url: str) -> None:
    old = open_store(store_url)
    job = old.enqueue([request()]).jobs[0].job
    with old.database.write() as cur:
        cur.execute("ALTER TABLE jobs DROP COLUMN diff_base")
    old.close()
    reopened = open_store(store_url)
    assert "diff_base" in reopened.database.columns("jobs")
    assert reopened.get(job.id) == job
    reopened.close()
