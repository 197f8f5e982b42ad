"""Guardrails on rendered objects, checked before anything reaches the cluster."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.guard import GuardError, check
from webhook.render import Rendered
from webhook.settings import AppConfig

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "CustomResourceDefinition", "StorageClass"}


def scope(api_version: str, kind: str) -> bool | None:
    """Scope knowledge as discovery would give it; Widget is not served."""
    if kind == "Widget":
        return None
    return kind not in CLUSTER_SCOPED


def app(**overrides: Any) -> AppConfig:
    fields: dict[str, Any] = {
        "name": "shop",
        "repo": "o/r",
        "path": "apps/shop",
        "namespace": "shop",
    }
    return AppConfig(**{**fields, **overrides})


def obj(kind: str, name: str, api_version: str = "v1", **meta: Any) -> Rendered:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **meta}}
    return Rendered(body=body, source=f"apps/shop/{name}.yaml:1")


def errors(objects: list[Rendered], the_app: AppConfig | None = None) -> list[str]:
    with pytest.raises(GuardError) as caught:
        check(objects, the_app or app(), scope)
    return caught.value.errors


def test_namespaced_objects_without_a_namespace_get_the_apps_namespace() -> None:
    (out,) = check([obj("ConfigMap", "settings")], app(), scope)
    assert out["metadata"]["namespace"] == "shop"


def test_the_input_is_not_modified() -> None:
    item = obj("ConfigMap", "settings")
    check([item], app(), scope)
    assert "namespace" not in item.body["metadata"]


def test_cluster_scoped_objects_lose_a_stray_namespace() -> None:
    (out,) = check([obj("Namespace", "shop", namespace="x")], app(), scope)
    assert "namespace" not in out["metadata"]


def test_missing_fields_are_named() -> None:
    bad = Rendered(body={"kind": "ConfigMap", "metadata": {}}, source="apps/shop/a.yaml:3")
    assert errors([bad]) == ["apps/shop/a.yaml:3: object without apiVersion, metadata.name"]


def test_a_namespace_outside_the_allowed_list_is_refused() -> None:
    (message,) = errors([obj("ConfigMap", "settings", namespace="kube-system")])
    assert "ConfigMap settings: namespace 'kube-system' is not allowed" in message
    assert message.startswith("apps/shop/settings.yaml:1")


def test_explicitly_allowed_namespaces_are_accepted() -> None:
    the_app = app(allowed_namespaces=("shop", "shop-jobs"))
    (out,) = check([obj("ConfigMap", "c", namespace="shop-jobs")], the_app, scope)
    assert out["metadata"]["namespace"] == "shop-jobs"


def test_a_cluster_scoped_kind_must_be_allowed() -> None:
    rbac = "rbac.authorization.k8s.io/v1"
    (message,) = errors([obj("ClusterRole", "admin-ish", rbac)])
    assert (
        "cluster-scoped kind ClusterRole.rbac.authorization.k8s.io is not in allowed_cluster_kinds"
        in message
    )
    allowed = app(allowed_cluster_kinds=("ClusterRole",))
    assert check([obj("ClusterRole", "reader", rbac)], allowed, scope)


def test_the_apps_own_namespace_object_is_allowed_but_not_another() -> None:
    assert check([obj("Namespace", "shop")], app(), scope)
    (message,) = errors([obj("Namespace", "kube-system")])
    assert "namespace 'kube-system' is not in the allowed namespaces" in message


def test_the_same_object_twice_is_refused() -> None:
    first = obj("ConfigMap", "settings")
    second = Rendered(body=first.body, source="apps/shop/other.yaml:7")
    (message,) = errors([first, second])
    assert "ConfigMap shop/settings is defined twice (also at apps/shop/settings.yaml:1)" in message


def test_an_unknown_kind_is_refused_unless_a_crd_in_the_app_defines_it() -> None:
    widget = obj("Widget", "w", "example.com/v1")
    (message,) = errors([widget])
    assert "does not serve Widget in example.com/v1" in message
    crd = obj("CustomResourceDefinition", "widgets.example.com", "apiextensions.k8s.io/v1")
    crd.body["spec"] = {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget"}}
    allowed = app(allowed_cluster_kinds=("CustomResourceDefinition",))
    out = check([crd, widget], allowed, scope)
    assert out[1]["metadata"]["namespace"] == "shop"


def test_every_problem_is_reported_at_once() -> None:
    found = errors(
        [
            obj("ConfigMap", "a", namespace="x"),
            obj("ClusterRole", "b", "rbac.authorization.k8s.io/v1"),
        ]
    )
    assert len(found) == 2
