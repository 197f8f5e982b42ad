"""Missed deliveries are read back from GitHub's deliveries API and processed once.

GitHub's side is the local server (tests/github/api_server.py), which validates every
request against GitHub's OpenAPI description and serves the attempts a test records; the
store is real (SQLite and PostgreSQL), and so is the receiver a redelivery later reaches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.conftest import REPO, SECRET
from tests.github.api_server import GitHubApiServer, client_for
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.github.hook_deliveries import HookDeliveries
from tests.pipeline import Clock
from webhook.queue import SqlStore, open_store, sqlite_store
from webhook.recovery import Recovery
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app

HOOK_ID = 109948940  # the id Delivery's X-GitHub-Hook-ID carries
HOOK = HookDeliveries.key(REPO, HOOK_ID)


@pytest.fixture
def shared_store(database_url: str) -> Iterator[SqlStore]:
    store = open_store(database_url)
    yield store
    store.close()


def _config(config: DeployerConfig, **recovery: object) -> DeployerConfig:
    settings = {"hooks": [{"repo": REPO, "hook_id": HOOK_ID}], "pace": 0, **recovery}
    return DeployerConfig.model_validate({**config.model_dump(), "recover_deliveries": settings})


def _push(sha: str) -> Delivery:
    payload = branch_push()
    payload["after"] = sha
    payload["head_commit"]["id"] = sha
    return Delivery("push", payload, SECRET)


def _receiver(config: DeployerConfig, env: Environment, store: SqlStore) -> FlaskClient:
    return create_app(config, env, store).test_client()


def _post(web: FlaskClient, delivery: Delivery) -> int:
    answer = web.post("/webhooks/github", data=delivery.body, headers=delivery.headers())
    return answer.status_code


def _commits(store: SqlStore) -> set[str]:
    return {job.commit for jobs in [store.latest_jobs()] for job in jobs.values()}


def test_a_missed_push_is_recovered_once_and_its_redelivery_is_a_duplicate(
    config: DeployerConfig,
    env: Environment,
    shared_store: SqlStore,
    github_api: GitHubApiServer,
) -> None:
    config = _config(config)
    web = _receiver(config, env, shared_store)
    clock = shared_store.clock = Clock(time.time() - 300)  # type: ignore[method-assign]
    answered = _push("a" * 40)
    assert _post(web, answered) == 202
    github_api.hook_deliveries.record(HOOK, answered, 202, clock.now)
    redelivered = _push("c" * 40)  # failed once, then "Redeliver" got through
    github_api.hook_deliveries.record(HOOK, redelivered, 504, clock.now + 10)
    clock.now += 20
    assert _post(web, redelivered) == 202
    github_api.hook_deliveries.record(HOOK, redelivered, 202, clock.now)
    ping = Delivery("ping", {"zen": "Keep it logically awesome.", "hook_id": HOOK_ID}, SECRET)
    github_api.hook_deliveries.record(HOOK, ping, 502, clock.now + 10)
    missed = _push("b" * 40)  # the deployer was down: GitHub got no answer
    github_api.hook_deliveries.record(HOOK, missed, 0, clock.now + 100)
    clock.now = time.time()

    recovery = Recovery(config, shared_store, client_for(github_api))
    found = recovery.round()

    assert [(r.delivery, r.event) for r in found] == [(missed.delivery, "push")]
    assert found[0].jobs, "the recovered push queued no job"
    jobs = [shared_store.get(job_id) for job_id in found[0].jobs]
    assert {job.commit for job in jobs if job is not None} == {"b" * 40}
    # Read only: the list, and the one missed delivery's payload.
    assert {c.method for c in github_api.calls} == {"GET"}
    fetched = [c.path for c in github_api.calls if c.path.rsplit("/", 1)[-1].isdigit()]
    missed_id = next(
        a["id"] for a in github_api.hook_deliveries.by_hook[HOOK] if a["guid"] == missed.delivery
    )
    assert fetched == [f"/repos/{REPO}/hooks/{HOOK_ID}/deliveries/{missed_id}"]

    assert recovery.round() == []  # the next round finds nothing new
    assert _post(web, missed) == 200  # GitHub's "Redeliver" now: already accepted
    assert len(shared_store.jobs_for_app("guestbook")) == 3


def test_an_older_missed_push_does_not_follow_a_newer_job(
    config: DeployerConfig, env: Environment, store: SqlStore, github_api: GitHubApiServer
) -> None:
    config = _config(config)
    web = _receiver(config, env, store)
    clock = store.clock = Clock(time.time() - 60)  # type: ignore[method-assign]
    older = _push("1" * 40)
    github_api.hook_deliveries.record(HOOK, older, 0, clock.now)
    clock.now += 30
    newer = _push("2" * 40)
    assert _post(web, newer) == 202
    github_api.hook_deliveries.record(HOOK, newer, 202, clock.now)

    found = Recovery(config, store, client_for(github_api)).round()

    assert [(r.delivery, r.jobs) for r in found] == [(older.delivery, ())]
    assert {job.commit for job in store.jobs_for_app("guestbook")} == {"2" * 40}
    assert _post(web, older) == 200  # marked: a redelivery is a duplicate too


def test_a_round_is_bounded_and_paced(
    config: DeployerConfig, store: SqlStore, github_api: GitHubApiServer
) -> None:
    config = _config(config, max_per_round=2, pace=0.25)
    now = time.time()
    lost = [_push(str(n) * 40) for n in range(5)]
    for n, delivery in enumerate(lost):
        github_api.hook_deliveries.record(HOOK, delivery, 500, now - 100 + n)
    pauses: list[float] = []
    recovery = Recovery(config, store, client_for(github_api), sleep=pauses.append)

    first = recovery.round()
    assert [r.delivery for r in first] == [d.delivery for d in lost[:2]]  # oldest first
    assert pauses == [0.25] * 3  # after the list and after each of the two fetches
    second = recovery.round()
    assert [r.delivery for r in second] == [d.delivery for d in lost[2:4]]


def test_deliveries_older_than_the_lookback_are_left_alone(
    config: DeployerConfig, store: SqlStore, github_api: GitHubApiServer
) -> None:
    config = _config(config, lookback=3600)
    github_api.hook_deliveries.record(HOOK, _push("d" * 40), 0, time.time() - 7200)
    assert Recovery(config, store, client_for(github_api)).round() == []
    assert store.latest_jobs() == {}


def test_the_apps_hook_is_read_with_the_apps_jwt(
    config: DeployerConfig,
    store: SqlStore,
    github_api: GitHubApiServer,
) -> None:
    from tests.test_github_app import APP_ID, INSTALLATION, key_pair
    from webhook.github import GitHubClient

    app_key = key_pair()
    github_api.install_app(APP_ID, app_key[1], {REPO: INSTALLATION})
    config = _config(config, hooks=[], app_hook=True)
    missed = _push("e" * 40)
    github_api.hook_deliveries.record("app", missed, 0, time.time() - 10)
    env = Environment(
        webhook_secret=b"unused",
        github_app_id=APP_ID,
        github_app_private_key=app_key[0],
        github_api_url=github_api.url,
    )
    client = GitHubClient.from_env(env, seconds_between_writes=0)
    assert client is not None

    found = Recovery(config, store, client).round()

    assert [(r.hook_id, r.delivery) for r in found] == [(str(HOOK_ID), missed.delivery)]
    assert [c.credential for c in github_api.calls] == ["jwt", "jwt"]
    # The App hook's id came with the delivery: the receiver's mark dedupes it.
    web_env = Environment(webhook_secret=SECRET, github_api_url=github_api.url)
    assert _post(_receiver(config, web_env, store), missed) == 200


def test_the_worker_command_recovers_missed_deliveries_at_start(
    tmp_path: Path, github_api: GitHubApiServer
) -> None:
    """``webhook-deployer worker`` with ``recover_deliveries`` reads the hook at start: a
    push GitHub could not deliver becomes the app's job, marked as its delivery."""
    from tests.replicas import APP, REPO as APP_REPO, WorkerProcess, wait_for, write_config

    hook = HookDeliveries.key(APP_REPO, HOOK_ID)
    config = write_config(
        tmp_path,
        tmp_path / "origin",
        "shop",
        recover_deliveries={"hooks": [{"repo": APP_REPO, "hook_id": HOOK_ID}], "pace": 0},
    )
    payload = branch_push()
    payload.update(after="e" * 40)
    payload["repository"]["full_name"] = APP_REPO
    missed = Delivery("push", payload, SECRET)
    github_api.hook_deliveries.record(hook, missed, 0, time.time() - 5)
    env = {
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp_path / 'deployer.db'}",
        "GITHUB_TOKEN": "ghs_recovery-test-token",
        "GITHUB_API_URL": github_api.url,
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "DEPLOYER_RETRY_SECONDS": "60",
    }
    worker = WorkerProcess(tmp_path, "worker", config, env)
    store = sqlite_store(tmp_path / "deployer.db")
    try:
        jobs = wait_for("the recovered job", lambda: store.jobs_for_app(APP), 60)
        assert [(j.commit, j.delivery) for j in jobs] == [("e" * 40, missed.delivery)]
        assert store.accepted(str(HOOK_ID), [missed.delivery]) == {missed.delivery}
        assert {c.method for c in github_api.calls if "/hooks/" in c.path} == {"GET"}
    finally:
        worker.stop()
        store.close()
