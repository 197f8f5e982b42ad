"""Lanes: a newer commit supersedes the queued jobs of its lane; previews have their own."""

from __future__ import annotations

from tests.queue.support import SHA_A, SHA_B, SHA_C, request
from webhook.model import JobState, PullRequestRef, StepOutcome, Trigger
from webhook.queue import SqlStore


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
