"""Threads a sync keeps for its fan-out: dry runs, applies and bulk reads.

Owns: one thread pool per calling thread (a worker's sync thread, the CLI's main thread),
kept for its life. A pool made per tier started its threads again for every tier of every
sync, and each start waits for the new thread to take the interpreter lock: milliseconds
while the sync's other threads are busy. The pool dies with its thread.
Must not touch: what runs on it. Nothing that runs on the pool may wait for another task of
the same pool (only the thread that owns it waits), so it cannot deadlock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads of one pool: a tier of dry runs or applies (``apply.MAX_PARALLEL`` at a time)
#: beside the reads that go with it (the ApplySet parent's, a prefetch's LISTs).
WIDTH = 24

_kept = threading.local()


def _forget_pools() -> None:
    """A forked child has only the forking thread: a pool it inherited has no threads left,
    and a task submitted to it would never run (mutmut forks one test run per mutant)."""
    global _kept
    _kept = threading.local()


os.register_at_fork(after_in_child=_forget_pools)


def pool() -> ThreadPoolExecutor:
    """The calling thread's pool; the caller must not shut it down."""
    found: ThreadPoolExecutor | None = getattr(_kept, "pool", None)
    if found is None:
        name = f"fanout-{threading.current_thread().name}"
        found = _kept.pool = ThreadPoolExecutor(WIDTH, thread_name_prefix=name)
    return found


def run_all(task: Callable[[T], R], items: Sequence[T], *, width: int) -> list[R]:
    """``task`` of every item on the calling thread's pool, at most ``width`` at a time,
    results in order. Returns, or raises the first item's error, only once every task has
    ended: no write of a sync is still in flight when the sync is over."""
    if len(items) < 2:
        return [task(item) for item in items]
    started: list[Future[R]] = []
    running: set[Future[R]] = set()
    try:
        for item in items:
            if len(running) >= width:
                running = wait(running, return_when=FIRST_COMPLETED).not_done
            started.append(pool().submit(task, item))
            running.add(started[-1])
    finally:
        wait(running)
    return [future.result() for future in started]
