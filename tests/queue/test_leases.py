"""Leases under real time: a step longer than its lease, with a second worker polling the
same store, runs once because the heartbeat keeps the lease (real threads, real clock)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.queue.support import request
from webhook.model import Job, JobState, StepOutcome
from webhook.queue import SqlStore, open_store
from webhook.worker import Worker

LEASE = 1.0
#: Three leases long: without heartbeats the lease lapses twice over while the step runs.
SLOW = 3.0


class Step:
    """Records which worker started the job; the first start takes ``SLOW`` seconds."""

    def __init__(self, name: str, starts: list[str]) -> None:
        self.name = name
        self.starts = starts

    def __call__(self, job: Job) -> StepOutcome:
        self.starts.append(self.name)
        time.sleep(SLOW if len(self.starts) == 1 else 0.0)
        return StepOutcome(state=JobState.SUCCEEDED, message="ok", result={"by": self.name})


def _race_a_slow_step(store_url: str) -> tuple[list[str], Job | None, Job]:
    """Worker A runs the job's slow step while worker B (another store, as another replica)
    polls; the starts, what A recorded, and the job as stored at the end."""
    starts: list[str] = []
    store_a, store_b = open_store(store_url), open_store(store_url)
    job_id = store_a.enqueue([request()]).jobs[0].job.id
    a = Worker(store_a, Step("a", starts), owner="a", lease_seconds=LEASE)
    b = Worker(store_b, Step("b", starts), owner="b", lease_seconds=LEASE, poll_interval=0.02)
    finished: list[Job | None] = []

    def run_a() -> None:
        finished.append(a.run_once())
        store_a.database.close()  # this thread's connection

    runner_a = threading.Thread(target=run_a)
    runner_a.start()
    while not starts:  # B starts polling once A holds the job
        time.sleep(0.01)
    poller = threading.Thread(target=b.run)
    poller.start()
    runner_a.join(30)
    b.stop()
    poller.join(30)
    job = store_a.get(job_id)
    assert job is not None
    store_a.close()
    store_b.close()
    return starts, finished[0], job


def test_a_step_longer_than_its_lease_runs_once_kept_by_the_heartbeat(store_url: str) -> None:
    starts, recorded, job = _race_a_slow_step(store_url)
    assert starts == ["a"], "a second worker claimed a job whose worker was alive"
    assert recorded is not None and recorded.state is JobState.SUCCEEDED
    assert job.attempts == 1 and job.result == {"by": "a"}


def test_without_heartbeats_the_job_is_claimed_again_and_the_late_result_dropped(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race with the heartbeat off: B claims the job once A's lease lapses, so the
    test above is what shows the heartbeat at work; and A, having lost its lease, records
    nothing (``finish`` refuses a result from a worker that no longer holds the lease)."""

    def no_heartbeat(self: Worker, lease: object, done: threading.Event) -> None:
        done.wait()

    monkeypatch.setattr(Worker, "_heartbeat", no_heartbeat)
    starts, recorded, job = _race_a_slow_step(store_url)
    assert starts == ["a", "b"]
    assert recorded is None, "a worker that lost its lease recorded its result"
    assert job.state is JobState.SUCCEEDED and job.attempts == 2 and job.result == {"by": "b"}


def test_the_heartbeat_beats_well_within_the_lease(store: SqlStore) -> None:
    """Each beat extends the lease by a whole lease, at least twice per lease: one late or
    failed beat never costs the lease."""
    job_id = store.enqueue([request()]).jobs[0].job.id
    expiries: list[float] = []

    def step(job: Job) -> StepOutcome:
        deadline = time.monotonic() + 2 * LEASE
        while time.monotonic() < deadline:
            current = store.get(job_id)
            assert current is not None and current.lease_expires_at is not None
            if not expiries or current.lease_expires_at != expiries[-1]:
                expiries.append(current.lease_expires_at)
            time.sleep(0.02)
        return StepOutcome(state=JobState.SUCCEEDED, message="ok")

    Worker(store, step, lease_seconds=LEASE).run_once()
    beats = len(expiries) - 1  # the first expiry is the claim's
    assert beats >= 4, f"{beats} heartbeats in two leases"
