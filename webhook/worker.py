"""Sync workers: claim a job, run the sync step under a lease, record the outcome, release.

The worker knows the queue and a *sync step* (``Job -> StepOutcome``); it knows nothing of
git or clusters. A heartbeat keeps the lease while a step runs, however long; if the process
dies, the lease runs out and another worker claims the job again. On SIGTERM it stops claiming and
lets running steps finish. Each loop notes when it last made progress, so a liveness check
(``stalled``) can tell a hung worker from a busy one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from webhook import logs, telemetry
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
    """Runs jobs from ``store`` through ``step``, ``concurrency`` at a time (one per app)."""

    def __init__(
        self,
        store: JobStore,
        step: SyncStep,
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE,
        poll_interval: float = 0.1,
        concurrency: int = 2,
        listeners: Sequence[JobListener] = (),
    ) -> None:
        self.store = store
        self.step = step
        self.owner = owner or worker_id()
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.listeners = list(listeners)
        self.stopping = threading.Event()
        #: Sync loop name -> monotonic time it last went round (claimed, or found nothing).
        self.progress: dict[str, float] = {}

    def stalled(self, limit: float) -> list[str]:
        """The sync loops that made no progress for ``limit`` seconds: stuck in the store,
        or in a step running that long. Empty when every loop is moving (or none started)."""
        now = time.monotonic()
        return sorted(name for name, at in self.progress.items() if now - at > limit)

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
        # Every line logged while this job runs (engine, steps, listeners) names it.
        with logs.bound(job=job.id, app=job.app, commit=job.commit, delivery=job.delivery):
            return self._run(job)

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
        trigger = finished.trigger.value
        telemetry.SYNCS.labels(app=job.app, trigger=trigger, result=finished.state.value).inc()
        if finished.started_at is not None and finished.finished_at is not None:
            telemetry.SYNC_DURATION.labels(app=job.app, trigger=trigger).observe(
                finished.finished_at - finished.started_at
            )
        self._notify(finished)
        return finished

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

    def _loop(self) -> None:
        name = threading.current_thread().name
        try:
            while not self.stopping.is_set():
                self.progress[name] = time.monotonic()
                try:
                    ran = self.run_once()
                except Exception:
                    log.exception("worker loop error; retrying")
                    ran = None
                if ran is None:
                    self.stopping.wait(self.poll_interval)
        finally:
            self.store.database.close()

    def run(self) -> None:
        """Run until ``stop()``; returns once every running step has finished."""
        threads = [
            threading.Thread(target=self._loop, name=f"sync-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def stop(self) -> None:
        self.stopping.set()
