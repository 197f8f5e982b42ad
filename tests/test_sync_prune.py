"""Prune: what left git is deleted, and only what this app applied."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, live

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")


# -- prune ---------------------------------------------------------------------------------


def test_prune_deletes_what_left_git_but_never_what_is_not_ours(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    client.CoreV1Api(k8s_api_client).create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="not-ours"))
    )
    first = gitops.commit({"apps/shop/a.yaml": dump(cm("a")), "apps/shop/b.yaml": dump(cm("b"))})
    assert gitops.sync(first, prune=True).ok
    second = gitops.commit({}, remove=("apps/shop/b.yaml",))
    result = gitops.sync(second, prune=True)
    assert result.ok, result.error
    assert result.pruned == (f"ConfigMap {ns}/b",)
    assert live(dyn, "ConfigMap", "b", ns) is None
    assert live(dyn, "ConfigMap", "a", ns) is not None
    assert live(dyn, "ConfigMap", "not-ours", ns) is not None


def test_with_prune_off_objects_that_left_git_stay(gitops: GitOps, dyn: DynamicClient) -> None:
    first = gitops.commit({"apps/shop/a.yaml": dump(cm("a")), "apps/shop/b.yaml": dump(cm("b"))})
    assert gitops.sync(first).ok
    second = gitops.commit({}, remove=("apps/shop/b.yaml",))
    result = gitops.sync(second)
    assert result.ok and result.pruned == ()
    assert live(dyn, "ConfigMap", "b", gitops.namespace) is not None


def test_a_namespace_that_left_git_is_pruned_only_when_cluster_scoped_pruning_is_on(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    extra = f"{gitops.namespace[:50]}-p"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
    allowed = (gitops.namespace, extra)
    first = gitops.commit({"apps/shop/ns.yaml": dump(namespace), "apps/shop/a.yaml": dump(cm("a"))})
    try:
        kinds = ("Namespace",)  # an app's Namespace objects need allowed_cluster_kinds
        assert gitops.sync(
            first, allowed_namespaces=allowed, allowed_cluster_kinds=kinds, prune=True
        ).ok
        second = gitops.commit({}, remove=("apps/shop/ns.yaml",))
        kept = gitops.sync(second)
        assert kept.ok and kept.pruned == ()
        assert live(dyn, "Namespace", extra, None)["metadata"].get("deletionTimestamp") is None
        pruned = gitops.sync(second, prune_cluster_scoped=True)
        assert pruned.ok, pruned.error
        assert pruned.pruned == (f"Namespace {extra}",)
        gone = live(dyn, "Namespace", extra, None)
        assert gone is None or gone["metadata"].get("deletionTimestamp")
    finally:
        if live(dyn, "Namespace", extra, None) is not None:
            dyn.resources.get(api_version="v1", kind="Namespace").delete(name=extra)
