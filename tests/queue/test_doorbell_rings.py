"""The store rings its doorbell after an enqueue that queued a new job, and only then: not
for a job already there (a second event of a commit) nor for a paused app's skipped push,
which no worker will run. The ring is read from the real abstract unix socket: a datagram
is in the receiver's queue once ``sendto`` returns, so "not rung" needs no waiting."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from webhook.model import Pause, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.queue.doorbell import Doorbell


@pytest.fixture
def bell(store: SqlStore) -> Iterator[socket.socket]:
    doorbell = Doorbell(f"test-{uuid.uuid4().hex}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(doorbell.address)
    sock.setblocking(False)
    store.doorbell = doorbell
    yield sock
    sock.close()


def rings(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(16)
        except BlockingIOError:
            return count
        count += 1


def _push(app: str, commit: str) -> SyncRequest:
    return SyncRequest(
        app=app, repo="acme/gitops", commit=commit, ref="refs/heads/main", trigger=Trigger.PUSH
    )


def test_a_new_job_rings_once_a_known_one_or_a_paused_skip_does_not(
    store: SqlStore, bell: socket.socket
) -> None:
    store.enqueue([_push("shop", "a" * 40)])
    assert rings(bell) == 1
    known = store.enqueue([_push("shop", "a" * 40)])
    assert not known.jobs[0].created
    assert rings(bell) == 0
    store.pauses.put(Pause(app="blog", commit="c" * 40, by="admin", paused_at=1.0))
    skipped = store.enqueue([_push("blog", "b" * 40)])
    assert skipped.jobs[0].created
    assert rings(bell) == 0


def test_without_a_doorbell_an_enqueue_still_queues(store: SqlStore) -> None:
    """A store made without ``open_store`` has none, and queues all the same."""
    bare = SqlStore(store.database)  # the same database, left open for ``store`` to close
    assert bare.enqueue([_push("shop", "a" * 40)]).jobs[0].created
    assert [job.commit for job in store.jobs_for_app("shop")] == ["a" * 40]
