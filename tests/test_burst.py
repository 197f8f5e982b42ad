"""A burst: 200 deliveries for 30 commits of one app, duplicates included, arriving
concurrently at two ``web`` processes, with two ``worker`` processes, on PostgreSQL.

Observed from the outside: the store's job records, a watcher of the app's ConfigMap in
the real cluster, and the API server's audit log (``api_audit``) for the applies.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml
from kubernetes import client

from tests import gitrepo
from tests.audit import AuditLog
from tests.conftest import SECRET
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.processes import DeployerProcess
from tests.replicas import APP, REPO, WorkerProcess, wait_for, write_config
from webhook.model import JobState
from webhook.queue import open_store

COMMITS = 30
DELIVERIES = 200


def _commit(origin: Path, n: int) -> str:
    folder = origin / "apps" / APP
    folder.mkdir(parents=True, exist_ok=True)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "release"}}
    (folder / "release.yaml").write_text(yaml.safe_dump({**body, "data": {"n": str(n)}}))
    gitrepo.git(origin, "add", "-A")
    gitrepo.git(origin, "commit", "--quiet", "-m", f"release {n}")
    return gitrepo.git(origin, "rev-parse", "HEAD")


def _push(sha: str) -> dict[str, object]:
    payload = branch_push()
    payload["after"] = sha
    payload["repository"]["full_name"] = REPO
    payload["repository"]["name"] = REPO.split("/")[1]
    payload["commits"] = [
        {**payload["commits"][0], "id": sha, "added": [], "removed": [],
         "modified": [f"apps/{APP}/release.yaml"]}
    ]  # fmt: skip
    payload["head_commit"] = payload["commits"][0]
    return payload


def test_a_burst_of_deliveries_ends_at_the_newest_commit_with_few_applies(
    tmp_path: Path,
    postgres_url: str,
    kubeconfig: Path,
    namespace: str,
    api_audit: AuditLog,
    k8s_api_client: client.ApiClient,
) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    gitrepo.git(origin, "init", "--quiet", "--initial-branch=master")
    shas = [_commit(origin, n) for n in range(1, COMMITS + 1)]
    config = write_config(tmp_path, origin, namespace)
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "DEPLOYER_DATABASE_URL": postgres_url,
        "KUBECONFIG": str(kubeconfig),
    }
    webs = []
    for name in ("web-1", "web-2"):
        (tmp_path / name).mkdir()
        web = DeployerProcess(tmp_path / name, env)
        web.config = config
        web.start()
        webs.append(web)
    workers = [WorkerProcess(tmp_path, n, config, env, lease=10) for n in ("w1", "w2")]
    seen: list[int] = []
    troubles: list[str] = []  # what the watcher could not read (a 404 before the first apply)
    watching = threading.Event()

    def watch() -> None:
        # Any failed read is noted and retried: a loaded machine resets connections now and
        # then, and a watcher thread that died of it would look like a deployer that stopped.
        core = client.CoreV1Api(k8s_api_client)
        while not watching.is_set():
            try:
                read = core.read_namespaced_config_map("release", namespace, _request_timeout=10)
                n = int((read.data or {})["n"])
                if not seen or seen[-1] != n:
                    seen.append(n)
            except Exception as error:  # noted above, never fatal to the watch
                troubles.append(type(error).__name__)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    mark = api_audit.mark()
    store = open_store(postgres_url)
    try:
        watcher.start()
        # Per commit: a first delivery, a redelivery of it, and deliveries of earlier ones.
        per_commit = [[Delivery("push", _push(sha), SECRET)] for sha in shas]
        batches = []
        sent = 0
        for n, (first,) in enumerate(per_commit):
            batch = [first, first]
            extra = DELIVERIES // COMMITS - 2 + (n < DELIVERIES % COMMITS)
            batch += [per_commit[max(0, n - k - 1)][0] for k in range(extra)]
            sent += len(batch)
            batches.append(batch)
        assert sent == DELIVERIES
        answers: list[int] = []
        with ThreadPoolExecutor(8) as pool:
            for batch in batches:  # GitHub sends a branch's pushes in order, each at once
                time.sleep(0.02)  # GitHub sends a branch's pushes a moment apart
                answers += list(
                    pool.map(
                        lambda pair: (
                            requests.post(
                                f"{webs[pair[0] % 2].url}/webhooks/github",
                                data=pair[1].body,
                                headers=pair[1].headers(),
                                timeout=10,
                            ).status_code
                        ),
                        enumerate(batch),
                    )
                )
        assert answers.count(202) == COMMITS and set(answers) == {200, 202}

        def settled() -> bool:
            jobs = store.jobs_for_app(APP, limit=500)
            return bool(jobs) and all(j.state.final for j in jobs)

        wait_for("every job to end", settled, 180)
        jobs = sorted(store.jobs_for_app(APP, limit=500), key=lambda j: j.id)
        assert [j.commit for j in jobs] == shas  # one job per commit, in push order
        assert jobs[-1].state is JobState.SUCCEEDED, jobs[-1].message
        assert all(j.state.final for j in jobs)
        ran = [j for j in jobs if j.started_at is not None]
        spans = sorted((j.started_at or 0.0, j.finished_at or 0.0) for j in ran)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
        finished = [jobs.index(j) for j in sorted(ran, key=lambda j: j.finished_at or 0.0)]
        assert finished == sorted(finished)  # never an older commit after a newer one
        # The newest apply came before its job ended; give the watcher's poll a moment to
        # catch up with it (its read may have been in flight then).
        wait_for(
            f"the watcher to see the newest commit (saw {seen}, {len(troubles)} failed reads)",
            lambda: watcher.is_alive() and seen and seen[-1] == COMMITS,
            20,
        )
        watching.set()
        watcher.join(5)
        assert seen == sorted(seen), seen
        applies = [
            r
            for r in api_audit.since(mark)
            if r.write and r.resource == "configmaps" and r.name == "release"
        ]
        # One apply per job that ran; supersession skips every commit a newer one overtook
        # while it waited. How many ran depends on how long a sync takes against the 0.02 s
        # between pushes: never one per commit.
        bound = COMMITS // 2
        assert len(applies) == len(ran) and 1 <= len(applies) <= bound, f"{len(applies)} applies"
    finally:
        watching.set()
        store.close()
        for worker in workers:
            worker.stop()
        for web in webs:
            web.stop()
