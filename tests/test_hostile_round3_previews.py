"""Round 3 of the attacker's review: what a pull request's preview lets its author read of
the cluster. An app with ``adopt: true`` takes over objects nobody applied; a PR naming one
got a preview diff of its whole live state (the dry run keeps the fields others set): any
ConfigMap or custom resource of the app's namespaces, read by someone who may only open a
pull request. On the real control plane."""

from __future__ import annotations

from kubernetes import client as k8s

from tests.gitops import GitOps, cm, dump
from tests.test_preview import preview_job
from webhook.model import JobState
from webhook.steps import run_job

LIVE = "live-only-value-7c1e"


def unowned(core: k8s.CoreV1Api, namespace: str) -> None:
    """Someone else's ConfigMap, created by hand: no app applied it."""
    core.create_namespaced_config_map(
        namespace,
        k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="cluster-creds"), data={"token": LIVE}),
    )


def test_a_preview_shows_no_live_state_of_an_object_nobody_applied(
    gitops: GitOps, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    core = k8s.CoreV1Api(k8s_api_client)
    unowned(core, namespace)
    assert gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(cm("a"))}), adopt=True).ok
    named = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-creds"}}
    head = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), named)})
    outcome = run_job(gitops.engine(adopt=True), preview_job(head))
    assert (outcome.state, outcome.message) == (
        JobState.SUCCEEDED,
        "0 to create, 1 to change, 0 to delete",
    )
    diff = outcome.result["diff"]
    assert LIVE not in diff and "token" not in diff
    assert "cluster-creds" in diff and "+kind: ConfigMap" in diff
    assert core.read_namespaced_config_map("cluster-creds", namespace).data == {"token": LIVE}


def test_the_apps_own_objects_still_diff_against_their_live_state(gitops: GitOps) -> None:
    first = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "1"))})
    assert gitops.sync(first, adopt=True).ok
    head = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "2"))})
    diff = run_job(gitops.engine(adopt=True), preview_job(head)).result["diff"]
    assert "-  value: '1'\n+  value: '2'\n" in diff
