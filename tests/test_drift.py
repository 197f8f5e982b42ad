"""Drift polling through the queue and worker, on the real control plane with real git repos."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from tests.gitops import GitOps, cm, dump
from webhook.drift import DriftPoller
from webhook.model import JobState, Trigger
from webhook.queue import sqlite_store
from webhook.steps import run_job
from webhook.worker import Worker


def test_drift_finds_a_lost_delivery_and_a_hand_edit_and_the_worker_repairs_both(
    gitops: GitOps, tmp_path: Path, k8s_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    ns = gitops.namespace
    first = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})
    engine = gitops.engine()
    store = sqlite_store(tmp_path / "q.db")
    poller = DriftPoller(engine.config, store, engine, interval=300)
    worker = Worker(store, lambda job: run_job(engine, job))

    # No job has ever run: the head commit is queued as drift (a delivery that never came).
    [request] = poller.check_all()
    assert (request.commit, request.trigger) == (first, Trigger.DRIFT)
    done = worker.run_once()
    assert done is not None and done.state is JobState.SUCCEEDED, done
    assert poller.check_all() == []  # git and cluster agree with the record

    # Someone edits the object by hand: drift, repaired by the next job.
    core.patch_namespaced_config_map("settings", ns, {"data": {"value": "hacked"}})
    [repair] = poller.check_all()
    assert repair.commit == first
    assert worker.run_once().state is JobState.SUCCEEDED  # type: ignore[union-attr]
    assert core.read_namespaced_config_map("settings", ns).data == {"value": "v1"}

    # A commit lands without a delivery: the new head is queued.
    second = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v2"))})
    [catch_up] = poller.check_all()
    assert catch_up.commit == second
    worker.run_once()
    assert core.read_namespaced_config_map("settings", ns).data == {"value": "v2"}
    store.close()


def test_drift_of_a_manual_app_is_reported_not_repaired(
    gitops: GitOps, tmp_path: Path, k8s_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    ns = gitops.namespace
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})
    assert gitops.sync(sha).ok
    engine = gitops.engine(auto_sync=False)
    store = sqlite_store(tmp_path / "q.db")
    poller = DriftPoller(engine.config, store, engine, interval=300)
    worker = Worker(store, lambda job: run_job(engine, job))
    poller.check_all()
    assert worker.run_once().state is JobState.SUCCEEDED  # type: ignore[union-attr]
    core.patch_namespaced_config_map("settings", ns, {"data": {"value": "hacked"}})
    poller.check_all()
    job = worker.run_once()
    assert job is not None and job.state is JobState.OUT_OF_SYNC
    assert "1 to change" in job.message and "awaiting approval" in job.message
    assert core.read_namespaced_config_map("settings", ns).data == {"value": "hacked"}
    assert poller.check_all() == []  # reported once; waits for approval
    store.close()


def test_one_ls_remote_per_repo_and_branch_per_round(tmp_path: Path) -> None:
    """Drift rounds over many apps of one repo ask git for the branch head once."""
    from webhook.settings import AppConfig, DeployerConfig

    apps = tuple(
        AppConfig(name=f"app-{i}", repo="acme/gitops", path=f"apps/{i}", namespace="ns")
        for i in range(50)
    )
    config = DeployerConfig(apps=apps)

    class CountingProbe:
        def __init__(self) -> None:
            self.heads = 0

        def head(self, app: AppConfig) -> str:
            self.heads += 1
            return "a" * 40

        def live_drift(self, app: AppConfig, revision: str) -> bool:
            return False

    probe = CountingProbe()
    store = sqlite_store(tmp_path / "q.db")
    requests = DriftPoller(config, store, probe, interval=300).check_all()
    assert len(requests) == 50 and probe.heads == 1
    store.close()
