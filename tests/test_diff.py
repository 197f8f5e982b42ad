"""Pure parts of the kube layer: the no-op comparison, redacted diffs, the apply order."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from webhook.engine import ObjectError, ObjectHealth, SyncResult
from webhook.kube.apply import KIND_ORDER, tier_of
from webhook.kube.applyset import ApplySet, applyset_id
from webhook.kube.diff import LAST_APPLIED, redact, same, unified
from webhook.objects import ObjectRef


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret(value: str, **meta: Any) -> dict[str, Any]:
    encoded = b64(value)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "shop", **meta},
        "data": {"password": encoded},
    }


def test_server_owned_metadata_and_status_do_not_count_as_a_change() -> None:
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "a",
            "resourceVersion": "7",
            "managedFields": [{"manager": "x"}],
            "annotations": {},
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 1, "observedGeneration": 3},
    }
    result = {
        **live,
        "metadata": {"name": "a", "resourceVersion": "8"},
        "status": {"readyReplicas": 2, "observedGeneration": 4},
    }
    assert same(live, result)
    assert same({k: v for k, v in live.items() if k != "status"}, result)
    assert not same(live, {**result, "spec": {"replicas": 3}})
    assert not same(live, {**result, "metadata": {"name": "a", "labels": {"l": "v"}}})
    assert not same(None, result)
    assert live["status"] == {"readyReplicas": 1, "observedGeneration": 3}  # not altered


def test_secret_values_never_appear_in_a_diff() -> None:
    ref = ObjectRef("", "Secret", "shop", "creds")
    live = secret(
        "old-password",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "old-password"},
    )
    text = unified(ref, live, secret("new-password"))
    for leaked in ("old-password", "new-password", base64.b64encode(b"old-password").decode()):
        assert leaked not in text
    assert "   password: <redacted>\n" in text  # a context line: the same on both sides


def test_a_changed_value_and_an_unchanged_one_look_the_same() -> None:
    """No oracle: a PR author cannot tell from the diff whether a guess matched."""
    ref = ObjectRef("", "Secret", "shop", "creds")
    guessed_wrong = unified(ref, secret("live-value"), secret("guess", labels={"l": "v"}))
    guessed_right = unified(ref, secret("live-value"), secret("live-value", labels={"l": "v"}))
    assert guessed_wrong == guessed_right
    assert "+    l: v" in guessed_right and "changed" not in guessed_right


def test_added_and_removed_keys_are_still_listed() -> None:
    ref = ObjectRef("", "Secret", "shop", "creds")
    live = {**secret("pw"), "data": {"password": "cHc=", "old-key": "eA=="}}
    desired = {**secret("pw"), "stringData": {"new-key": "plain text value"}}
    text = unified(ref, live, desired)
    assert "-  old-key: <redacted>" in text
    assert "+  new-key: <redacted>" in text
    assert "plain text value" not in text and "eA==" not in text


def test_secret_values_are_redacted_wherever_they_could_show() -> None:
    as_list = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [secret("in-a-list"), {"kind": "ConfigMap", "data": {"k": "shown"}}],
    }
    listed = unified(ObjectRef("", "List", "shop", "l"), None, as_list)
    assert b64("in-a-list") not in listed
    assert "password: <redacted>" in listed and "k: shown" in listed
    # A Secret and a ConfigMap of one name in one diff (a kind changed): both sides hidden.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"password": "was-public"}}
    converted = unified(ObjectRef("", "Secret", "shop", "creds"), config_map, secret("now-secret"))
    assert "was-public" not in converted and b64("now-secret") not in converted
    # kubectl's last-applied copy of an object, whatever its kind, holds its values again.
    last = json.dumps(secret("in-annotation"))
    annotated = {**config_map, "metadata": {"annotations": {LAST_APPLIED: last}}}
    assert b64("in-annotation") not in unified(
        ObjectRef("", "ConfigMap", "a", "b"), annotated, None
    )
    # A look-alike Secret kind of another group is not trusted to be harmless.
    custom = {**secret("custom-value"), "apiVersion": "example.com/v1"}
    assert redact(custom)["data"] == {"password": "<redacted>"}


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
