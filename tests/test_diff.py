"""Pure parts of the kube layer: the no-op comparison, redacted diffs, the apply order."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from webhook.engine import ObjectError, ObjectHealth, SyncResult
from webhook.kube.apply import KIND_ORDER, tier_of
from webhook.kube.applyset import ApplySet, applyset_id
from webhook.kube.diff import redact, same, unified
from webhook.render import ObjectRef


def secret(value: str, **meta: Any) -> dict[str, Any]:
    encoded = base64.b64encode(value.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "shop", **meta},
        "data": {"password": encoded},
    }


def test_server_owned_metadata_and_status_do_not_count_as_a_change() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "resourceVersion": "7", "managedFields": [{"manager": "x"}]},
        "data": {"k": "v"},
    }
    result = {**live, "metadata": {"name": "a", "resourceVersion": "8"}}
    assert same(live, result)
    assert not same(live, {**result, "data": {"k": "w"}})
    assert not same(None, result)


def test_secret_values_never_appear_in_a_diff() -> None:
    ref = ObjectRef("", "Secret", "shop", "creds")
    live = secret(
        "old-password",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "old-password"},
    )
    text = unified(ref, live, secret("new-password"))
    for leaked in ("old-password", "new-password", base64.b64encode(b"old-password").decode()):
        assert leaked not in text
    assert "+  password: <redacted, changed>" in text
    assert "-  password: <redacted>" in text


def test_an_unchanged_secret_value_is_marked_unchanged() -> None:
    ref = ObjectRef("", "Secret", "shop", "creds")
    desired = secret("same", labels={"new": "label"})
    text = unified(ref, secret("same"), desired)
    assert "<redacted, changed>" not in text and "+    new: label" in text


def test_redact_leaves_other_kinds_alone() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    assert redact(obj) == obj
    assert redact(secret("pw"))["data"] == {"password": "<redacted>"}


def test_a_new_object_diffs_against_dev_null() -> None:
    ref = ObjectRef("", "ConfigMap", "shop", "a")
    text = unified(ref, None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
    assert text.startswith("--- /dev/null\n+++ desired/ConfigMap/shop/a\n")


def test_the_apply_order_puts_dependencies_first_and_custom_resources_last() -> None:
    refs = [
        ObjectRef("example.com", "Widget", "shop", "w"),
        ObjectRef("apps", "Deployment", "shop", "web"),
        ObjectRef("networking.k8s.io", "Ingress", "shop", "web"),
        ObjectRef("", "Service", "shop", "web"),
        ObjectRef("", "ConfigMap", "shop", "c"),
        ObjectRef("", "ServiceAccount", "shop", "sa"),
        ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", None, "widgets.example.com"),
        ObjectRef("", "Namespace", None, "shop"),
    ]
    ordered = sorted(refs, key=tier_of)
    assert [r.kind for r in ordered] == [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "Ingress",
        "Widget",
    ]
    assert [name for name, _ in KIND_ORDER][-2:] == ["other", "custom"]


def test_the_applyset_id_follows_kubectl() -> None:
    # base64url(sha256("applyset-shop.shop.ConfigMap.")) without padding, as kubectl computes.
    digest = hashlib.sha256(b"applyset-shop.shop.ConfigMap.").digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert applyset_id("applyset-shop", "shop") == f"applyset-{expected}-v1"
    parent = ApplySet("shop", "shop").parent(
        ApplySet("shop", "shop").inventory_of(
            [
                ObjectRef("apps", "Deployment", "shop", "web"),
                ObjectRef("", "ConfigMap", "jobs", "c"),
            ]
        )
    )
    annotations = parent["metadata"]["annotations"]
    assert annotations["applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap,Deployment.apps"
    assert annotations["applyset.kubernetes.io/additional-namespaces"] == "jobs"
    assert annotations["applyset.kubernetes.io/tooling"].startswith("webhook-deployer/v")


def test_a_sync_result_is_json_safe_and_summarised_in_one_line() -> None:
    result = SyncResult(
        app="shop",
        commit="a" * 40,
        created=("ConfigMap shop/a",),
        configured=("Deployment shop/web",),
        unchanged=tuple(f"ConfigMap shop/u{i}" for i in range(12)),
        health=(ObjectHealth("Deployment shop/web", "Current", "Deployment web: 1/1 available"),),
        duration=6.23,
    )
    assert result.summary() == "14 objects, 2 changed, healthy in 6.2s"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["health"][0]["status"] == "Current"
    failed = SyncResult(
        app="shop",
        commit="a" * 40,
        failed=(ObjectError("Service shop/bad", "port out of range"),),
        error="Service shop/bad: port out of range\nmore",
        error_kind="dry-run",
    )
    assert failed.summary() == "Service shop/bad: port out of range"
    assert json.loads(json.dumps(failed.to_dict()))["failed"][0]["object"] == "Service shop/bad"
