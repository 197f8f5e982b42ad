"""The job steps on the real control plane: manual apps plan until approved; drift repair."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, job, live
from webhook.model import JobState
from webhook.steps import run_job

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")


# -- manual mode, diff and drift -----------------------------------------------------------


def test_manual_mode_plans_without_applying_until_approved(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"password": base64.b64encode(b"hunter2").decode()},
    }
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), secret)})
    engine = gitops.engine(auto_sync=False)
    outcome = run_job(engine, job(sha))
    assert outcome.state is JobState.OUT_OF_SYNC
    assert outcome.message == "out of sync: 2 to create, 0 to change; awaiting approval"
    assert live(dyn, "ConfigMap", "a", gitops.namespace) is None
    text = engine.diff(gitops.app, sha)
    assert f"+++ desired/ConfigMap/{gitops.namespace}/a" in text
    assert "hunter2" not in text and "aHVudGVyMg" not in text
    assert "+  password: <redacted>" in text
    approved = run_job(engine, job(sha, approved=True))
    assert approved.state is JobState.SUCCEEDED, approved.message
    assert run_job(engine, job(sha)).state is JobState.SUCCEEDED  # nothing left to do


def test_drift_is_detected_and_a_resync_repairs_it(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "desired"))})
    engine = gitops.engine()
    assert engine.sync(gitops.app, sha).ok
    assert engine.head(gitops.app) == sha
    assert engine.live_drift(gitops.app, sha) is False
    client.CoreV1Api(k8s_api_client).patch_namespaced_config_map(
        "a", gitops.namespace, {"data": {"value": "edited by hand"}}
    )
    assert engine.live_drift(gitops.app, sha) is True
    assert "edited by hand" in engine.diff(gitops.app, sha)
    result = engine.sync(gitops.app, sha)
    assert result.configured == (f"ConfigMap {gitops.namespace}/a",)
    assert live(dyn, "ConfigMap", "a", gitops.namespace)["data"] == {"value": "desired"}
