"""Redacted diffs at their edges: deleted and re-kinded Secrets, odd shapes from untrusted
repositories, the inputs left as they were, and the diff's headers and key order.

Written against the survivors of a mutation run over ``webhook/kube/diff.py`` (TESTING.md):
each test fails if one of those lines is broken.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from webhook.kube.diff import LAST_APPLIED, REDACTED, redact, same, unified
from webhook.objects import ObjectRef

CREDS = ObjectRef("", "Secret", "shop", "creds")


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "shop"},
        **fields,
    }


def config_map(name: str = "a", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
        "data": data,
    }


def test_a_pruned_secret_shows_its_keys_but_no_value() -> None:
    """A prune diff has no desired side: the live Secret alone must still be redacted."""
    live = secret(data={"password": b64("hunter2")}, stringData={"token": "plain-token"})
    text = unified(CREDS, live, None)
    assert b64("hunter2") not in text and "plain-token" not in text
    assert "-  password: <redacted>\n" in text and "-  token: <redacted>\n" in text


def test_a_secret_turned_into_a_config_map_hides_the_live_values() -> None:
    live = secret(data={"password": b64("hunter2")})
    text = unified(CREDS, live, config_map("creds", password="now-public"))
    assert b64("hunter2") not in text and "now-public" not in text
    assert "   password: <redacted>\n-kind: Secret\n+kind: ConfigMap\n" in text


@pytest.mark.parametrize(
    "value",
    ["a plain string", ["in", "a", "list"], 12345],
    ids=["string", "list", "number"],
)
def test_secret_data_that_is_not_a_mapping_is_redacted_whole(value: object) -> None:
    """A malformed Secret from a repository is shown as ``<redacted>``, not as written."""
    scrubbed = redact(secret(data=value, stringData=value))
    assert scrubbed["data"] == REDACTED and scrubbed["stringData"] == REDACTED
    text = unified(CREDS, None, secret(stringData=value))
    assert "+stringData: <redacted>\n" in text
    assert "plain string" not in text and "12345" not in text and "+- in\n" not in text


def test_redacting_adds_no_field_a_secret_does_not_have() -> None:
    assert redact(secret(data={"k": b64("v")})) == secret(data={"k": REDACTED})
    assert "stringData" not in unified(CREDS, None, secret(data={"k": b64("v")}))


def test_the_last_applied_annotation_keeps_its_key_and_shows_redacted() -> None:
    annotated = config_map(k="v")
    annotated["metadata"]["annotations"] = {LAST_APPLIED: '{"data":{"k":"old"}}', "team": "x"}
    scrubbed = redact(annotated)
    assert scrubbed["metadata"]["annotations"] == {LAST_APPLIED: REDACTED, "team": "x"}
    text = unified(ObjectRef("", "ConfigMap", "shop", "a"), None, annotated)
    assert f"+    {LAST_APPLIED}: <redacted>\n" in text and "old" not in text


def test_redacting_and_diffing_leave_their_inputs_as_they_were() -> None:
    """The engine goes on using the objects it diffed: live's metadata and annotations too."""
    live = secret(data={"password": b64("hunter2")})
    live["metadata"].update(
        resourceVersion="7",
        uid="u-1",
        managedFields=[{"manager": "kubectl"}],
        annotations={LAST_APPLIED: "{}"},
    )
    desired = secret(data={"password": b64("new")}, stringData={"extra": "x"})
    live_before, desired_before = copy.deepcopy(live), copy.deepcopy(desired)
    redact(live)
    unified(CREDS, live, desired)
    assert not same(live, desired)
    assert live == live_before and desired == desired_before


def test_a_list_with_items_that_are_not_mappings_is_diffed_without_crashing() -> None:
    listed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": ["a stray string", None, secret(data={"password": b64("in-a-list")})],
    }
    text = unified(ObjectRef("", "List", "shop", "l"), None, listed)
    assert "+- a stray string\n" in text and "+- null\n" in text
    assert b64("in-a-list") not in text and "password: <redacted>" in text


def test_a_changed_object_diffs_live_against_desired_and_a_pruned_one_against_dev_null() -> None:
    ref = ObjectRef("", "ConfigMap", "shop", "a")
    changed = unified(ref, config_map(k="old"), config_map(k="new"))
    assert changed.startswith("--- live/ConfigMap/shop/a\n+++ desired/ConfigMap/shop/a\n")
    assert "-  k: old\n+  k: new\n" in changed
    pruned = unified(ref, config_map(k="old"), None)
    assert pruned.startswith("--- live/ConfigMap/shop/a\n+++ /dev/null\n")
    cluster_scoped = unified(ObjectRef("", "Namespace", None, "shop"), None, {"kind": "Namespace"})
    assert cluster_scoped.startswith("--- /dev/null\n+++ desired/Namespace/shop\n")


def test_the_same_object_with_its_keys_in_another_order_diffs_to_nothing() -> None:
    """The API server and a manifest order keys differently; only content may show."""
    live = config_map(b="2", a="1")
    desired = config_map(a="1", b="2")
    desired = {key: desired[key] for key in reversed(list(desired))}
    assert unified(ObjectRef("", "ConfigMap", "shop", "a"), live, desired) == ""
    text = unified(ObjectRef("", "ConfigMap", "shop", "a"), None, config_map(b="2", a="1"))
    assert text.index("+  a: '1'") < text.index("+  b: '2'")
