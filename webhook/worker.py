"""Sync workers: claim a job, run the sync step under a lease, record the outcome, release.

The worker knows the queue and a *sync step* (``Job -> StepOutcome``); it knows nothing of
git or clusters. A heartbeat keeps the lease while a step runs, however long; if the process
dies, the lease runs out and another worker claims the job again. On SIGTERM it stops claiming and
lets running steps finish.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from webhook import logs
from webhook.model import Job, JobState, StepOutcome
from webhook.queue import JobStore
from webhook.settings import DEFAULT_LEASE
from webhook.text import cut

log = logging.getLogger(__name__)

SyncStep = Callable[[Job], StepOutcome]
#: A running step renews its lease this many times per lease, each time for a whole lease,
#: so a step may run far longer than the lease (an app's ``health_timeout``, 300 s by
#: default, against a 60 s lease) and is never claimed twice while its worker lives. What
#: must hold: the interval (lease / 3) stays well under the lease, so two beats in a row
#: may fail or stall before the lease lapses.
HEARTBEATS_PER_LEASE = 3
#: An internal error's message is cut to this before it is stored and reported.
MAX_MESSAGE = 500


class JobListener(Protocol):
    """Told of every state a job enters under this worker (the GitHub reporter is one)."""

    def job_changed(self, job: Job) -> None: ...


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs jobs from ``store`` through ``step``: ``concurrency`` threads always, growing to
    ``max_concurrency`` while every thread is busy (a fleet's merge queues hundreds of jobs,
    each mostly waiting on the API server and the rollout), shrinking back when the queue
    runs dry. ``pressure`` counts the API server's "too busy" answers (429): while it rises,
    no thread is added, so the fleet's width stays within what the server takes."""

    def __init__(
        self,
        store: JobStore,
        step: SyncStep,
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE,
        poll_interval: float = 0.1,
        concurrency: int = 2,
        max_concurrency: int | None = None,
        pressure: Callable[[], int] = lambda: 0,
        listeners: Sequence[JobListener] = (),
    ) -> None:
        self.store = store
        self.step = step
        self.owner = owner or worker_id()
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.max_concurrency = max(concurrency, max_concurrency or concurrency)
        self.pressure = pressure
        self._pressure_seen = pressure()
        self._lock = threading.Lock()
        #: Threads running ``_loop`` under ``run()`` (added ones are dropped once ended).
        self._threads: list[threading.Thread] = []
        self._running = False
        self._busy = 0
        #: The most threads that ran jobs at once (what a benchmark reports).
        self.peak = 0
        self.listeners = list(listeners)
        self.stopping = threading.Event()

    def _notify(self, job: Job) -> None:
        for listener in self.listeners:
            try:
                listener.job_changed(job)
            except Exception:  # a reporter's fault must never fail a deployment
                log.exception("listener %r failed for job %s", listener, job.id)

    def run_once(self) -> Job | None:
        """Claim and run one job; the finished job, or None when nothing was runnable."""
        job = self.store.claim(self.owner, lease_seconds=self.lease_seconds)
        if job is None:
            return None
        self._grow()
        try:
            # Every line logged while this job runs (engine, steps, listeners) names it.
            with logs.bound(job=job.id, app=job.app, commit=job.commit, delivery=job.delivery):
                return self._run(job)
        finally:
            with self._lock:
                self._busy -= 1

    def _run(self, job: Job) -> Job | None:
        log.info("job %s: %s at %s (attempt %s)", job.id, job.app, job.commit[:7], job.attempts)
        self._notify(job)
        lost = threading.Event()
        done = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(job.id, done, lost), name=f"lease-{job.id}", daemon=True
        )
        beat.start()
        try:
            outcome = self.step(job)
        except Exception as exc:
            log.error("job %s: step raised\n%s", job.id, traceback.format_exc())
            outcome = StepOutcome(
                state=JobState.FAILED,
                message=cut(f"internal error: {type(exc).__name__}: {exc}", MAX_MESSAGE),
                result={"error_kind": "infrastructure"},
            )
        finally:
            done.set()
            beat.join()
        finished = self.store.finish(job.id, self.owner, outcome)
        if finished is None:
            log.warning("job %s: lease lost before it finished; its result is dropped", job.id)
            return None
        log.info("job %s: %s: %s", job.id, finished.state, finished.message)
        self._notify(finished)
        return finished

    def _grow(self) -> None:
        """One more thread when every thread holds a job and the API server is not pushing
        back: the next queued job need not wait for a running one's health wait."""
        with self._lock:
            self._busy += 1
            self.peak = max(self.peak, self._busy)
            self._threads = [t for t in self._threads if t.is_alive()]
            alive = len(self._threads)
            pressure = self.pressure()
            pushed_back, self._pressure_seen = pressure > self._pressure_seen, pressure
            if pushed_back or self._busy < alive or alive >= self.max_concurrency:
                return
            if self.stopping.is_set() or not self._running:
                return  # run_once() called on its own runs in its caller's thread only
            thread = threading.Thread(
                target=self._loop, args=(False,), name=f"sync-{alive}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _heartbeat(self, job_id: int, done: threading.Event, lost: threading.Event) -> None:
        try:
            while not done.wait(self.lease_seconds / HEARTBEATS_PER_LEASE):
                try:
                    kept = self.store.heartbeat(
                        job_id, self.owner, lease_seconds=self.lease_seconds
                    )
                except Exception:  # a store hiccup: the next beat may land, the lease holds
                    log.warning("job %s: heartbeat failed; retrying", job_id, exc_info=True)
                    continue
                if not kept:
                    lost.set()
                    return
        finally:
            self.store.database.close()  # this thread's connection: one per job otherwise

    def _loop(self, steady: bool = True) -> None:
        """Claim and run jobs until stopped; an added (not ``steady``) thread ends once it
        finds the queue empty."""
        try:
            while not self.stopping.is_set():
                try:
                    ran = self.run_once()
                except Exception:
                    log.exception("worker loop error; retrying")
                    ran = None
                if ran is None:
                    if not steady:
                        return
                    self.stopping.wait(self.poll_interval)
        finally:
            self.store.database.close()

    def run(self) -> None:
        """Run until ``stop()``; returns once every running step has finished."""
        with self._lock:
            steady = [
                threading.Thread(target=self._loop, name=f"sync-{i}", daemon=True)
                for i in range(self.concurrency)
            ]
            self._threads = list(steady)
            self._running = True
            for thread in steady:
                thread.start()
        for thread in steady:
            thread.join()
        with self._lock:  # stopping is set: no thread is added any more
            self._running = False
            added = list(self._threads)
        for thread in added:
            thread.join()

    def stop(self) -> None:
        self.stopping.set()
