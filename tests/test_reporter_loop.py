"""The reporter's loop and its waits, as ``serve`` and ``worker`` run it: in a thread, woken
by the workers, and on its own every ``interval`` for reports written by another process;
GitHub's ``Retry-After`` kept within 1 s and an hour. Real SQLite store, the local GitHub."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer
from tests.test_reporter import CONTEXT, MERGE, OK, Clock, clock, merge, reporter
from webhook.queue import SqlStore
from webhook.reporter import Reporter

__all__ = ["clock", "reporter"]  # the fixtures, shared with tests/test_reporter.py


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def running(reporter: Reporter) -> Iterator[Reporter]:
    """``reporter.run`` in a thread, waking on its own every 0.2 s."""
    stop = threading.Event()
    thread = threading.Thread(target=reporter.run, args=(stop,), kwargs={"interval": 0.2})
    thread.start()
    yield reporter
    stop.set()
    reporter.wake.set()
    thread.join(10)
    assert not thread.is_alive()


def test_the_loop_keeps_delivering_change_after_change(
    store: SqlStore, running: Reporter, github_api: GitHubApiServer
) -> None:
    """After a round that delivered, the loop goes on: a later change, written by another
    process (no wake-up), is delivered too, within the interval."""
    merge(store)
    eventually(lambda: github_api.states(REPO, MERGE, CONTEXT) == ["pending"], "first report")
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    store.finish(job.id, "w", OK)
    eventually(
        lambda: github_api.states(REPO, MERGE, CONTEXT)[-1:] == ["success"], "a later report"
    )


def test_a_round_that_fails_does_not_end_the_loop(
    store: SqlStore,
    running: Reporter,
    github_api: GitHubApiServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The failure is logged with its traceback, and the next round delivers."""
    rounds: list[str] = []
    deliver = running.deliver_pending

    def once_broken() -> int:
        if not rounds:
            rounds.append("raised")
            raise RuntimeError("a broken round")
        return deliver()

    running.deliver_pending = once_broken  # type: ignore[method-assign]
    merge(store)
    eventually(lambda: github_api.states(REPO, MERGE, CONTEXT) == ["pending"], "after a failure")
    [failed] = [r for r in caplog.records if r.name == "webhook.reporter"]
    assert failed.levelno == logging.ERROR
    assert failed.getMessage() == "reporter round failed; trying again"
    assert failed.exc_info is not None and str(failed.exc_info[1]) == "a broken round"


@pytest.mark.parametrize(("asked", "waited"), [("0", 1.0), ("7200", 3600.0), ("30", 30.0)])
def test_retry_after_is_kept_between_a_second_and_an_hour(
    store: SqlStore,
    reporter: Reporter,
    github_api: GitHubApiServer,
    clock: Clock,
    asked: str,
    waited: float,
) -> None:
    merge(store)
    github_api.fail_next(status=429, headers={"Retry-After": asked})
    reporter.deliver_pending()
    assert reporter.resume_at == clock.now + waited
