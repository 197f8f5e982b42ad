"""The sync's kept thread pool (``webhook.kube.fanout``): bounded width, results in order,
and nothing of a sync still running once it has returned or raised. Plain threads: what is
run on the pool is tested against the real API server elsewhere (test_apply_concurrency)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from webhook.kube import fanout


def test_tasks_run_at_most_width_at_a_time_with_results_in_order() -> None:
    lock = threading.Condition()
    now = most = 0

    def task(n: int) -> int:
        nonlocal now, most
        with lock:
            now += 1
            most = max(most, now)
            lock.notify_all()
            lock.wait_for(lambda: now >= 3, timeout=2)  # held until the window is full
        time.sleep(0.01)
        with lock:
            now -= 1
        return n * n

    assert fanout.run_all(task, list(range(10)), width=3) == [n * n for n in range(10)]
    assert most == 3


def test_an_error_is_raised_only_once_every_other_task_has_ended() -> None:
    failed = threading.Event()
    ended: list[int] = []

    def task(n: int) -> int:
        if n == 0:
            failed.set()
            raise RuntimeError("the first object failed")
        failed.wait(timeout=2)
        time.sleep(0.2)  # still writing when the first has already failed
        ended.append(n)
        return n

    with pytest.raises(RuntimeError, match="first object"):
        fanout.run_all(task, [0, 1, 2], width=3)
    assert sorted(ended) == [1, 2]


def test_each_thread_keeps_its_own_pool() -> None:
    mine = fanout.pool()
    assert fanout.pool() is mine
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(fanout.pool()))
    thread.start()
    thread.join()
    assert other and other[0] is not mine
    hold = threading.Barrier(5, timeout=2)  # five tasks at once: five threads

    def where(n: int) -> threading.Thread:
        hold.wait()
        return threading.current_thread()

    runs: list[set[threading.Thread]] = []

    def twice() -> None:  # a thread of its own: a pool of no earlier test's threads
        runs.append(set(fanout.run_all(where, list(range(5)), width=5)))
        runs.append(set(fanout.run_all(where, list(range(5)), width=5)))

    runner = threading.Thread(target=twice)
    runner.start()
    runner.join()
    first, second = runs
    assert len(first) == 5
    assert second == first  # the same threads again, not new ones


def test_a_forked_child_gets_a_pool_of_its_own() -> None:
    """A fork keeps only the forking thread: a pool inherited from the parent has no
    threads, and work handed to it would never run."""
    assert fanout.pool().submit(lambda: 1).result() == 1  # the parent's pool, now idle
    time.sleep(0.1)  # its thread back waiting: the pool counts it idle
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        signal.alarm(10)
        try:
            os._exit(0 if fanout.pool().submit(lambda: 2).result(timeout=5) == 2 else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
