"""The report outbox and the counts the metrics read from the same records."""

from __future__ import annotations

from tests.queue.support import SHA_A, SHA_B, request
from webhook.model import JobState, StepOutcome
from webhook.queue import SqlStore
from webhook.queue.base import DeliveryKey


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
