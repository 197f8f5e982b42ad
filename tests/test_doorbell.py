"""The store's doorbell: a job queued by another process wakes an idle worker at once.

The worker polls every minute here, so only the ring can make it claim within seconds.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.test_worker import WriteCommitStep
from webhook.model import JobState
from webhook.queue import open_store
from webhook.queue.doorbell import Doorbell, location_of
from webhook.worker import Worker

ENQUEUE = """
import sys
from webhook.model import SyncRequest, Trigger
from webhook.queue import open_store
store = open_store(sys.argv[1])
store.enqueue([SyncRequest(app="web", repo="acme/gitops", commit="e" * 40,
                           ref="refs/heads/main", trigger=Trigger.PUSH)])
"""


def test_a_job_queued_by_another_process_is_claimed_without_waiting_for_the_poll(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'deployer.db'}"
    store = open_store(url)
    heard = threading.Event()
    assert store.doorbell is not None and store.doorbell.listen(heard)
    worker = Worker(store, WriteCommitStep(tmp_path), poll_interval=60.0, wakeup=heard)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the worker found the queue empty and sleeps for its minute
        subprocess.run([sys.executable, "-c", ENQUEUE, url], check=True, timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (tmp_path / "web.deployed").exists():
            time.sleep(0.02)
        assert (tmp_path / "web.deployed").read_text() == "e" * 40
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and store.get(1).state is not JobState.SUCCEEDED:
            time.sleep(0.02)
        assert store.get(1).state is JobState.SUCCEEDED
    finally:
        started = time.monotonic()
        worker.stop()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 5  # stop wakes the sleeping loop too


def test_only_one_process_listens_and_a_ring_nobody_hears_is_harmless(tmp_path: Path) -> None:
    bell = Doorbell(location_of(str(tmp_path / "a.db")))
    bell.ring()  # nobody listens: nothing happens, nothing raises
    first, second = threading.Event(), threading.Event()
    assert bell.listen(first)
    assert not bell.listen(second)  # the same store's name is taken: poll instead
    bell.ring()
    assert first.wait(5)
    other = Doorbell(location_of(str(tmp_path / "b.db")))
    heard = threading.Event()
    assert other.listen(heard)
    first.clear()  # before the ring: the listener may set it the moment the ring lands
    bell.ring()
    assert first.wait(5) and not heard.is_set()  # each store rings its own workers


def test_a_postgres_url_names_its_database_not_its_credentials() -> None:
    a = location_of("postgresql://deployer:old@db.internal:5432/deployer?sslmode=require")
    b = location_of("postgresql://deployer:new@db.internal:5432/deployer?sslmode=require")
    assert a == b == "postgresql://db.internal:5432/deployer?sslmode=require"
    assert "old" not in a
