"""Races released together by a barrier, in threads and in processes, on both stores.

Each round, every participant opens its own store (as a replica would), waits at a barrier
and then acts at once; the round's outcome is checked before the next. Twenty rounds of six
(CI; a quick local run has three) make a lost write lock show: with PostgreSQL's advisory
lock or SQLite's ``BEGIN IMMEDIATE`` taken out, every one of these tests fails.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.processes import children
from tests.profiles import rounds
from tests.queue.support import request
from webhook.model import Job
from webhook.queue import SqlStore, open_store
from webhook.queue.base import DeliveryKey

ROUNDS = rounds(20)  # 20 in CI (HYPOTHESIS_PROFILE=ci); a few in quick local runs
PARTIES = 6
WAIT = 60.0

Action = Callable[[SqlStore, int, int], Any]


def sha(round_: int) -> str:
    return f"{round_:040x}"


def claim(store: SqlStore, round_: int, index: int) -> str | None:
    job = store.claim(f"w{index}", lease_seconds=600)
    return None if job is None else job.app


def deliver(store: SqlStore, round_: int, index: int) -> bool:
    """One event for the round's commit, through its own hook: a new delivery each time."""
    key = DeliveryKey(hook_id=str(index), delivery=f"guid-{round_}")
    return store.enqueue([request(commit=sha(round_))], delivery=key).jobs[0].created


def redeliver(store: SqlStore, round_: int, index: int) -> bool:
    """The same delivery, redelivered by every participant: accepted once."""
    key = DeliveryKey(hook_id="1", delivery=f"guid-{round_}")
    return not store.enqueue([request(commit=sha(round_))], delivery=key).duplicate


def participant(
    url: str, action: Action, index: int, count: int, start: Any, end: Any, out: Any
) -> None:
    """Act once per round between the barriers; an exception is an outcome too, never a hang."""
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.ping()  # connected before the race, so the race is the action's
    for round_ in range(count):
        start.wait(WAIT)
        try:
            result: Any = action(store, round_, index)
        except Exception as exc:
            result = f"{type(exc).__name__}: {exc}"
        out.put((round_, result))
        end.wait(WAIT)
    store.close()


def race(
    url: str,
    kind: str,
    action: Action,
    prepare: Callable[[int], None],
    check: Callable[[int, list[Any]], None],
) -> None:
    """Run ``ROUNDS`` rounds of ``PARTIES`` participants of ``kind`` (thread or process)."""
    if kind == "thread":
        start: Any = threading.Barrier(PARTIES + 1)
        end: Any = threading.Barrier(PARTIES + 1)
        out: Any = queue.Queue()
        workers: list[Any] = [
            threading.Thread(target=participant, args=(url, action, i, ROUNDS, start, end, out))
            for i in range(PARTIES)
        ]
    else:
        ctx = children()
        start, end, out = ctx.Barrier(PARTIES + 1), ctx.Barrier(PARTIES + 1), ctx.Queue()
        workers = [
            ctx.Process(target=participant, args=(url, action, i, ROUNDS, start, end, out))
            for i in range(PARTIES)
        ]
    for worker in workers:
        worker.start()
    try:
        for round_ in range(ROUNDS):
            prepare(round_)
            start.wait(WAIT)
            end.wait(WAIT)
            results = [out.get(timeout=WAIT) for _ in range(PARTIES)]
            assert all(r == round_ for r, _ in results)
            check(round_, [result for _, result in results])
    except BaseException:
        start.abort()  # release the participants: a failed round must not hang the test
        end.abort()
        raise
    finally:
        for worker in workers:
            worker.join(WAIT)


def one_winner(results: list[Any]) -> None:
    """One participant won, the others lost cleanly (an exception is neither)."""
    assert results.count(True) == 1 and results.count(False) == PARTIES - 1, results


KINDS = pytest.mark.parametrize("kind", ["thread", "process"])


@KINDS
def test_concurrent_claims_run_one_job_per_app(store: SqlStore, store_url: str, kind: str) -> None:
    def prepare(round_: int) -> None:
        # Two apps with a job queued each: six claimers get one job per app, no more.
        store.enqueue(
            [request(app=f"web-{round_}", commit=sha(round_)), request(app=f"db-{round_}")]
        )

    def check(round_: int, claimed: list[Any]) -> None:
        got = sorted(app for app in claimed if app is not None)
        assert got == [f"db-{round_}", f"web-{round_}"], f"round {round_}: {claimed}"

    race(store_url, kind, claim, prepare, check)


@KINDS
def test_concurrent_deliveries_of_one_commit_make_one_job(
    store: SqlStore, store_url: str, kind: str
) -> None:
    def check(round_: int, created: list[Any]) -> None:
        one_winner(created)
        jobs: list[Job] = store.jobs_for_app("web", limit=1000)
        assert len([job for job in jobs if job.commit == sha(round_)]) == 1

    race(store_url, kind, deliver, lambda round_: None, check)


@KINDS
def test_a_delivery_redelivered_at_once_is_accepted_once(
    store: SqlStore, store_url: str, kind: str
) -> None:
    race(store_url, kind, redeliver, lambda round_: None, lambda round_, got: one_winner(got))
