"""Outages of a dependency, with a real worker process: retried with a growing pause,
reported as ``error`` while they last, ``success`` (or one clear failure) after. (A commit
missing from its remote: tests/test_faults_sources.py.)

The statuses are read from the local GitHub server (tests/github/api_server.py) the
worker's reporter posts to; the cluster is the suite's real API server.
"""

from __future__ import annotations

from pathlib import Path

from tests import gitrepo
from tests.github.api_server import GitHubApiServer
from tests.relay import Relay
from tests.replicas import (
    APP,
    REPO,
    WorkerProcess,
    error_then_one_success,
    job_of,
    kubeconfig_via,
    origin_with_app,
    push,
    retry_delays,
    server_port,
    wait_for,
    write_config,
)
from webhook.model import JobState
from webhook.queue import sqlite_store

CONTEXT = f"deploy/{APP}"


def _env(tmp: Path, github_api: GitHubApiServer, kubeconfig: Path) -> dict[str, str]:
    return {
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp / 'deployer.db'}",
        "KUBECONFIG": str(kubeconfig),
        "GITHUB_TOKEN": "ghs_outage-test-token",
        "GITHUB_API_URL": github_api.url,
        "DEPLOYER_RETRY_SECONDS": "0.5",
        "DEPLOYER_RETRY_MAX_SECONDS": "2",
    }


def _final(github_api: GitHubApiServer, sha: str) -> bool:
    """Whether GitHub shows a status other than ``pending`` for ``sha`` (the ``error`` of
    a retry counts only once the job is final: the caller has waited for that)."""
    status = github_api.last_status(REPO, sha, CONTEXT)
    return (
        status is not None
        and status["state"] != "pending"
        and ("gave up" in status["description"] or status["state"] != "error")
    )


def test_the_api_server_unreachable_during_a_sync_is_retried_then_succeeds(
    tmp_path: Path, kubeconfig: Path, namespace: str, github_api: GitHubApiServer
) -> None:
    """The API server goes away as the sync starts (a relay in front of it is cut: a
    stopped server, as the worker sees it; the suite's shared control plane itself cannot
    be stopped), and comes back after three attempts: the job runs again after 0.5, 1, 2 s
    pauses (capped at 2), GitHub shows ``error`` meanwhile and ``success`` at the end."""
    origin = tmp_path / "origin"
    sha = origin_with_app(origin, namespace, "v1")
    config = write_config(tmp_path, origin, namespace)
    kube = Relay(("127.0.0.1", server_port(kubeconfig)))
    kube.cut()
    via = kubeconfig_via(kubeconfig, kube.port, tmp_path / "kubeconfig-relay")
    store = sqlite_store(tmp_path / "deployer.db")
    worker = WorkerProcess(tmp_path, "worker", config, _env(tmp_path, github_api, via))
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for("three failed attempts", lambda: len(retry_delays(worker.log())) >= 3, 60)
        waiting = job_of(store, job_id)
        assert waiting.state is JobState.QUEUED and waiting.message.startswith("infrastructure:")
        kube.restore()
        done = wait_for("the job to finish", lambda: job_of(store, job_id).state.final and True)
        job = job_of(store, job_id)
        assert done and job.state is JobState.SUCCEEDED, job.message
        assert job.attempts >= 4
        assert retry_delays(worker.log())[:3] == [0.5, 1.0, 2.0]
        assert all(d <= 2.0 for d in retry_delays(worker.log()))
        error_then_one_success(github_api, REPO, sha, CONTEXT)
    finally:
        worker.stop()
        kube.close()
        store.close()


def test_an_unreachable_git_remote_is_retried_then_fails_clearly(
    tmp_path: Path, kubeconfig: Path, namespace: str, github_api: GitHubApiServer
) -> None:
    """The app's git remote does not answer: the job is run eight times, with pauses
    capped at 2 s, then fails for good with the reason and the count, reported as
    ``error`` once at the end, and nothing is applied."""
    config = write_config(tmp_path, tmp_path / "gone", namespace)
    store = sqlite_store(tmp_path / "deployer.db")
    env = {**_env(tmp_path, github_api, kubeconfig), "DEPLOYER_RETRY_SECONDS": "0.05"}
    env["DEPLOYER_RETRY_MAX_SECONDS"] = "0.2"
    worker = WorkerProcess(tmp_path, "worker", config, env)
    sha = "c0ffee" + "0" * 34
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for("the job to give up", lambda: job_of(store, job_id).state.final, 90)
        job = job_of(store, job_id)
        assert job.state is JobState.FAILED and job.attempts == 8
        assert job.message.startswith("infrastructure: gave up after 8 attempts: file://")
        assert "git fetch failed" in job.message
        assert retry_delays(worker.log()) == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2]
        wait_for("the final status", lambda: _final(github_api, sha))
        final = github_api.last_status(REPO, sha, CONTEXT)
        assert final is not None and final["state"] == "error"
        assert "gave up after 8 attempts" in final["description"]
    finally:
        worker.stop()
        store.close()


def test_github_answering_5xx_429_and_403_delays_every_report_and_doubles_none(
    tmp_path: Path, kubeconfig: Path, namespace: str, github_api: GitHubApiServer
) -> None:
    """GitHub refuses the reporter's requests for a while: a 502 *after* doing the write
    (the lost answer that tempts a client to write twice), then 429s and rate-limit 403s
    with ``Retry-After``. Every job's reports still arrive, each once, and each commit ends
    with its final status. (Longer 5xx outages wait the reporter's doubling backoff, 5 s
    to 600 s, which is tested with a clock in tests/test_reporter.py.)"""
    origin = tmp_path / "origin"
    origin_with_app(origin, namespace, "v1")
    config = write_config(tmp_path, origin, namespace)
    github_api.fail_next(1, status=502, after_apply=True)
    github_api.fail_next(2, status=429, headers={"Retry-After": "1"})
    github_api.fail_next(2, status=403, headers={"Retry-After": "1"})
    store = sqlite_store(tmp_path / "deployer.db")
    worker = WorkerProcess(tmp_path, "worker", config, _env(tmp_path, github_api, kubeconfig))
    # Commits of a broken manifest: each job fails at once (a missing commit would be
    # retried; YAML that does not look like a manifest is skipped, as Argo CD skips it).
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n# {n}\n"
    shas = [
        gitrepo.commit(origin, {f"apps/{APP}/broken.yaml": broken.format(n=n)}, f"broken {n}")
        for n in range(3)
    ]
    try:
        for sha in shas:
            store.enqueue([push(sha)])
        for sha in shas:
            wait_for(f"the final status of {sha[:7]}", lambda s=sha: _final(github_api, s), 60)
        refused = sorted({c.status for c in github_api.calls if c.status >= 400})
        assert refused == [403, 429, 502]
        for sha in shas:
            posted = [
                (s["state"], s["description"])
                for s in github_api.statuses.get((REPO.lower(), sha), [])
            ]
            assert len(posted) == len(set(posted)), f"a report was doubled: {posted}"
            # A superseded job's states are coalesced into its last one: never lost, never
            # contradicted by a stale "pending" posted after it.
            assert posted and posted[-1][0] in ("success", "failure")
        assert github_api.last_status(REPO, shas[-1], CONTEXT)["state"] == "failure"  # type: ignore[index]
    finally:
        worker.stop()
        store.close()
