"""Syncs that create, change and leave alone: plain YAML, a new namespace, CRDs, Kustomize, Helm."""

from __future__ import annotations

import uuid

import pytest
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, live, service, widget_crd
from webhook.kube.applyset import GROUP_KINDS, ID_LABEL, PART_OF, applyset_id
from webhook.settings import HelmConfig

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")


# -- create, update, no-op -----------------------------------------------------------------


def test_a_first_sync_creates_every_object_and_records_the_applyset(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("settings"), service("web"))})
    result = gitops.sync(sha)
    assert result.ok, result.error
    ns = gitops.namespace
    assert sorted(result.created) == [f"ConfigMap {ns}/settings", f"Service {ns}/web"]
    assert result.summary().startswith("2 objects, 2 changed, healthy in ")
    assert result.commit == sha
    parent = live(dyn, "ConfigMap", "applyset-shop", ns)
    set_id = applyset_id("applyset-shop", ns)
    assert parent["metadata"]["labels"][ID_LABEL] == set_id
    assert parent["metadata"]["annotations"][GROUP_KINDS] == "ConfigMap,Service"
    member = live(dyn, "ConfigMap", "settings", ns)
    assert member["metadata"]["labels"][PART_OF] == set_id
    assert {h.status for h in result.health} == {"Current"}


def test_a_changed_object_is_configured_and_the_rest_left_alone(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    first = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), cm("b"))})
    assert gitops.sync(first).ok
    second = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "2"), cm("b"))})
    result = gitops.sync(second)
    assert result.ok, result.error
    ns = gitops.namespace
    assert result.configured == (f"ConfigMap {ns}/a",)
    assert result.unchanged == (f"ConfigMap {ns}/b",)
    assert live(dyn, "ConfigMap", "a", ns)["data"] == {"value": "2"}


def test_a_sync_of_an_unchanged_commit_writes_nothing(gitops: GitOps, dyn: DynamicClient) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"password": "hunter2"},
    }
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), service("web"), secret)})
    assert gitops.sync(sha).ok
    ns = gitops.namespace
    names = [
        ("ConfigMap", "a"),
        ("Service", "web"),
        ("Secret", "creds"),
        ("ConfigMap", "applyset-shop"),
    ]
    before = {n: live(dyn, k, n, ns)["metadata"]["resourceVersion"] for k, n in names}
    result = gitops.sync(sha)
    assert result.ok, result.error
    assert (result.created, result.configured) == ((), ())
    assert len(result.unchanged) == 3
    after = {n: live(dyn, k, n, ns)["metadata"]["resourceVersion"] for k, n in names}
    assert after == before


# -- CRDs, Kustomize, Helm -----------------------------------------------------------------


def test_a_crd_and_its_custom_resource_apply_in_one_sync(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    sha = gitops.commit({"apps/shop/crd.yaml": dump(crd), "apps/shop/widget.yaml": dump(widget)})
    try:
        result = gitops.sync(sha, allowed_cluster_kinds=("CustomResourceDefinition",))
        assert result.ok, result.error
        assert f"Widget {gitops.namespace}/w" in result.created
        got = live(dyn, "Widget", "w", gitops.namespace, f"{group}/v1")
        assert got["spec"] == {"size": 3}
        again = gitops.sync(sha)
        assert again.ok and (again.created, again.configured) == ((), ())
    finally:
        dyn.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        ).delete(name=f"widgets.{group}")


def test_a_kustomize_app_is_built_and_applied(gitops: GitOps, dyn: DynamicClient) -> None:
    sha = gitops.commit(
        {
            "apps/shop/cm.yaml": dump(cm("settings")),
            "apps/shop/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: k-\n",
        }
    )
    result = gitops.sync(sha)
    assert result.ok, result.error
    assert live(dyn, "ConfigMap", "k-settings", gitops.namespace) is not None


def test_a_helm_app_is_templated_and_applied(gitops: GitOps, dyn: DynamicClient) -> None:
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  colour: {{ .Values.colour }}\n"
    )
    sha = gitops.commit(
        {
            "apps/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "apps/shop/values.yaml": "colour: blue\n",
            "apps/shop/prod.yaml": "colour: green\n",
            "apps/shop/templates/cm.yaml": template,
        }
    )
    helm = HelmConfig(release_name="store", values_files=("prod.yaml",))
    result = gitops.sync(sha, helm=helm)
    assert result.ok, result.error
    assert live(dyn, "ConfigMap", "store-settings", gitops.namespace)["data"] == {"colour": "green"}
