"""``ignore_differences`` on a custom resource whose CRD comes in the same sync: created as
written the first time (there is nothing live to keep), left alone afterwards."""

from __future__ import annotations

import uuid

from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, dump, live, widget_crd
from webhook.app_options import IgnoreDifference


def test_a_custom_resource_of_a_new_crd_is_created_then_its_ignored_field_left_alone(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2, "colour": "blue"},
    }
    rule = IgnoreDifference(group=group, kind="Widget", json_pointers=("/spec/size",))
    sha = gitops.commit({"apps/shop/all.yaml": dump(crd, widget)})
    try:
        first = gitops.sync(
            sha, allowed_cluster_kinds=("CustomResourceDefinition",), ignore_differences=(rule,)
        )
        assert first.ok, first.errors
        api = f"{group}/v1"
        assert live(dyn, "Widget", "w", gitops.namespace, api)["spec"]["size"] == 2
        dyn.resources.get(api_version=api, kind="Widget").patch(
            name="w",
            namespace=gitops.namespace,
            body={"spec": {"size": 9}},
            content_type="application/merge-patch+json",
            field_manager="widget-operator",
        )
        again = gitops.sync(sha)
        assert again.ok and again.configured == (), again
        assert live(dyn, "Widget", "w", gitops.namespace, api)["spec"] == {
            "size": 9,
            "colour": "blue",
        }
    finally:
        dyn.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        ).delete(name=f"widgets.{group}")
