"""``ignore_differences`` at its edges: list items by index and by key, escapes, fields only
one side has, pointers that do not fit, the fields no rule may take, and other managers'
fields next to the deployer's own.

Written against the survivors of a mutation run over ``webhook/kube/ignore.py``
(TESTING.md): each test fails if one of those lines is broken.
"""

from __future__ import annotations

import copy
from typing import Any

from webhook.app_options import IgnoreDifference
from webhook.kube.ignore import matching, respect
from webhook.objects import ObjectRef


def deployment(*containers: dict[str, Any], replicas: int = 2, **notes: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "annotations": dict(notes)},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": list(containers)}}},
    }


def rule(*pointers: str, managers: tuple[str, ...] = ()) -> IgnoreDifference:
    return IgnoreDifference(
        group="apps", kind="Deployment", json_pointers=pointers, managed_fields_managers=managers
    )


def containers(obj: dict[str, Any]) -> list[Any]:
    return list(obj["spec"]["template"]["spec"]["containers"])


def test_a_rule_with_the_objects_name_matches_it() -> None:
    ref = ObjectRef("apps", "Deployment", "shop", "web")
    named = IgnoreDifference(group="apps", kind="Deployment", name="web", json_pointers=("/a",))
    assert matching(ref, [named]) == [named]


def test_a_pointer_reaches_list_items_by_index_and_unescapes_tilde() -> None:
    desired = deployment({"name": "app", "image": "app:2"}, **{"a~b": "git", "c/d": "git"})
    live = deployment({"name": "app", "image": "app:1"}, **{"a~b": "live", "c/d": "live"})
    pointers = ("/spec/template/spec/containers/0/image", "/metadata/annotations/a~0b")
    out = respect(desired, live, [rule(*pointers)])
    assert containers(out) == [{"name": "app", "image": "app:1"}]
    assert out["metadata"]["annotations"] == {"a~b": "live", "c/d": "git"}


def test_a_whole_list_item_follows_live_replaced_or_dropped() -> None:
    app, sidecar = {"name": "app", "image": "app:2"}, {"name": "sidecar", "image": "s:2"}
    live = deployment({"name": "app", "image": "app:1"})
    out = respect(deployment(app, sidecar), live, [rule("/spec/template/spec/containers/1")])
    assert containers(out) == [app], "live has no second container: the desired one is dropped"
    out = respect(deployment(app, sidecar), live, [rule("/spec/template/spec/containers/0")])
    assert containers(out) == [{"name": "app", "image": "app:1"}, sidecar]


def test_pointers_that_do_not_fit_the_object_change_nothing() -> None:
    desired = deployment({"name": "app", "image": "app:2"})
    live = deployment({"name": "app", "image": "app:1"}, replicas=5)
    pointers = (
        "/spec/template/spec/containers/image",  # a name where the list wants an index
        "/spec/template/spec/containers/3/image",  # past the end
        "/spec/replicas/x",  # below a number
        "/metadata/annotations/absent",  # on neither side
    )
    assert respect(desired, live, [rule(*pointers)]) == desired


def test_the_pointers_of_every_rule_count() -> None:
    desired = deployment({"name": "app", "image": "app:2"}, owner="git")
    live = deployment({"name": "app", "image": "app:1"}, replicas=5, owner="live")
    out = respect(desired, live, [rule("/spec/replicas"), rule("/metadata/annotations/owner")])
    assert out["spec"]["replicas"] == 5 and out["metadata"]["annotations"] == {"owner": "live"}


def test_no_rule_takes_the_kind_the_api_version_or_the_name() -> None:
    desired = deployment({"name": "app", "image": "app:2"})
    live = {**deployment(), "apiVersion": "apps/v2", "kind": "StatefulSet"}
    live["metadata"] = {**live["metadata"], "name": "other"}
    out = respect(desired, live, [rule("/apiVersion", "/kind", "/metadata/name")])
    assert out == desired


def test_the_result_shares_nothing_with_live() -> None:
    live = deployment({"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]})
    out = respect(deployment({"name": "app"}), live, [rule("/spec/template/spec/containers/0")])
    out_by_field = respect(deployment({"name": "app"}), live, [rule("/spec/template/spec")])
    before = copy.deepcopy(live)
    containers(out)[0]["env"].append({"name": "B"})
    containers(out_by_field)[0]["env"].append({"name": "C"})
    assert live == before


def _owned_by(live: dict[str, Any], manager: str, fields: dict[str, Any]) -> None:
    entry = {"manager": manager, "operation": "Update", "fieldsV1": fields}
    live["metadata"].setdefault("managedFields", []).append(entry)


def test_fields_of_a_list_item_picked_by_key_keep_their_live_values() -> None:
    """The item is found by its key, wherever it stands; the rest of it stays as desired."""
    live = deployment(
        {"name": "sidecar", "image": "s:1-patched"},
        {"name": "app", "image": "app:1-patched", "ports": [{"containerPort": 80}]},
    )
    containers_fields = {'k:{"name":"app"}': {".": {}, "f:image": {}}}
    _owned_by(
        live,
        "image-updater",
        {"f:spec": {"f:template": {"f:spec": {"f:containers": (containers_fields)}}}},
    )
    _owned_by(live, "webhook-deployer", {"f:spec": {"f:replicas": {}}})
    desired = deployment(
        {"name": "app", "image": "app:2", "ports": [{"containerPort": 8080}]}, replicas=3
    )
    out = respect(desired, live, [rule(managers=("image-updater",))])
    assert containers(out) == [
        {"name": "app", "image": "app:1-patched", "ports": [{"containerPort": 8080}]}
    ], "the sidecar only live has is not invented; the port stays as desired"
    assert out["spec"]["replicas"] == 3, "the deployer's own field is not left to live"


def test_a_list_item_another_manager_owns_whole_follows_live_when_both_have_it() -> None:
    sidecar = {"name": "sidecar", "image": "s:1", "args": ["--live"]}
    live = deployment({"name": "app", "image": "app:1"}, sidecar)
    _owned_by(
        live,
        "injector",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"sidecar"}': {".": {}}}}}
            }
        },
    )
    desired = deployment({"name": "app", "image": "app:2"}, {"name": "sidecar", "image": "s:2"})
    out = respect(desired, live, [rule(managers=("injector",))])
    assert containers(out) == [{"name": "app", "image": "app:2"}, sidecar]
    without = deployment({"name": "app", "image": "app:2"})
    assert respect(without, live, [rule(managers=("injector",))]) == without
