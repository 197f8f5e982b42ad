"""The store failing under the receiver: a 503 (GitHub may redeliver), never a half-written
delivery, and deliveries accepted again once the store is back."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
from flask.testing import FlaskClient

from tests.conftest import SECRET
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.processes import DeployerProcess
from tests.relay import Relay
from tests.replicas import postgres_socket, postgres_via
from webhook.queue import SqlStore, open_store, sqlite_store
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app


def _push(n: int) -> Delivery:
    payload = branch_push()
    payload["after"] = f"{n:040x}"
    return Delivery("push", payload, SECRET)


def _rows(store: SqlStore) -> tuple[set[str], dict[str, int]]:
    """The accepted deliveries' GUIDs, and the number of jobs each delivery's GUID has."""
    with store.database.read() as cur:
        cur.execute("SELECT delivery FROM deliveries")
        accepted = {row["delivery"] for row in cur.fetchall()}
        cur.execute("SELECT delivery, COUNT(*) AS n FROM jobs GROUP BY delivery")
        jobs = {row["delivery"]: int(row["n"]) for row in cur.fetchall()}
    return accepted, jobs


def _post(web: FlaskClient, delivery: Delivery) -> int:
    return web.post("/webhooks/github", data=delivery.body, headers=delivery.headers()).status_code


def test_a_full_sqlite_disk_is_a_503_with_nothing_half_written_and_recovers(
    tmp_path: Path, config: DeployerConfig, env: Environment
) -> None:
    """A full disk is simulated with SQLite's ``PRAGMA max_page_count`` on the receiver's
    connection (a tiny tmpfs needs root): SQLite then fails writes with SQLITE_FULL exactly
    as on a full disk. The receiver answers 503; the refused delivery left no row; once
    there is room again its redelivery is accepted."""
    store = sqlite_store(tmp_path / "deployer.db")
    web = create_app(config, env, store).test_client()
    assert _post(web, _push(0)) == 202  # the test client runs the app in this thread
    with store.database.read() as cur:  # this thread's connection is the receiver's
        cur.execute("PRAGMA page_count")
        pages = int(cur.fetchone()[0])
        cur.execute(f"PRAGMA max_page_count = {pages + 1}")
    answers = {}
    for n in range(1, 200):
        delivery = _push(n)
        answers[delivery.delivery] = _post(web, delivery)
        if answers[delivery.delivery] == 503:
            refused = delivery
            break
    else:
        raise AssertionError("the store never filled up")
    assert set(answers.values()) == {202, 503}
    accepted, jobs = _rows(store)
    assert refused.delivery not in accepted and refused.delivery not in jobs
    assert all(jobs.get(guid) == 3 for guid in accepted)  # each accepted push: three apps
    assert set(jobs) == accepted

    with store.database.read() as cur:
        cur.execute("PRAGMA max_page_count = 1073741823")
    assert _post(web, refused) == 202
    assert _rows(store)[1][refused.delivery] == 3
    store.close()


def test_postgresql_gone_under_load_is_a_fast_503_and_nothing_is_half_written(
    tmp_path: Path, postgres_url: str
) -> None:
    """A real ``web`` process reaches PostgreSQL through a relay that the test cuts while
    four clients post deliveries, then restores (as a database restart looks to the
    receiver: connections reset, new ones refused). Every delivery gets its answer within
    GitHub's ten seconds: 202 with its jobs stored, or 503 with nothing stored; GitHub's
    redelivery of each refused one is then accepted once."""
    pg = Relay(postgres_socket(postgres_url))
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "DEPLOYER_DATABASE_URL": postgres_via(postgres_url, pg.port),
    }
    web = DeployerProcess(tmp_path, env)
    web.start()
    answers: dict[str, int] = {}
    lock = threading.Lock()
    sent = threading.Semaphore(0)

    def client(first: int) -> None:
        for n in range(first + 1, first + 41):  # 0 would be a deleted branch
            delivery = _push(n)
            answer = requests.post(
                f"{web.url}/webhooks/github",
                data=delivery.body,
                headers=delivery.headers(),
                timeout=10,  # GitHub's own limit
            )
            with lock:
                answers[delivery.delivery] = answer.status_code
                keep[delivery.delivery] = delivery
            sent.release()

    keep: dict[str, Delivery] = {}
    clients = [threading.Thread(target=client, args=(1000 * i,)) for i in range(4)]
    try:
        for thread in clients:
            thread.start()
        for _ in range(30):
            sent.acquire()
        pg.cut()
        for _ in range(40):
            sent.acquire()
        pg.restore()
        for thread in clients:
            thread.join()
        assert set(answers.values()) <= {202, 503}
        assert 503 in answers.values() and 202 in answers.values()
        store = open_store(postgres_url)
        accepted, jobs = _rows(store)
        for guid, status in answers.items():
            assert (guid in accepted) == (status == 202), guid
            assert jobs.get(guid, 0) == (2 if status == 202 else 0), guid
        refused = [keep[g] for g, status in answers.items() if status == 503]
        again: list[Any] = [
            requests.post(
                f"{web.url}/webhooks/github", data=d.body, headers=d.headers(), timeout=10
            ).status_code
            for d in refused
        ]
        assert set(again) == {202}
        assert len(_rows(store)[0]) == len(answers)
        store.close()
        assert web.stop() == 0
    finally:
        if web.proc is not None and web.proc.poll() is None:
            web.kill9()
        pg.close()


def test_a_store_that_cannot_read_recorded_inputs_is_a_503_with_nothing_stored(
    tmp_path: Path, config: DeployerConfig, env: Environment
) -> None:
    """A push to an existing branch is matched to apps with their recorded inputs, read from
    the store before anything is written: a store that cannot answer (here its inputs table
    is gone, a real SQLite error) is the same 503 with ``Retry-After`` as a failed enqueue,
    and nothing is stored; once the store answers again, the redelivery is accepted."""
    store = sqlite_store(tmp_path / "deployer.db")
    web = create_app(config, env, store).test_client()
    push = branch_push()
    push.update(after="a" * 40, created=False)
    push["commits"][0].update(added=[], removed=[], modified=["apps/guestbook/app.yaml"])
    delivery = Delivery("push", push, SECRET)
    with store.database.write() as cur:
        cur.execute("ALTER TABLE app_inputs RENAME TO app_inputs_away")
    answer = web.post("/webhooks/github", data=delivery.body, headers=delivery.headers())
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.headers["Retry-After"] == "30"
    assert _rows(store) == (set(), {})
    with store.database.write() as cur:
        cur.execute("ALTER TABLE app_inputs_away RENAME TO app_inputs")
    assert _post(web, delivery) == 202
    # The three apps on the branch have no recorded inputs yet, so each counts as touched.
    assert _rows(store)[1] == {delivery.delivery: 3}
    store.close()
