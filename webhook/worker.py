"""Sync workers: claim a job, run the sync step under a lease, record the outcome, release.

The worker knows the queue and a *sync step* (``Job -> StepOutcome``); it knows nothing of
git or clusters. A heartbeat keeps the lease while a step runs, however long; if the process
dies, the lease runs out and another worker claims the job again. On SIGTERM it stops claiming and
lets running steps finish. Each loop notes when it last made progress, so a liveness check
(``stalled``) can tell a hung worker from a busy one.

Fencing: a worker cut off from the store (a network partition, a paused process) cannot
renew its lease, and another worker may already run the job. So the step checks the lease
(``check_lease``) before each apply tier: the store must confirm it, and the last confirmed
beat must be younger than the lease; otherwise ``LeaseLost`` ends the step before it
writes anything more. A store that cannot be reached backs the claim loop off, so the
worker stops claiming and its leases lapse.
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
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
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
#: A lease is treated as lost this long before it would expire by the local clock: the
#: store's clock and ours may differ a little, and a tier takes a moment to send.
FENCE_MARGIN = 0.2
#: The claim loop's pause after a store error doubles up to this (seconds).
MAX_BACKOFF = 5.0
#: A job whose dependency (API server, git remote) is unreachable is run at most this many
#: times, with a growing pause between runs; then it fails for good, reported as ``error``.
RETRY_ATTEMPTS = 8


class LeaseLost(Exception):
    """This worker no longer holds the job's lease: it must not write anything more."""


class LeaseStore(Protocol):
    def holds(self, job_id: int, owner: str) -> bool: ...


@dataclass
class _Lease:
    """The lease of the job running in this thread, as the heartbeat last confirmed it."""

    store: LeaseStore
    job_id: int
    owner: str
    seconds: float
    confirmed: float = field(default_factory=time.monotonic)
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self, tier: str) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"job {self.job_id}: lease lost before {tier}")
        if time.monotonic() > self.confirmed + self.seconds * (1 - FENCE_MARGIN):
            raise LeaseLost(f"job {self.job_id}: lease not renewed in time before {tier}")
        try:
            held = self.store.holds(self.job_id, self.owner)
        except Exception as exc:  # no store, no proof of the lease: write nothing
            raise LeaseLost(f"job {self.job_id}: cannot confirm the lease before {tier}") from exc
        if not held:
            self.lost.set()
            raise LeaseLost(f"job {self.job_id}: lease taken over before {tier}")


_current: ContextVar[_Lease | None] = ContextVar("lease", default=None)


def check_lease(tier: str) -> None:
    """Raise ``LeaseLost`` unless this thread's job still holds its lease (no job: no-op).

    The engine calls it before each apply tier (``SyncEngine.sync(before_tier=...)``)."""
    lease = _current.get()
    if lease is not None:
        lease.check(tier)


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
        retry_seconds: float = 5.0,
        retry_max_seconds: float = 300.0,
        wakeup: threading.Event | None = None,
    ) -> None:
        """``wakeup``: set when a job was queued (the store's doorbell); an idle loop looks
        at the queue at once instead of after ``poll_interval``."""
        self.store = store
        self.wakeup = wakeup
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
        self.retry_seconds = retry_seconds
        self.retry_max_seconds = retry_max_seconds
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
        self._grow()
        try:
            # Every line logged while this job runs (engine, steps, listeners) names it.
            with logs.bound(job=job.id, app=job.app, commit=job.commit, delivery=job.delivery):
                return self._run(job)
        finally:
            with self._lock:
                self._busy -= 1

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

    def _run(self, job: Job) -> Job | None:
        log.info("job %s: %s at %s (attempt %s)", job.id, job.app, job.commit[:7], job.attempts)
        self._notify(job)
        lease = _Lease(self.store, job.id, self.owner, self.lease_seconds)
        done = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(lease, done), name=f"lease-{job.id}", daemon=True
        )
        beat.start()
        token = _current.set(lease)
        try:
            outcome = self.step(job)
        except LeaseLost as exc:
            log.warning("job %s: stopped: %s", job.id, exc)
            return None
        except Exception as exc:
            log.error("job %s: step raised\n%s", job.id, traceback.format_exc())
            outcome = StepOutcome(
                state=JobState.FAILED,
                message=cut(f"internal error: {type(exc).__name__}: {exc}", MAX_MESSAGE),
                result={"error_kind": "infrastructure"},
            )
        finally:
            _current.reset(token)
            done.set()
            beat.join()
        unreachable = bool((outcome.result or {}).get("unavailable"))
        if unreachable and job.attempts < RETRY_ATTEMPTS:
            delay = min(self.retry_seconds * 2 ** (job.attempts - 1), self.retry_max_seconds)
            queued = self.store.retry(job.id, self.owner, outcome, delay=delay)
            if queued is not None:
                log.warning("job %s: %s; retrying in %gs", job.id, outcome.message, delay)
                self._notify(queued)
            return queued
        if unreachable:  # "infrastructure: gave up after 8 attempts: <the cause>", short first
            kind, _, cause = outcome.message.partition(": ")
            message = f"{kind}: gave up after {job.attempts} attempts: {cause}"
            outcome = replace(outcome, message=cut(message, MAX_MESSAGE))
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

    def _heartbeat(self, lease: _Lease, done: threading.Event) -> None:
        try:
            while not done.wait(self.lease_seconds / HEARTBEATS_PER_LEASE):
                sent = time.monotonic()
                try:
                    kept = self.store.heartbeat(
                        lease.job_id, self.owner, lease_seconds=self.lease_seconds
                    )
                except Exception:  # a store hiccup: the next beat may land, the fence decides
                    log.warning("job %s: heartbeat failed; retrying", lease.job_id, exc_info=True)
                    continue
                if not kept:
                    lease.lost.set()
                    return
                lease.confirmed = sent
        finally:
            self.store.database.close()  # this thread's connection: one per job otherwise

    def _loop(self, steady: bool = True) -> None:
        """Claim and run jobs until stopped; an added (not ``steady``) thread ends once it
        finds the queue empty."""
        name = threading.current_thread().name
        backoff = self.poll_interval
        try:
            while not self.stopping.is_set():
                self.progress[name] = time.monotonic()
                try:
                    ran = self.run_once()
                except Exception as exc:  # the store is unreachable: claim less and less often
                    log.warning("worker loop error; retrying in %.1fs: %s", backoff, exc)
                    self.store.database.close()
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                backoff = self.poll_interval
                if ran is None:
                    if not steady:
                        return
                    self._idle()
        finally:
            if not steady:  # an ended extra thread is not a stalled loop
                self.progress.pop(name, None)
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

    def _idle(self) -> None:
        """Wait ``poll_interval``, or less when the doorbell rings (or on ``stop``)."""
        if self.wakeup is None:
            self.stopping.wait(self.poll_interval)
        elif self.wakeup.wait(self.poll_interval):
            self.wakeup.clear()

    def stop(self) -> None:
        self.stopping.set()
        if self.wakeup is not None:
            self.wakeup.set()
