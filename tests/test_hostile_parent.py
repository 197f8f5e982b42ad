"""The app's ApplySet parent on the real control plane: a ConfigMap ``applyset-<app>`` that
this deployer did not create for the app is never taken over.

The parent is written with force; were it written over someone's ConfigMap of the same name
(left by a person, or applied by another app whose folder may name it), that ConfigMap would
become this app's inventory. The sync fails naming it, before anything is applied.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, live
from tests.test_hostile_guard import app_config, sync
from webhook.kube.applyset import ID_LABEL, PART_OF, ApplySet


def plant_parent_namesake(api: client.ApiClient, namespace: str) -> None:
    """A ConfigMap named like app shop's ApplySet parent, created by hand (nobody applied it)."""
    client.CoreV1Api(api).create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="applyset-shop"), data={"k": "v"}),
    )


def test_a_configmap_named_like_the_parent_that_nobody_applied_is_never_taken_over(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    plant_parent_namesake(k8s_api_client, ns)
    before = live(dyn, "ConfigMap", "applyset-shop", ns)
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("fine"))})
    result = gitops.sync(sha, adopt=True)  # adopt is about members, never about the parent
    assert result.error_kind == "apply"
    assert result.errors == (
        f"ConfigMap {ns}/applyset-shop exists and is not this app's ApplySet parent "
        f"(no {ID_LABEL}={ApplySet('shop', ns).id} label): never taken over; "
        "remove or rename it",
    )
    after = live(dyn, "ConfigMap", "applyset-shop", ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert live(dyn, "ConfigMap", "fine", ns) is None


def test_another_apps_configmap_named_like_the_parent_is_refused_naming_its_owner(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    ns = gitops.namespace
    shop, other = app_config("shop", ns), app_config("other", ns)
    first = gitops.commit({"apps/other/a.yaml": dump(cm("applyset-shop", "other's"))})
    assert sync(gitops, other, first, shop).ok
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("fine"))})
    result = sync(gitops, shop, sha, other)
    assert result.error_kind == "apply"
    assert f"ConfigMap {ns}/applyset-shop exists and is not this app's ApplySet parent" in (
        result.error or ""
    )
    assert "; it belongs to app other): never taken over" in (result.error or "")
    taken: Any = live(dyn, "ConfigMap", "applyset-shop", ns)
    assert taken["data"] == {"value": "other's"}
    assert ID_LABEL not in taken["metadata"]["labels"]
    assert taken["metadata"]["labels"][PART_OF] == ApplySet("other", ns).id
    assert live(dyn, "ConfigMap", "fine", ns) is None


def test_the_apps_own_parent_is_written_again_on_the_next_sync(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    ns = gitops.namespace
    assert gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(cm("one"))})).ok
    result = gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(cm("one"), cm("two"))}))
    assert result.ok, result.error
    parent = live(dyn, "ConfigMap", "applyset-shop", ns)
    assert parent["metadata"]["labels"][ID_LABEL] == ApplySet("shop", ns).id
    assert live(dyn, "ConfigMap", "two", ns) is not None


def test_a_plan_reports_a_configmap_named_like_the_parent_and_writes_nothing(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    plant_parent_namesake(k8s_api_client, ns)
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("fine"))})
    engine = gitops.engine()
    result = engine.sync(gitops.app, sha, dry_run=True)  # a preview's or a manual app's plan
    assert result.error_kind == "dry-run"
    assert f"ConfigMap {ns}/applyset-shop exists and is not this app's ApplySet parent" in (
        result.error or ""
    )
    assert live(dyn, "ConfigMap", "fine", ns) is None
