"""Syncs that must apply nothing: guard and dry-run refusals, RBAC, an unreachable cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, job, live, service, sync_on_a_dead_cluster
from webhook.kube.applyset import NAMESPACES
from webhook.model import JobState
from webhook.steps import run_job

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")


# -- refusals: nothing is applied ----------------------------------------------------------


def test_an_object_in_a_forbidden_namespace_fails_the_sync_and_nothing_is_applied(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    sha = gitops.commit(
        {"apps/shop/app.yaml": dump(cm("fine"), cm("sneaky", namespace="kube-system"))}
    )
    result = gitops.sync(sha)
    assert result.error_kind == "guard"
    assert "ConfigMap sneaky: namespace 'kube-system' is not allowed" in (result.error or "")
    assert live(dyn, "ConfigMap", "fine", gitops.namespace) is None
    assert live(dyn, "ConfigMap", "sneaky", "kube-system") is None


def test_an_object_the_server_rejects_in_dry_run_means_nothing_is_applied(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    bad = service("bad")
    bad["spec"]["ports"][0]["port"] = 70000
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("fine"), bad)})
    result = gitops.sync(sha)
    assert result.error_kind == "dry-run"
    assert [f.object for f in result.failed] == [f"Service {gitops.namespace}/bad"]
    assert "bad" in (result.error or "") and "70000" in (result.error or "")
    assert live(dyn, "ConfigMap", "fine", gitops.namespace) is None


def test_bad_yaml_fails_naming_the_file(gitops: GitOps) -> None:
    """A manifest that cannot be read fails the sync (YAML that does not look like a
    manifest at all is skipped, as Argo CD skips it: test_fidelity_argocd_directory.py)."""
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [b\n"
    sha = gitops.commit({"apps/shop/ok.yaml": dump(cm("a")), "apps/shop/bad.yaml": broken})
    result = gitops.sync(sha)
    assert result.error_kind == "render"
    assert (result.error or "").startswith("apps/shop/bad.yaml:")


def test_a_commit_that_removes_the_app_folder_fails_clearly(gitops: GitOps) -> None:
    first = gitops.commit({"apps/shop/a.yaml": dump(cm("a")), "README": "x"})
    assert gitops.sync(first).ok
    sha = gitops.commit({}, remove=("apps/shop",))
    outcome = run_job(gitops.engine(), job(sha))
    assert outcome.state is JobState.FAILED
    assert outcome.message == f"apps/shop does not exist at {sha}"


def test_a_namespace_and_the_objects_in_it_apply_in_one_sync(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    extra = f"{gitops.namespace[:50]}-x"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
    sha = gitops.commit({"apps/shop/app.yaml": dump(namespace, cm("inside", namespace=extra))})
    try:
        result = gitops.sync(
            sha, allowed_namespaces=(gitops.namespace, extra), allowed_cluster_kinds=("Namespace",)
        )
        assert result.ok, result.error
        assert f"ConfigMap {extra}/inside" in result.created
        assert live(dyn, "ConfigMap", "inside", extra) is not None
        parent = live(dyn, "ConfigMap", "applyset-shop", gitops.namespace)
        assert parent["metadata"]["annotations"][NAMESPACES] == extra
    finally:
        dyn.resources.get(api_version="v1", kind="Namespace").delete(name=extra)


# -- impersonation -------------------------------------------------------------------------


def test_an_impersonated_service_account_without_rights_is_refused_by_rbac(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    client.CoreV1Api(k8s_api_client).create_namespaced_service_account(
        ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="deployer"))
    )
    sha = gitops.commit({"apps/shop/a.yaml": dump(cm("a"))})
    result = gitops.sync(sha, service_account="deployer")
    assert not result.ok
    assert "forbidden" in (result.error or "").lower()
    assert f"system:serviceaccount:{ns}:deployer" in (result.error or "")
    assert live(dyn, "ConfigMap", "a", ns) is None
    # Granted ConfigMaps in its namespace (and nothing else), the same sync goes through.
    rbac = client.RbacAuthorizationV1Api(k8s_api_client)
    rbac.create_namespaced_role(
        ns,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="deployer"),
            rules=[
                client.V1PolicyRule(
                    api_groups=[""],
                    resources=["configmaps"],
                    verbs=["get", "list", "create", "update", "patch", "delete"],
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        ns,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="deployer"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="deployer"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=ns)],
        ),
    )
    result = gitops.sync(sha, service_account="deployer")
    assert result.ok, result.error


# -- infrastructure ------------------------------------------------------------------------


def test_an_unreachable_cluster_is_an_infrastructure_failure(tmp_path: Path) -> None:
    outcome = sync_on_a_dead_cluster(tmp_path, {"token": "t"})
    assert outcome.state is JobState.FAILED
    assert outcome.result["error_kind"] == "infrastructure"
    assert "unreachable" in outcome.message
