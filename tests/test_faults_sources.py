"""A commit its remote does not hold (yet), with a real worker process and real git over
HTTPS: retried with the doubling pause an unreachable remote gets, reported ``error``
while it waits, then deployed when the commit arrives, or one clear ``failure`` naming the
commit and the remote when it never does. Content that is wrong still fails at once.

The remote is git's own smart-HTTP server behind TLS and basic auth (tests/git_https.py),
which records every request: each ``git fetch`` starts with one ``GET .../info/refs``, so
the fetches the worker made are counted from what the server saw. Statuses are read from
the local GitHub server; the cluster is the suite's real API server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.git_https import GitHttpsServer, self_signed
from tests.github.api_server import GitHubApiServer
from tests.gitrepo import commit, git, init
from tests.replicas import (
    APP,
    REPO,
    WorkerProcess,
    error_then_one_success,
    job_of,
    push,
    retry_delays,
    wait_for,
)
from webhook.model import JobState
from webhook.queue import sqlite_store

CONTEXT = f"deploy/{APP}"
TOKEN = "ghs_missing-commit-token-5678"


class Remote:
    """A working repository and the bare one the HTTPS server serves; commits are made in
    the first and reach the remote only when ``publish`` pushes them."""

    def __init__(self, tmp: Path) -> None:
        self.work = init(tmp / "work", branch="master")
        self.bare = tmp / "served" / "replicas.git"
        git(tmp, "init", "--quiet", "--bare", str(self.bare))
        cert, key = self_signed(tmp)
        self.cert = cert
        self.server = GitHttpsServer(tmp / "served", cert, key, accepts={TOKEN}.__contains__)
        self.url = f"{self.server.url}/replicas.git"

    def commit(self, namespace: str, version: str) -> str:
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"version": version},
        }
        return commit(self.work, {f"apps/{APP}/cm.yaml": yaml.safe_dump(cm)}, version)

    def publish(self) -> None:
        git(self.work, "push", "--quiet", str(self.bare), "master")

    def fetches(self) -> int:
        """``git fetch`` runs the server saw (each starts with one ref advertisement)."""
        return sum(
            1
            for method, path, status, _ in self.server.seen
            if method == "GET" and path.endswith("/info/refs") and status == 200
        )


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    served = Remote(tmp_path)
    yield served
    served.server.close()


def _worker(
    tmp: Path, remote: Remote, kube: tuple[Path, str], github_api: GitHubApiServer, retry: str
) -> WorkerProcess:
    """A worker for the app in ``kube`` (kubeconfig, namespace); ``retry``: its first pause
    and cap, as ``DEPLOYER_RETRY_SECONDS:DEPLOYER_RETRY_MAX_SECONDS``."""
    kubeconfig, namespace = kube
    first, cap = retry.split(":")
    config = tmp / "deployer.yaml"
    app = {"name": APP, "repo": REPO, "branch": "master", "path": f"apps/{APP}"}
    config.write_text(
        yaml.safe_dump(
            {
                "resync_interval": 0,
                "apps": [{**app, "namespace": namespace}],
                "repos": {REPO: {"clone_url": remote.url}},
            }
        )
    )
    env = {
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp / 'deployer.db'}",
        "GITHUB_TOKEN": TOKEN,  # the git token and the status poster's
        "GITHUB_API_URL": github_api.url,
        "GIT_SSL_CAINFO": str(remote.cert),
        "KUBECONFIG": str(kubeconfig),
        "DEPLOYER_RETRY_SECONDS": first,
        "DEPLOYER_RETRY_MAX_SECONDS": cap,
    }
    return WorkerProcess(tmp, "worker", config, env)


def test_a_commit_that_reaches_the_remote_after_the_first_attempt_is_deployed_on_a_retry(
    tmp_path: Path,
    remote: Remote,
    kubeconfig: Path,
    namespace: str,
    k8s_api_client: client.ApiClient,
    github_api: GitHubApiServer,
) -> None:
    """GitHub announced a commit the remote cannot serve yet: the first attempt finds it
    missing (two fetches: the commit, then the branches), the job waits with ``error``
    shown; once the commit is pushed the next attempt fetches it and deploys it."""
    remote.commit(namespace, "v1")
    remote.publish()
    sha = remote.commit(namespace, "v2")  # committed, not pushed yet
    store = sqlite_store(tmp_path / "deployer.db")
    worker = _worker(tmp_path, remote, (kubeconfig, namespace), github_api, "1:1")
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for("the first attempt to give way", lambda: job_of(store, job_id).retry_at, 60)
        assert remote.fetches() == 2
        waiting = job_of(store, job_id)
        assert waiting.state is JobState.QUEUED and waiting.attempts == 1
        assert waiting.message.startswith(f"source: {REPO}: commit {sha} does not exist in ")
        remote.publish()
        wait_for("the job to finish", lambda: job_of(store, job_id).state.final, 60)
        job = job_of(store, job_id)
        assert job.state is JobState.SUCCEEDED, job.message
        # Every attempt but the last fetched twice and found nothing; the last fetched once.
        assert job.attempts >= 2
        assert remote.fetches() == 2 * (job.attempts - 1) + 1
        live = client.CoreV1Api(k8s_api_client).read_namespaced_config_map("settings", namespace)
        assert live.data == {"version": "v2"}
        error_then_one_success(github_api, REPO, sha, CONTEXT)
    finally:
        worker.stop()
        store.close()


def test_a_commit_that_never_reaches_the_remote_fails_clearly_after_the_bounded_retries(
    tmp_path: Path, remote: Remote, kubeconfig: Path, namespace: str, github_api: GitHubApiServer
) -> None:
    """A commit the remote never gets (force-pushed away, or never pushed): eight attempts
    with pauses doubling to their cap, sixteen fetches seen by the server, then one
    ``failure`` naming the commit and the remote, without the token."""
    remote.commit(namespace, "v1")
    remote.publish()
    sha = "dead" + "0" * 36
    store = sqlite_store(tmp_path / "deployer.db")
    worker = _worker(tmp_path, remote, (kubeconfig, namespace), github_api, "0.05:0.2")
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for("the job to give up", lambda: job_of(store, job_id).state.final, 90)
        job = job_of(store, job_id)
        assert job.state is JobState.FAILED and job.attempts == 8
        assert remote.fetches() == 16
        assert retry_delays(worker.log()) == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2]
        assert job.message == (
            f"source: gave up after 8 attempts: {REPO}: commit {sha} does not exist in "
            f"{remote.url} (not pushed there, or removed by a force-push)"
        )
        wait_for(
            "the final status", lambda: github_api.states(REPO, sha, CONTEXT)[-1:] == ["failure"]
        )
        final = github_api.last_status(REPO, sha, CONTEXT)
        assert final is not None and "gave up after 8 attempts" in final["description"]
        assert sha[:7] in final["description"] or sha in final["description"]
        states = github_api.states(REPO, sha, CONTEXT)
        assert "error" in states and states.count("failure") == 1
        assert TOKEN not in job.message and TOKEN not in worker.log()
        assert TOKEN not in str(github_api.statuses)
    finally:
        worker.stop()
        store.close()


def test_a_commit_with_a_hostile_symlink_fails_at_once(
    tmp_path: Path, remote: Remote, kubeconfig: Path, namespace: str, github_api: GitHubApiServer
) -> None:
    """Content that is wrong is not retried: one attempt, one fetch, ``failure``."""
    (remote.work / "apps" / APP).mkdir(parents=True)
    (remote.work / "apps" / APP / "cm.yaml").symlink_to("/etc/passwd")
    git(remote.work, "add", "-A")
    git(remote.work, "commit", "--quiet", "-m", "hostile")
    sha = git(remote.work, "rev-parse", "HEAD")
    remote.publish()
    store = sqlite_store(tmp_path / "deployer.db")
    worker = _worker(tmp_path, remote, (kubeconfig, namespace), github_api, "0.05:0.2")
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for("the job to fail", lambda: job_of(store, job_id).state.final, 60)
        job = job_of(store, job_id)
        assert job.state is JobState.FAILED and job.attempts == 1, job.message
        assert "symlink to an absolute path" in job.message
        assert remote.fetches() == 1
        wait_for(
            "the final status", lambda: github_api.states(REPO, sha, CONTEXT)[-1:] == ["failure"]
        )
        assert "error" not in github_api.states(REPO, sha, CONTEXT)
    finally:
        worker.stop()
        store.close()
