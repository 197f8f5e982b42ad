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
    allowed = app(allowed_cluster_kinds=("Namespace",))
    (out,) = check([obj("Namespace", "shop", namespace="x")], allowed, scope)
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


def test_a_namespace_object_needs_allowed_cluster_kinds_even_for_the_apps_own_namespace() -> None:
    (message,) = errors([obj("Namespace", "shop")])
    assert "cluster-scoped kind Namespace is not in allowed_cluster_kinds of app shop" in message
    assert check([obj("Namespace", "shop")], app(allowed_cluster_kinds=("Namespace",)), scope)


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


# -- names, and what no app may do -------------------------------------------------------

RBAC = "rbac.authorization.k8s.io/v1"


@pytest.mark.parametrize(
    ("kind", "api_version", "name", "rule"),
    [
        ("ConfigMap", "v1", "../../kube-system/configmaps/x", "valid path segment"),
        ("ConfigMap", "v1", "..", "valid path segment"),
        ("ConfigMap", "v1", "a%2Fb", "valid path segment"),
        ("ConfigMap", "v1", "Upper", "DNS-1123 subdomain"),
        ("ConfigMap", "v1", "settings\n", "DNS-1123 subdomain"),
        ("ConfigMap", "v1", "a" * 254, "DNS-1123 subdomain"),
        ("Namespace", "v1", "a.b", "DNS-1123 label"),
        ("Service", "v1", "1web", "DNS-1035 label"),
        ("Role", RBAC, "a/b", "valid path segment"),
    ],
    ids=["traversal", "dot-dot", "percent", "upper", "newline", "long", "ns-dot", "svc", "rbac"],
)
def test_an_invalid_name_for_its_kind_is_refused(
    kind: str, api_version: str, name: str, rule: str
) -> None:
    the_app = app(allowed_cluster_kinds=("Namespace",))
    (message,) = errors([obj(kind, name, api_version)], the_app)
    assert f"{kind} {name!r}: metadata.name" in message
    assert rule in message


def test_rbac_names_may_be_path_segments_like_system_names() -> None:
    (out,) = check([obj("Role", "system:leader-locking", RBAC)], app(), scope)
    assert out["metadata"]["name"] == "system:leader-locking"


def test_an_invalid_namespace_is_refused() -> None:
    (message,) = errors([obj("ConfigMap", "c", namespace="../kube-system")])
    assert "metadata.namespace '../kube-system' is not a DNS-1123 label" in message


def test_a_malformed_api_version_or_kind_is_refused_before_discovery() -> None:
    asked: list[tuple[str, str]] = []

    def recording(api_version: str, kind: str) -> bool | None:
        asked.append((api_version, kind))
        return True

    with pytest.raises(GuardError) as caught:
        check([obj("ConfigMap", "a", "../v1"), obj("Config/Map", "b")], app(), recording)
    assert "apiVersion '../v1' is not" in caught.value.errors[0]
    assert "kind 'Config/Map' is not a Kubernetes kind name" in caught.value.errors[1]
    assert asked == []


def test_generate_name_is_refused_on_objects_that_are_not_hooks() -> None:
    (message,) = errors([obj("ConfigMap", "c", generateName="c-")])
    assert "metadata.generateName is supported only on hooks" in message


def test_a_hook_may_use_generate_name_and_two_of_them_are_no_duplicates() -> None:
    hook = {"annotations": {"argocd.argoproj.io/hook": "PostSync"}}
    a = obj("Job", "", "batch/v1", generateName="report-", **hook)
    b = obj("Job", "", "batch/v1", generateName="notify-", **hook)
    del a.body["metadata"]["name"], b.body["metadata"]["name"]
    assert [o["metadata"]["generateName"] for o in check([a, b], app(), scope)] == [
        "report-",
        "notify-",
    ]


def test_sync_order_annotations_with_bad_values_are_refused_before_anything() -> None:
    wave = obj("ConfigMap", "a", annotations={"argocd.argoproj.io/sync-wave": "first"})
    hook = obj("ConfigMap", "b", annotations={"argocd.argoproj.io/hook": "PreInstall"})
    first, second = errors([wave, hook])
    assert "argocd.argoproj.io/sync-wave 'first' is not an integer" in first
    assert "argocd.argoproj.io/hook 'PreInstall': use one or more of" in second


def test_a_forged_hook_label_is_refused() -> None:
    (message,) = errors([obj("ConfigMap", "a", labels={"webhook-deployer.io/hook-of": "x"})])
    assert "webhook-deployer.io/hook-of" in message


def test_labels_that_are_not_string_maps_are_refused() -> None:
    (message,) = errors([obj("ConfigMap", "c", labels=["a"])])
    assert "metadata.labels must map strings to strings" in message


def test_pod_security_labels_need_the_apps_permission() -> None:
    labels = {"pod-security.kubernetes.io/enforce": "privileged", "team": "shop"}
    namespace = obj("Namespace", "shop", labels=labels)
    allowed = app(allowed_cluster_kinds=("Namespace",))
    (message,) = errors([namespace], allowed)
    assert "sets pod-security.kubernetes.io/enforce: app shop may not change Pod Security" in (
        message
    )
    permitted = allowed.model_copy(update={"allow_pod_security_labels": True})
    assert check([namespace], permitted, scope)


@pytest.mark.parametrize(
    "subject",
    ["system:authenticated", "system:unauthenticated", "system:anonymous", "system:masters"],
)
def test_a_binding_to_everyone_is_refused(subject: str) -> None:
    binding = obj("RoleBinding", "everyone", RBAC)
    binding.body["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    binding.body["subjects"] = [
        {"kind": "ServiceAccount", "name": "web", "namespace": "shop"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": subject},
    ]
    (message,) = errors([binding])
    assert f"RoleBinding everyone: binds {subject}" in message


def test_forged_applyset_labels_and_the_parents_name_are_refused() -> None:
    forged = obj(
        "ConfigMap",
        "forged",
        labels={"applyset.kubernetes.io/part-of": "applyset-x-v1"},
        annotations={"applyset.kubernetes.io/tooling": "kubectl/v1.34"},
    )
    parent = obj("ConfigMap", "applyset-shop")
    first, second = errors([forged, parent])
    assert (
        "carries annotation applyset.kubernetes.io/tooling, label applyset.kubernetes.io/part-of"
        in (first)
    )
    assert "ConfigMap applyset-shop: is named like app shop's ApplySet parent" in second
