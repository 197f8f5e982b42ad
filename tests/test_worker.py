"""The worker's job lifecycle with a real step (it writes files), in real processes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from tests.processes import children
from webhook.model import Job, JobState, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore, sqlite_store
from webhook.worker import Worker

SHA = "e" * 40


def enqueue(store: SqlStore, app: str = "web", commit: str = SHA) -> int:
    return (
        store.enqueue(
            [
                SyncRequest(
                    app=app,
                    repo="acme/gitops",
                    commit=commit,
                    ref="refs/heads/main",
                    trigger=Trigger.PUSH,
                )
            ]
        )
        .jobs[0]
        .job.id
    )


class WriteCommitStep:
    """A real step: records which commit it deployed for which app in a folder."""

    def __init__(self, folder: Path, *, hold: float = 0.0) -> None:
        self.folder = folder
        self.hold = hold

    def __call__(self, job: Job) -> StepOutcome:
        (self.folder / f"{job.app}.started").write_text(str(os.getpid()))
        time.sleep(self.hold)
        (self.folder / f"{job.app}.deployed").write_text(job.commit)
        return StepOutcome(
            state=JobState.SUCCEEDED, message=f"wrote {job.commit[:7]}", result={"pid": os.getpid()}
        )


def test_run_once_claims_runs_records_and_releases(store: SqlStore, tmp_path: Path) -> None:
    job_id = enqueue(store)
    seen: list[JobState] = []

    class Listener:
        def job_changed(self, job: Job) -> None:
            seen.append(job.state)

    worker = Worker(store, WriteCommitStep(tmp_path), listeners=[Listener()])
    finished = worker.run_once()
    assert finished is not None and finished.id == job_id
    assert finished.state is JobState.SUCCEEDED and finished.message == "wrote eeeeeee"
    assert finished.lease_owner is None and finished.finished_at is not None
    assert (tmp_path / "web.deployed").read_text() == SHA
    assert seen == [JobState.RUNNING, JobState.SUCCEEDED]
    assert worker.run_once() is None


def test_a_step_that_raises_fails_the_job_with_its_reason(store: SqlStore) -> None:
    enqueue(store)

    def broken(job: Job) -> StepOutcome:
        raise RuntimeError("cluster unreachable")

    finished = Worker(store, broken).run_once()
    assert finished is not None and finished.state is JobState.FAILED
    assert "cluster unreachable" in finished.message
    assert finished.result == {"error_kind": "infrastructure"}


def test_a_failing_listener_does_not_fail_the_deployment(store: SqlStore, tmp_path: Path) -> None:
    enqueue(store)

    class Broken:
        def job_changed(self, job: Job) -> None:
            raise ConnectionError("GitHub is down")

    finished = Worker(store, WriteCommitStep(tmp_path), listeners=[Broken()]).run_once()
    assert finished is not None and finished.state is JobState.SUCCEEDED


def test_stop_lets_the_running_step_finish(store: SqlStore, tmp_path: Path) -> None:
    enqueue(store)
    worker = Worker(store, WriteCommitStep(tmp_path, hold=0.5), poll_interval=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "web.started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert (tmp_path / "web.deployed").read_text() == SHA
    assert store.jobs_for_app("web")[0].state is JobState.SUCCEEDED


def _work(db: str, folder: str, hold: float, lease: float) -> None:
    store = sqlite_store(db)
    worker = Worker(
        store,
        WriteCommitStep(Path(folder), hold=hold),
        lease_seconds=lease,
        poll_interval=0.05,
        concurrency=1,
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    worker.run()


def test_job_of_a_killed_worker_is_run_again_after_its_lease_expires(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    store = sqlite_store(db)
    job_id = enqueue(store)
    ctx = children()
    doomed = ctx.Process(target=_work, args=(db, str(tmp_path), 60.0, 1.5))
    doomed.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "web.started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "web.started").exists(), "the first worker never started the job"
    os.kill(doomed.pid, signal.SIGKILL)  # type: ignore[arg-type]
    doomed.join(10)
    assert not (tmp_path / "web.deployed").exists()
    assert store.get(job_id).state is JobState.RUNNING  # type: ignore[union-attr]

    rescuer = ctx.Process(target=_work, args=(db, str(tmp_path), 0.0, 1.5))
    rescuer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = store.get(job_id)
            if job is not None and job.state.final:
                break
            time.sleep(0.1)
    finally:
        rescuer.terminate()
        rescuer.join(10)
    job = store.get(job_id)
    assert job is not None and job.state is JobState.SUCCEEDED and job.attempts == 2
    assert (tmp_path / "web.deployed").read_text() == SHA
    assert job.result == {"pid": rescuer.pid}


class RendezvousStep:
    """Each job waits until ``width`` jobs run at once (or gives up after 10 s and fails)."""

    def __init__(self, width: int) -> None:
        self.barrier = threading.Barrier(width, timeout=10)
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, job: Job) -> StepOutcome:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.barrier.wait()
            state = JobState.SUCCEEDED
        except threading.BrokenBarrierError:
            state = JobState.FAILED
        finally:
            with self.lock:
                self.running -= 1
        return StepOutcome(state=state, message="", result={})


def _drain(worker: Worker, store: SqlStore, apps: list[str]) -> None:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(store.jobs_for_app(app)[0].state.final for app in apps):
            break
        time.sleep(0.05)
    worker.stop()
    thread.join(15)
    assert not thread.is_alive()


def test_threads_are_added_while_every_thread_is_busy_up_to_the_ceiling(store: SqlStore) -> None:
    apps = [f"app{i}" for i in range(8)]
    for app in apps:
        enqueue(store, app)
    step = RendezvousStep(width=4)  # four at once, or every job fails
    worker = Worker(store, step, poll_interval=0.02, concurrency=1, max_concurrency=4)
    _drain(worker, store, apps)
    assert [store.jobs_for_app(app)[0].state for app in apps] == [JobState.SUCCEEDED] * 8
    assert step.most == 4 == worker.peak  # never past the ceiling


def test_no_thread_is_added_while_the_api_server_pushes_back(store: SqlStore) -> None:
    apps = [f"app{i}" for i in range(2)]
    for app in apps:
        enqueue(store, app)
    answers_429 = iter(range(1, 1000))  # a new 429 every time the worker looks
    step = RendezvousStep(width=2)
    worker = Worker(
        store,
        step,
        poll_interval=0.02,
        concurrency=1,
        max_concurrency=4,
        pressure=lambda: next(answers_429),
    )
    step.barrier = threading.Barrier(2, timeout=1)
    _drain(worker, store, apps)
    assert step.most == 1 == worker.peak
    assert [store.jobs_for_app(app)[0].state for app in apps] == [JobState.FAILED] * 2
