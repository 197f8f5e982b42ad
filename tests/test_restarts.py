"""Dependencies really restarted, not cut by a relay: a PostgreSQL server shut down under
load and started again on the same data directory and port, under a real ``serve``; a
kube-apiserver stopped in the middle of a worker's sync and started again.

Each test starts the server it stops (``dedicated_postgres``, ``own_api_server``), so no
other test sees the outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from kubernetes import client, config as k8s_config

from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.github.hook_deliveries import HookDeliveries
from tests.gitrepo import commit, init
from tests.plugins.cluster import ApiServer
from tests.plugins.postgres import PostgresInstance, create_database, postgres_instance
from tests.processes import DeployerProcess
from tests.replicas import (
    APP as SHOP,
    OBJECTS,
    REPO as SHOP_REPO,
    WorkerProcess,
    error_then_one_success,
    first_write_after,
    origin_with_app,
    push,
    retry_delays,
    wait_for,
    write_config,
)
from webhook.model import JobState
from webhook.queue import SqlStore, open_store, sqlite_store
from webhook.recovery import RECOVERED

REPO = "Codertocat/Hello-World"  # the example push's repository
APPS = ("web", "db")
CLIENTS, PER_CLIENT = 4, 20
HOOK_ID = "109948940"  # the hook id every test delivery carries


@pytest.fixture
def dedicated_postgres() -> Iterator[PostgresInstance]:
    """A PostgreSQL server of this test's own: stopping it disturbs no other test."""
    with postgres_instance() as instance:
        yield instance


def _origin(tmp: Path, namespace: str, count: int) -> list[str]:
    """``count`` commits, each setting both apps' ConfigMap to its number; their SHAs."""
    origin = init(tmp / "origin", branch="master")
    shas = []
    for n in range(count):
        files = {
            f"apps/{app}/cm.yaml": yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": app, "namespace": namespace},
                    "data": {"version": str(n)},
                }
            )
            for app in APPS
        }
        shas.append(commit(origin, files, f"version {n}"))
    return shas


def _config(tmp: Path, namespace: str) -> Path:
    """Both apps; missed deliveries read back from the hook every second."""
    path = tmp / "deployer.yaml"
    apps = [
        {"name": a, "repo": REPO, "branch": "master", "path": f"apps/{a}", "namespace": namespace}
        for a in APPS
    ]
    repos = {REPO: {"clone_url": f"file://{tmp / 'origin'}"}}
    hooks = [{"repo": REPO, "hook_id": int(HOOK_ID)}]
    recovery = {"hooks": hooks, "pace": 0, "interval": 1}
    config = {"resync_interval": 0, "apps": apps, "repos": repos, "recover_deliveries": recovery}
    path.write_text(yaml.safe_dump(config))
    return path


def _push(shas: list[str], n: int) -> Delivery:
    """The push of commit ``n`` (each delivery its own commit, so its own two jobs)."""
    payload = branch_push()
    payload.update(before=shas[n - 1] if n else "0" * 40, after=shas[n], created=n == 0)
    payload.update(forced=False, deleted=False)
    changed = {"added": [], "removed": [], "modified": [f"apps/{app}/cm.yaml" for app in APPS]}
    for pushed in [*payload["commits"], payload["head_commit"]]:
        pushed.update(id=shas[n], **changed)
    return Delivery("push", payload, SECRET)


def _rows(store: SqlStore) -> tuple[dict[str, str], dict[str, int]]:
    """The accepted deliveries' GUIDs with how each came (the secret that signed it, or
    ``recovered``), and the number of jobs each delivery's GUID has."""
    with store.database.read() as cur:
        cur.execute("SELECT delivery, secret FROM deliveries")
        accepted = {row["delivery"]: row["secret"] for row in cur.fetchall()}
        cur.execute("SELECT delivery, COUNT(*) AS n FROM jobs GROUP BY delivery")
        jobs = {row["delivery"]: int(row["n"]) for row in cur.fetchall()}
    return accepted, jobs


def test_postgresql_restarted_under_load_is_a_fast_503_then_everything_resumes(
    tmp_path: Path,
    dedicated_postgres: PostgresInstance,
    kubeconfig: Path,
    namespace: str,
    k8s_api_client: client.ApiClient,
    github_api: GitHubApiServer,
) -> None:
    """Four clients post pushes of 80 commits to a real ``serve`` (web and worker) on a
    PostgreSQL server of its own. After 20 answers the server is shut down
    (``pg_ctl stop -m fast``: connections terminated, the postmaster gone); once 8
    deliveries were refused the clients pause, it is started again on the same data
    directory and port, and they go on. While it is down every
    answer is a 503 with ``Retry-After``; no delivery is half-written (a 202 has both its
    jobs, a 503 left nothing); afterwards deliveries are accepted again, the refused ones
    are recovered from GitHub's deliveries API (the local GitHub server records each
    attempt and its answer) and a later "Redeliver" of one is a duplicate, the worker
    resumes, every job ends, and a last push deploys the newest commit."""
    shas = _origin(tmp_path, namespace, CLIENTS * PER_CLIENT + 1)  # the last one: at the end
    url = create_database(dedicated_postgres.server)
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "DEPLOYER_DATABASE_URL": url,
        "KUBECONFIG": str(kubeconfig),
        "DEPLOYER_LEASE_SECONDS": "3",
        "DEPLOYER_RETRY_SECONDS": "0.2",
        "DEPLOYER_RETRY_MAX_SECONDS": "1",
        "GITHUB_TOKEN": "ghs_restart-test-token",
        "GITHUB_API_URL": github_api.url,
    }
    hook = HookDeliveries.key(REPO, int(HOOK_ID))
    serve = DeployerProcess(tmp_path, env, command="serve")
    serve.config = _config(tmp_path, namespace)
    serve.start()
    answers: dict[str, tuple[int, float, str | None]] = {}
    sent: dict[str, Delivery] = {}
    lock = threading.Lock()
    counted = threading.Semaphore(0)  # one per answer
    down, up_again = threading.Event(), threading.Event()
    gate = threading.Event()  # cleared: clients wait (while the server is being started)
    gate.set()
    during: list[str] = []  # sent and answered while the server was down
    after: list[str] = []  # sent once it was up again

    def post(client_no: int) -> None:
        for i in range(PER_CLIENT):
            delivery = _push(shas, i * CLIENTS + client_no)  # roughly in commit order
            gate.wait()
            was_down, was_up_again = down.is_set(), up_again.is_set()
            start = time.monotonic()
            answer = requests.post(
                f"{serve.url}/webhooks/github",
                data=delivery.body,
                headers=delivery.headers(),
                timeout=10,  # GitHub's own limit: a slower answer fails the test
            )
            with lock:
                answers[delivery.delivery] = (
                    answer.status_code,
                    time.monotonic() - start,
                    answer.headers.get("Retry-After"),
                )
                sent[delivery.delivery] = delivery
                if was_down and down.is_set():
                    during.append(delivery.delivery)
                if was_up_again:
                    after.append(delivery.delivery)
            github_api.hook_deliveries.record(hook, delivery, answer.status_code, time.time())
            counted.release()

    threads = [threading.Thread(target=post, args=(c,)) for c in range(CLIENTS)]
    store: SqlStore | None = None
    try:
        for thread in threads:
            thread.start()
        for _ in range(20):
            counted.acquire()
        dedicated_postgres.stop("fast")
        down.set()
        wait_for("8 deliveries refused while down", lambda: len(during) >= 8, 60)
        gate.clear()  # the rest come once the server is back
        dedicated_postgres.start()
        down.clear()
        up_again.set()
        gate.set()
        for thread in threads:
            thread.join()

        codes = {code for code, _, _ in answers.values()}
        assert codes <= {202, 503}, answers
        assert during, "no delivery was sent while PostgreSQL was down"
        for guid in during:
            code, _, retry_after = answers[guid]
            assert code == 503 and retry_after is not None, answers[guid]
        assert after and all(answers[g][0] == 202 for g in after)  # accepted again
        store = open_store(url)
        accepted, jobs = _rows(store)
        # A 202 has its delivery mark and both jobs; a 503 left nothing, unless recovery
        # has already taken it (its mark says so).
        for guid, (code, _, _) in answers.items():
            if code == 202:
                assert accepted.get(guid) == "current" and jobs.get(guid) == 2, guid
            else:
                assert accepted.get(guid, RECOVERED) == RECOVERED, guid
                assert jobs.get(guid, 0) in ((0, 2) if guid in accepted else (0,)), guid
        # Recovery reads the hook's deliveries and takes each refused one, once: with its two
        # jobs, or none when a later job of the app makes it stale (an older commit never
        # follows a newer one).
        refused = [g for g, (code, _, _) in answers.items() if code == 503]
        try:
            wait_for(
                "every refused delivery to be recovered",
                lambda: store.accepted(HOOK_ID, refused) == set(refused),  # type: ignore[union-attr]
                60,
            )
        except AssertionError as late:  # say what serve was doing
            raise AssertionError(f"{late}; serve's log ends:\n{serve.log()[-3000:]}") from None
        accepted, jobs = _rows(store)
        assert set(accepted) == set(answers)
        assert all(accepted[g] == RECOVERED for g in refused)
        assert all(jobs.get(g, 0) in (0, 2) for g in refused)
        d = sent[refused[0]]
        again = requests.post(
            f"{serve.url}/webhooks/github", data=d.body, headers=d.headers(), timeout=10
        )
        assert again.status_code == 200 and again.json()["duplicate"] is True
        newest = _push(shas, len(shas) - 1)
        last = requests.post(
            f"{serve.url}/webhooks/github",
            data=newest.body,
            headers=newest.headers(),
            timeout=10,
        )
        assert last.status_code == 202, last.text

        # The worker resumed: every job ends, the newest commit deployed last.
        def all_final() -> bool:
            assert store is not None
            return all(job.state.final for app in APPS for job in store.jobs_for_app(app))

        wait_for("every job to end", all_final, 120)
        for app in APPS:
            latest = max(store.jobs_for_app(app), key=lambda job: job.id)
            assert latest.commit == shas[-1]
            assert latest.state is JobState.SUCCEEDED, latest.message
            live = client.CoreV1Api(k8s_api_client).read_namespaced_config_map(app, namespace)
            assert live.data == {"version": str(len(shas) - 1)}
        recovered = sum(1 for g in refused if jobs.get(g, 0) == 2)
        print(f"recovered {len(refused)} refused deliveries, {recovered} of them with jobs")
        assert serve.stop() == 0
        refused = [seconds for code, seconds, _ in answers.values() if code == 503]
        late = sum(1 for g in after if answers[g][0] == 503)
        print(
            f"503s: {len(refused)} ({len(during)} sent while down, slowest {max(refused):.2f}s);"
            f" after the restart {len(after) - late} of {len(after)} accepted"
        )
    finally:
        if store is not None:
            store.close()
        if serve.proc is not None and serve.proc.poll() is None:
            serve.kill9()


def test_the_api_server_stopped_during_a_sync_and_started_again(
    tmp_path: Path, own_api_server: ApiServer, github_api: GitHubApiServer
) -> None:
    """A kube-apiserver of the test's own is stopped (SIGTERM; the process exits, its port
    refuses connections) at the worker's first write of an 80-object sync, and started
    again with the same flags after three failed attempts. The job runs again after pauses
    of 1, 2, 4 s (doubling, capped at 8), GitHub shows ``error`` meanwhile, then one
    ``success``; every object ends at the job's commit."""
    namespace = "restarted"
    api = client.ApiClient(_configuration(own_api_server.kubeconfig))
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    origin = tmp_path / "origin"
    sha = origin_with_app(origin, namespace, "v1")
    config = write_config(tmp_path, origin, namespace)
    store = sqlite_store(tmp_path / "deployer.db")
    env = {
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp_path / 'deployer.db'}",
        "KUBECONFIG": str(own_api_server.kubeconfig),
        "GITHUB_TOKEN": "ghs_restart-test-token",
        "GITHUB_API_URL": github_api.url,
        "DEPLOYER_RETRY_SECONDS": "1",
        "DEPLOYER_RETRY_MAX_SECONDS": "8",
    }
    mark = own_api_server.audit_log.stat().st_size
    worker = WorkerProcess(tmp_path, "worker", config, env)
    context = f"deploy/{SHOP}"
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for(
            "the sync's first write", lambda: first_write_after(own_api_server.audit_log, mark)
        )
        own_api_server.stop()
        wait_for("three failed attempts", lambda: len(retry_delays(worker.log())) >= 3, 60)
        waiting = store.get(job_id)
        assert waiting is not None and waiting.state is JobState.QUEUED
        assert waiting.message.startswith("infrastructure:"), waiting.message
        restart = own_api_server.start()
        wait_for("the job to end", lambda: store.get(job_id).state.final, 120)  # type: ignore[union-attr]
        job = store.get(job_id)
        assert job is not None and job.state is JobState.SUCCEEDED, job.message
        delays = retry_delays(worker.log())
        assert job.attempts == len(delays) + 1 >= 4
        assert delays[:3] == [1.0, 2.0, 4.0] and max(delays) <= 8.0
        items = core.list_namespaced_config_map(namespace).items
        versions = [cm.data["version"] for cm in items if cm.metadata.name.startswith("cm-")]
        assert versions == ["v1"] * OBJECTS
        error_then_one_success(github_api, SHOP_REPO, sha, context)
        print(f"restart {restart:.1f}s, attempts {job.attempts}, pauses {delays}")
    finally:
        worker.stop()
        store.close()
        api.close()


def _configuration(kubeconfig: Path) -> client.Configuration:
    configuration = client.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return configuration
