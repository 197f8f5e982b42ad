"""Paused apps in the store (both databases): kept, replaced by a second rollback, lifted,
and honoured in the enqueue transaction."""

from __future__ import annotations

from webhook.model import JobState, Pause, PullRequestRef, SyncRequest, Trigger
from webhook.queue import SqlStore


def _push(app: str, commit: str) -> SyncRequest:
    return SyncRequest(
        app=app, repo="acme/gitops", commit=commit, ref="refs/heads/main", trigger=Trigger.PUSH
    )


def test_a_pause_is_kept_replaced_and_lifted(store: SqlStore) -> None:
    assert store.pauses.get("shop") is None and store.pauses.all() == {}
    first = Pause(app="shop", commit="a" * 40, by="admin", paused_at=1.0, reason="bad b")
    store.pauses.put(first)
    assert store.pauses.get("shop") == first
    second = Pause(app="shop", commit="9" * 40, by="alice", paused_at=2.0)
    store.pauses.put(second)
    assert store.pauses.all() == {"shop": second}
    assert store.pauses.remove("shop") == second
    assert store.pauses.get("shop") is None and store.pauses.remove("shop") is None


def test_only_the_paused_app_skips_its_pushes(store: SqlStore) -> None:
    store.pauses.put(Pause(app="shop", commit="a" * 40, by="admin", paused_at=1.0))
    jobs = store.enqueue([_push("shop", "b" * 40), _push("blog", "b" * 40)]).jobs
    states = {e.job.app: e.job.state for e in jobs}
    assert states == {"shop": JobState.OUT_OF_SYNC, "blog": JobState.QUEUED}
    assert store.claim("w", lease_seconds=60).app == "blog"  # type: ignore[union-attr]
    assert store.claim("w", lease_seconds=60) is None
    store.pauses.remove("shop")
    again = store.enqueue([_push("shop", "c" * 40)]).jobs[0].job
    assert again.state is JobState.QUEUED


def test_a_skipped_merge_is_reported_once_the_push_names_the_app(store: SqlStore) -> None:
    """A merge event names no files (silent until narrowed); a paused app's job never runs,
    so the push of the same commit, which names the app, makes it speak."""
    store.pauses.put(Pause(app="shop", commit="a" * 40, by="admin", paused_at=1.0))
    pr = (PullRequestRef(number=3, head_sha="d" * 40),)
    merge = SyncRequest(
        app="shop",
        repo="acme/gitops",
        commit="b" * 40,
        ref="refs/heads/main",
        trigger=Trigger.MERGE,
        pull_requests=pr,
        diff_base="parent",
    )
    skipped = store.enqueue([merge]).jobs[0].job
    assert skipped.state is JobState.OUT_OF_SYNC and skipped.silent
    job = store.enqueue([_push("shop", "b" * 40)]).jobs[0].job
    assert job.id == skipped.id and not job.silent and job.pull_requests == pr
    latest = [r for r in store.pending_reports(limit=100) if r.job_id == job.id][-1]
    assert latest.state is JobState.OUT_OF_SYNC and latest.message.startswith("paused:")
