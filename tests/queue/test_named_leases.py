"""Named leases (``queue/leases.py``): one replica at a time runs a fleet-wide chore, one
turn per lease period. Two ``Leases`` on the same store stand for two replicas; a clock
the test moves stands for time passing."""

from __future__ import annotations

from tests.queue.support import Clock
from webhook.queue import SqlStore
from webhook.queue.leases import Leases, replica_id


def _replicas(store: SqlStore) -> tuple[Leases, Leases, Clock]:
    clock = Clock()
    return Leases(store.database, clock), Leases(store.database, clock), clock


def test_the_first_replica_takes_a_free_lease_for_its_seconds(store: SqlStore) -> None:
    a, b, clock = _replicas(store)
    assert a.holder("drift") is None
    assert a.take("drift", "a", seconds=30)
    assert b.holder("drift") == ("a", clock.now + 30)


def test_another_replica_is_refused_until_the_lease_expires(store: SqlStore) -> None:
    a, b, clock = _replicas(store)
    assert a.take("drift", "a", seconds=30)
    clock.now += 29.5
    assert not b.take("drift", "b", seconds=30)
    assert b.holder("drift") == ("a", clock.now + 0.5)
    clock.now += 0.5  # its last moment is the next holder's first
    assert b.take("drift", "b", seconds=30)
    assert a.holder("drift") == ("b", clock.now + 30)


def test_the_holder_renews_its_own_lease_before_it_expires(store: SqlStore) -> None:
    a, b, clock = _replicas(store)
    assert a.take("drift", "a", seconds=30)
    clock.now += 10
    assert a.take("drift", "a", seconds=30)
    assert a.holder("drift") == ("a", clock.now + 30)
    clock.now += 25  # past the first term, within the renewed one
    assert not b.take("drift", "b", seconds=30)


def test_leases_of_different_names_are_independent(store: SqlStore) -> None:
    a, b, clock = _replicas(store)
    assert a.take("drift", "a", seconds=30)
    assert b.take("recovery", "b", seconds=60)
    assert a.holder("drift") == ("a", clock.now + 30)
    assert a.holder("recovery") == ("b", clock.now + 60)
    assert not a.take("recovery", "a", seconds=60)


def test_a_replica_id_names_the_host_and_process_and_differs_per_call() -> None:
    import os
    import socket

    first, second = replica_id(), replica_id()
    host, pid, tail = first.split(":")
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert len(tail) == 6 and first != second
