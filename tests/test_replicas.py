"""Replicas on one PostgreSQL store: chores run once across them, a lost lease writes nothing.

The fault tests run ``webhook-deployer worker`` processes against the real PostgreSQL and
the real API server of the suite; what one worker would have written after losing its
lease is read from the API server's audit log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.audit import AuditLog
from tests.pipeline import Clock
from tests.relay import Relay
from tests.replicas import (
    OBJECTS,
    WorkerProcess,
    final_reports,
    first_write_after,
    kubeconfig_via,
    origin_with_app,
    postgres_socket,
    postgres_via,
    push,
    server_port,
    wait_for,
    write_config,
)
from webhook.drift import DriftPoller
from webhook.model import JobState
from webhook.queue import SqlStore, open_store
from webhook.settings import AppConfig, DeployerConfig


class Probe:
    """Drift's view of git and the cluster, counting how often it is asked: the branch head
    never moves and the cluster never drifts (git and Kubernetes are not what this tests)."""

    def __init__(self) -> None:
        self.heads = 0

    def head(self, app: AppConfig) -> str:
        self.heads += 1
        return "f" * 40

    def live_drift(self, app: AppConfig, revision: str) -> bool:
        return False


@pytest.fixture
def stores(postgres_url: str) -> Iterator[tuple[SqlStore, SqlStore]]:
    """Two replicas' own connections to one database."""
    one, two = open_store(postgres_url), open_store(postgres_url)
    yield one, two
    one.close()
    two.close()


def test_drift_runs_once_per_interval_across_replicas(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    """Two replicas wake every interval, out of phase; over ten intervals there are ten
    rounds, not twenty, and each interval has one."""
    interval = 60.0
    config = DeployerConfig.model_validate(
        {"apps": [{"name": "a", "repo": "o/r", "branch": "main", "path": "a", "namespace": "a"}]}
    )
    clock = Clock(1_000_000.0)
    probes = [Probe(), Probe()]
    pollers = [
        DriftPoller(config, store, probe, interval, owner=f"replica-{n}")
        for n, (store, probe) in enumerate(zip(stores, probes, strict=True))
    ]
    for poller in pollers:
        poller.leases.clock = clock
    rounds_per_interval = []
    for tick in range(10):
        ran = 0
        for phase, poller in ((0.0, pollers[0]), (0.37, pollers[1])):
            clock.now = 1_000_000.0 + (tick + phase) * interval
            ran += poller.turn() is not None
        rounds_per_interval.append(ran)
    assert rounds_per_interval == [1] * 10
    assert sum(p.heads for p in probes) == 10


@pytest.fixture
def replica_setup(
    tmp_path: Path, postgres_url: str, kubeconfig: Path, namespace: str
) -> Iterator[tuple[Path, SqlStore, str]]:
    """The app's origin at one commit, its config, and the shared store: (config, store, sha)."""
    origin = tmp_path / "origin"
    sha = origin_with_app(origin, namespace, "v1")
    config = write_config(tmp_path, origin, namespace)
    store = open_store(postgres_url)
    yield config, store, sha
    store.close()


def _versions(api: client.ApiClient, namespace: str) -> dict[str, str]:
    maps = client.CoreV1Api(api).list_namespaced_config_map(namespace).items
    return {
        m.metadata.name: (m.data or {}).get("version", "")
        for m in maps
        if m.metadata.name.startswith("cm-")
    }


def test_a_worker_cut_off_from_its_store_never_applies_after_losing_its_lease(
    tmp_path: Path,
    replica_setup: tuple[Path, SqlStore, str],
    postgres_url: str,
    kubeconfig: Path,
    namespace: str,
    api_audit: AuditLog,
    k8s_api_client: client.ApiClient,
) -> None:
    """Worker A claims the job; its link to the API server stalls and its link to
    PostgreSQL is cut, so its lease lapses and worker B runs the job to the end, then the
    next commit's job. When A's API server link comes back, its sync goes on, and the fence
    (the lease checked before each apply tier) stops it before any write: without it, A
    would put the older commit back. The audit log shows no write after B finished, the
    cluster stays at the newer commit, and GitHub is told one final state per job."""
    config, store, sha = replica_setup
    origin = tmp_path / "origin"
    pg = Relay(postgres_socket(postgres_url))
    kube = Relay(("127.0.0.1", server_port(kubeconfig)))
    kube.hold()
    a_env = {
        "DEPLOYER_DATABASE_URL": postgres_via(postgres_url, pg.port),
        "KUBECONFIG": str(kubeconfig_via(kubeconfig, kube.port, tmp_path / "kubeconfig-a")),
    }
    b_env = {"DEPLOYER_DATABASE_URL": postgres_url, "KUBECONFIG": str(kubeconfig)}
    a = WorkerProcess(tmp_path, "a", config, a_env)
    b: WorkerProcess | None = None
    try:
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        wait_for("A's claim", lambda: a.owns(_owner(store, job_id)))
        time.sleep(0.5)  # A is in its sync now, waiting on the API server
        pg.cut()
        b = WorkerProcess(tmp_path, "b", config, b_env)
        done = wait_for(
            "B to finish the job",
            lambda: (j := store.get(job_id)) is not None and j.state.final and j,
        )
        assert done.state is JobState.SUCCEEDED, done.message
        assert done.attempts == 2
        newer = store.enqueue([push(origin_with_app(origin, namespace, "v2"))]).jobs[0].job.id
        wait_for("B to deploy the newer commit", lambda: _state(store, newer).final)
        assert _state(store, newer) is JobState.SUCCEEDED
        mark = api_audit.mark()
        kube.release()
        # A's attempt ends: stopped by the fence, or (were there none) after writing, when
        # it fails to record its result in the store it cannot reach.
        ends = ("stopped: job", "worker loop error", "result is dropped")
        wait_for("A's attempt to end", lambda: any(end in a.log() for end in ends))
        pg.restore()
        writes = [r for r in api_audit.since(mark) if r.write]
        assert writes == [], f"A wrote {len(writes)} times after losing its lease: {writes[:3]}"
        assert final_reports(store, job_id) == ["succeeded"]
        assert set(_versions(k8s_api_client, namespace).values()) == {"v2"}
        assert len(_versions(k8s_api_client, namespace)) == OBJECTS
        assert store.get(job_id) == done  # A recorded nothing
        assert "lease not renewed in time before namespaces" in a.log()
    finally:
        for worker in (a, b):
            if worker is not None:
                worker.stop()
        pg.close()
        kube.close()


def test_a_worker_killed_mid_apply_is_finished_by_the_other(
    tmp_path: Path,
    replica_setup: tuple[Path, SqlStore, str],
    postgres_url: str,
    kubeconfig: Path,
    namespace: str,
    api_audit: AuditLog,
    k8s_api_client: client.ApiClient,
) -> None:
    """Two workers; the one that claimed the job is killed with SIGKILL as soon as the audit
    log shows its first write; the other takes the job over when the lease lapses, the
    cluster ends at the job's commit, and one final state is reported."""
    config, store, sha = replica_setup
    env = {"DEPLOYER_DATABASE_URL": postgres_url, "KUBECONFIG": str(kubeconfig)}
    workers = [WorkerProcess(tmp_path, name, config, env) for name in ("a", "b")]
    try:
        mark = api_audit.mark()
        job_id = store.enqueue([push(sha)]).jobs[0].job.id
        owner = wait_for("a claim", lambda: _owner(store, job_id))
        wait_for("the first write", lambda: first_write_after(api_audit.path, mark), 60)
        doomed = next(w for w in workers if w.owns(owner))
        doomed.kill9()
        killed_at = _versions(k8s_api_client, namespace)
        done = wait_for(
            "the other worker to finish",
            lambda: (j := store.get(job_id)) is not None and j.state.final and j,
        )
        assert done.state is JobState.SUCCEEDED, done.message
        assert done.attempts == 2 and not doomed.owns(done.lease_owner)
        assert len(killed_at) < OBJECTS, "the kill came after the whole apply"
        versions = _versions(k8s_api_client, namespace)
        assert len(versions) == OBJECTS and set(versions.values()) == {"v1"}
        assert final_reports(store, job_id) == ["succeeded"]
    finally:
        for worker in workers:
            worker.stop()


def _state(store: SqlStore, job_id: int) -> JobState:
    job = store.get(job_id)
    assert job is not None
    return job.state


def _owner(store: SqlStore, job_id: int) -> str | None:
    job = store.get(job_id)
    return job.lease_owner if job is not None else None
