"""``ignore_differences`` on plain objects: which objects a rule matches, JSON pointers
(escapes included), and fields named by the managers that own them (``managedFields``)."""

from __future__ import annotations

import copy
import json
from typing import Any

from webhook.app_options import IgnoreDifference
from webhook.kube.ignore import matching, respect
from webhook.objects import ObjectRef


def _web(image: str = "app:1", replicas: int = 2, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "annotations": dict(annotations)},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


def test_a_rule_matches_by_group_kind_and_optional_name_and_namespace() -> None:
    ref = ObjectRef("apps", "Deployment", "shop", "web")
    rules = [
        IgnoreDifference(group="apps", kind="Deployment", json_pointers=("/a",)),
        IgnoreDifference(group="apps", kind="Deployment", name="api", json_pointers=("/b",)),
        IgnoreDifference(group="apps", kind="Deployment", namespace="shop", json_pointers=("/c",)),
        IgnoreDifference(kind="Deployment", json_pointers=("/d",)),  # core group: no match
    ]
    assert [r.json_pointers for r in matching(ref, rules)] == [("/a",), ("/c",)]


def test_a_pointer_takes_the_live_value_or_drops_the_field() -> None:
    rule = IgnoreDifference(
        group="apps",
        kind="Deployment",
        json_pointers=("/spec/replicas", "/metadata/annotations/example.com~1owner"),
    )
    desired = _web(**{"example.com/owner": "git"})
    live = _web(replicas=7)  # no annotation live
    out = respect(desired, live, [rule])
    assert out["spec"]["replicas"] == 7
    assert out["metadata"]["annotations"] == {}
    assert desired["spec"]["replicas"] == 2  # the input is not changed


def test_a_new_object_is_created_as_the_manifest_says() -> None:
    rule = IgnoreDifference(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))
    desired = _web()
    assert respect(desired, None, [rule]) == desired


def test_fields_another_manager_owns_keep_their_live_values() -> None:
    live = _web(image="app:1-patched", replicas=5)
    fields = {
        "f:spec": {
            "f:replicas": {},
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"app"}': {".": {}, "f:image": {}},
                        'k:{"name":"sidecar"}': {".": {}, "f:image": {}},
                    }
                }
            },
        }
    }
    live["metadata"]["managedFields"] = [
        {"manager": "image-updater", "operation": "Update", "fieldsV1": fields},
        {"manager": "webhook-deployer", "operation": "Apply", "fieldsV1": {"f:metadata": {}}},
    ]
    rule = IgnoreDifference(
        group="apps", kind="Deployment", managed_fields_managers=("image-updater",)
    )
    desired = _web(image="app:2")
    before = copy.deepcopy(desired)
    out = respect(desired, live, [rule])
    assert out["spec"]["replicas"] == 5
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:1-patched"}
    ]  # the sidecar the manifest does not have is not invented
    assert desired == before
    assert json.dumps(respect(desired, live, [])) == json.dumps(desired)
