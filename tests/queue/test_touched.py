"""A push of a commit that already has a merge job: only a paused app's skipped merge is
"touched" (its diff base forgotten, reported); any other job of that commit is left exactly
as it was, with no new report (both databases)."""

from __future__ import annotations

from tests.queue.support import Clock
from webhook.model import JobState, Pause, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore

COMMIT = "b" * 40


def _request(trigger: Trigger, diff_base: str | None = None) -> SyncRequest:
    return SyncRequest(
        app="shop",
        repo="acme/gitops",
        commit=COMMIT,
        ref="refs/heads/main",
        trigger=trigger,
        diff_base=diff_base,
    )


def _reports(store: SqlStore) -> int:
    return len(store.pending_reports(limit=1000))


def test_a_push_after_a_queued_merge_of_its_commit_leaves_the_merge_as_it_was(
    store: SqlStore,
) -> None:
    merge = store.enqueue([_request(Trigger.MERGE, "parent")]).jobs[0].job
    before = _reports(store)
    again = store.enqueue([_request(Trigger.PUSH)]).jobs[0]
    assert not again.created and again.job.id == merge.id
    assert again.job.diff_base == "parent"
    stored = store.get(merge.id)
    assert stored is not None and stored.diff_base == "parent"
    assert _reports(store) == before


def test_a_push_after_a_merge_that_ended_out_of_sync_unpaused_changes_nothing(
    store: SqlStore,
) -> None:
    """Out of sync, but not by a pause (a plan awaiting approval): not a skipped merge."""
    merge = store.enqueue([_request(Trigger.MERGE, "parent")]).jobs[0].job
    claimed = store.claim("w", lease_seconds=60)
    assert claimed is not None and claimed.id == merge.id
    store.finish(merge.id, "w", StepOutcome(state=JobState.OUT_OF_SYNC, message="awaits approval"))
    before = _reports(store)
    again = store.enqueue([_request(Trigger.PUSH)]).jobs[0].job
    assert again.id == merge.id and again.diff_base == "parent"
    assert again.state is JobState.OUT_OF_SYNC
    assert _reports(store) == before


def test_a_paused_skip_without_a_diff_base_is_not_reported_again(store: SqlStore) -> None:
    store.pauses.put(Pause(app="shop", commit="a" * 40, by="admin", paused_at=1.0))
    skipped = store.enqueue([_request(Trigger.PUSH)]).jobs[0].job
    assert skipped.state is JobState.OUT_OF_SYNC and skipped.diff_base is None
    before = _reports(store)
    again = store.enqueue([_request(Trigger.MERGE)]).jobs[0]
    assert not again.created and again.job.id == skipped.id
    assert _reports(store) == before


def test_a_paused_merge_is_not_touched_by_a_push_that_has_a_diff_base_itself(
    store: SqlStore,
) -> None:
    store.pauses.put(Pause(app="shop", commit="a" * 40, by="admin", paused_at=1.0))
    skipped = store.enqueue([_request(Trigger.MERGE, "parent")]).jobs[0].job
    before = _reports(store)
    again = store.enqueue([_request(Trigger.PUSH, "other")]).jobs[0].job
    assert again.id == skipped.id and again.diff_base == "parent"
    assert _reports(store) == before


def test_a_queued_job_is_stamped_with_the_store_clock(store: SqlStore, clock: Clock) -> None:
    clock.now = 1_234_567.0
    job = store.enqueue([_request(Trigger.PUSH)]).jobs[0].job
    assert job.created_at == 1_234_567.0
    stored = store.get(job.id)
    assert stored is not None and stored.created_at == 1_234_567.0
