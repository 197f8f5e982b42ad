"""The guard at its edges: the exact lines a refused author reads, the length limits of
names, malformed shapes from a repository, hooks with generated names, and a bad object
that must not hide the ones after it.

Written against the survivors of a mutation run over ``webhook/guard.py`` (TESTING.md):
each test fails if one of those lines is broken.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_guard import RBAC, app, scope
from webhook.guard import GuardError, check
from webhook.render import Rendered
from webhook.settings import AppConfig

SOURCE = "apps/shop/x.yaml:1"
SEGMENT = "is not a valid path segment (empty, '.', '..', or contains '/' or '%')"
HOOK = {"argocd.argoproj.io/hook": "PostSync"}


def item(body: Any) -> Rendered:
    return Rendered(body=body, source=SOURCE)


def obj(kind: str, name: str, api_version: str = "v1", **meta: Any) -> Rendered:
    return item({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **meta}})


def errors(objects: list[Rendered], the_app: AppConfig | None = None) -> list[str]:
    with pytest.raises(GuardError) as caught:
        check(objects, the_app or app(allowed_cluster_kinds=("Namespace",)), scope)
    return caught.value.errors


def hook_job(prefix: str, api_version: str = "batch/v1", **spec: Any) -> Rendered:
    """A hook Job named by the server (``generateName``), as Argo CD hooks often are."""
    pod = {"containers": [{"name": "app", "image": "report:1", **spec}], "restartPolicy": "Never"}
    body = {
        "apiVersion": api_version,
        "kind": "Job",
        "metadata": {"generateName": prefix, "annotations": dict(HOOK)},
        "spec": {"template": {"spec": pod}},
    }
    return item(body)


def test_the_error_is_every_line_joined_with_semicolons() -> None:
    with pytest.raises(GuardError) as caught:
        check([obj("ConfigMap", "a", namespace="x"), obj("Thing/", "b")], app(), scope)
    first, second = caught.value.errors
    assert str(caught.value) == f"{first}; {second}"


# -- names: exact lines, and the length limits of each rule ----------------------------------


@pytest.mark.parametrize(
    ("kind", "api_version", "name", "problem"),
    [
        ("ConfigMap", "v1", ".", SEGMENT),
        ("Role", RBAC, ".", SEGMENT),
        ("Role", RBAC, "..", SEGMENT),
        ("Namespace", "v1", "a" * 64, "must be a DNS-1123 label (lowercase letters, digits, '-')"),
        ("Service", "v1", "a" * 64, "must be a DNS-1035 label (lowercase letters, digits, '-')"),
        (
            "ConfigMap",
            "v1",
            "a" * 254,
            "must be a DNS-1123 subdomain (lowercase letters, digits, '-')",
        ),
    ],
    ids=["dot", "rbac-dot", "rbac-dot-dot", "namespace-64", "service-64", "subdomain-254"],
)
def test_a_bad_name_is_refused_in_one_exact_line(
    kind: str, api_version: str, name: str, problem: str
) -> None:
    assert errors([obj(kind, name, api_version)]) == [
        f"{SOURCE}: {kind} {name!r}: metadata.name {problem}"
    ]


@pytest.mark.parametrize(
    ("kind", "name"),
    [("Namespace", "a" * 63), ("Service", "a" * 63), ("ConfigMap", "a" * 253)],
    ids=["namespace-63", "service-63", "subdomain-253"],
)
def test_a_name_at_its_kinds_length_limit_is_accepted(kind: str, name: str) -> None:
    the_app = app(allowed_cluster_kinds=("Namespace",), allowed_namespaces=("shop", "a" * 63))
    (out,) = check([obj(kind, name)], the_app, scope)
    assert out["metadata"]["name"] == name


def test_a_namespace_of_63_characters_is_accepted_and_of_64_refused() -> None:
    long = "n" * 63
    the_app = app(allowed_namespaces=("shop", long))
    (out,) = check([obj("ConfigMap", "c", namespace=long)], the_app, scope)
    assert out["metadata"]["namespace"] == long
    assert errors([obj("ConfigMap", "c", namespace=long + "n")], the_app) == [
        f"{SOURCE}: ConfigMap c: metadata.namespace {long + 'n'!r} is not a DNS-1123 label"
    ]


def test_a_namespace_outside_the_list_names_the_allowed_ones() -> None:
    the_app = app(allowed_namespaces=("shop", "shop-jobs"))
    assert errors([obj("ConfigMap", "c", namespace="kube-system")], the_app) == [
        f"{SOURCE}: ConfigMap c: namespace 'kube-system' is not allowed for app shop "
        "(allowed: shop, shop-jobs)"
    ]


# -- shapes a repository can hold -------------------------------------------------------------


def test_malformed_objects_are_refused_with_what_is_wrong() -> None:
    found = errors(
        [
            item(["not", "an", "object"]),
            item({"apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name", "x"]}),
            item({"apiVersion": ["v1"], "kind": 5, "metadata": {"name": "x"}}),
            item({"apiVersion": "v1", "kind": "", "metadata": {"name": "x"}}),
        ]
    )
    assert found == [
        f"{SOURCE}: is not a mapping",
        f"{SOURCE}: object without metadata.name",
        f"{SOURCE}: object without apiVersion, kind",
        f"{SOURCE}: object without kind",
    ]


def test_an_api_version_of_253_characters_is_accepted_and_of_254_refused() -> None:
    group = ".".join(["g" * 62] * 4)  # 251 characters
    fits, too_long = f"{group}/v", f"{group}/v1"
    assert (len(fits), len(too_long)) == (253, 254)
    (out,) = check([obj("Gadget", "g", fits)], app(), scope)
    assert out["apiVersion"] == fits
    assert errors([obj("Gadget", "g", too_long)]) == [
        f"{SOURCE}: apiVersion {too_long!r} is not 'group/version' or 'version'"
    ]


def test_labels_and_annotations_must_each_map_strings_to_strings() -> None:
    found = errors(
        [
            obj("ConfigMap", "a", annotations={"team": 1}),
            obj("ConfigMap", "b", labels={"team": 1}),
        ]
    )
    assert found == [
        f"{SOURCE}: ConfigMap a: metadata.annotations must map strings to strings",
        f"{SOURCE}: ConfigMap b: metadata.labels must map strings to strings",
    ]


# -- hooks and generated names -----------------------------------------------------------------


def test_generate_name_next_to_a_fixed_name_is_refused_even_on_a_hook() -> None:
    both = obj("Job", "report", "batch/v1", generateName="report-", annotations=dict(HOOK))
    assert errors([both]) == [
        f"{SOURCE}: Job report: metadata.generateName is supported only on hooks "
        "(argocd.argoproj.io/hook, helm.sh/hook): every other object needs a fixed name, "
        "so that it can be compared, owned and pruned"
    ]


def test_two_hooks_with_one_generate_name_prefix_are_a_duplicate() -> None:
    first, second = hook_job("report-"), hook_job("report-")
    assert errors([first, second]) == [
        f"{SOURCE}: Job report-: Job shop/report-* is defined twice (also at {SOURCE})"
    ]


def test_a_privileged_hook_with_a_generated_name_is_held_to_pod_security() -> None:
    privileged = hook_job("report-", securityContext={"privileged": True})
    assert errors([privileged]) == [
        f'{SOURCE}: Job report-: container "app": securityContext.privileged is true '
        "(pod_security: baseline)"
    ]
    node_agent = app(pod_security="privileged")
    (out,) = check([privileged], node_agent, scope)
    assert out["metadata"]["generateName"] == "report-"


# -- what no app may do: the exact lines -------------------------------------------------------


def test_forged_applyset_and_pod_security_labels_are_refused_in_exact_lines() -> None:
    forged = obj("ConfigMap", "forged", annotations={"applyset.kubernetes.io/id": "x"})
    labels = {"pod-security.kubernetes.io/enforce": "privileged"}
    labels["pod-security.kubernetes.io/audit"] = "privileged"
    namespace = obj("Namespace", "shop", labels=labels)
    assert errors([forged, namespace]) == [
        f"{SOURCE}: ConfigMap forged: carries annotation applyset.kubernetes.io/id: ApplySet "
        "and hook labels and annotations are the deployer's to set (a forged one could "
        "claim or hide another app's objects)",
        f"{SOURCE}: Namespace shop: sets pod-security.kubernetes.io/audit, "
        "pod-security.kubernetes.io/enforce: app shop may not change Pod Security labels "
        "(allow_pod_security_labels is off)",
    ]


def test_only_rbac_bindings_are_checked_for_subjects_and_may_have_none() -> None:
    everyone = [{"kind": "Group", "name": "system:authenticated"}]
    look_alike = obj("RoleBinding", "b", "example.com/v1")
    look_alike.body["subjects"] = everyone
    without_subjects = obj("RoleBinding", "none", RBAC)
    without_subjects.body["roleRef"] = {"apiGroup": RBAC, "kind": "Role", "name": "r"}
    without_subjects.body["subjects"] = None
    out = check([look_alike, without_subjects], app(), scope)
    assert [o["metadata"]["name"] for o in out] == ["b", "none"]
    cluster_wide = obj("ClusterRoleBinding", "root", RBAC)
    cluster_wide.body["subjects"] = [{"kind": "Group", "name": "system:masters"}]
    the_app = app(allowed_cluster_kinds=("ClusterRoleBinding",))
    assert errors([cluster_wide], the_app) == [
        f"{SOURCE}: ClusterRoleBinding root: binds system:masters: a binding to everyone "
        "(or to system:masters)"
    ]


# -- discovery, and problems after the first --------------------------------------------------


def test_discovery_is_asked_for_the_objects_own_api_version() -> None:
    def served_in_v1_only(api_version: str, kind: str) -> bool | None:
        return True if api_version == "v1" else None

    assert check([obj("ConfigMap", "a")], app(), served_in_v1_only)
    with pytest.raises(GuardError) as caught:
        check([obj("ConfigMap", "a", "v2")], app(), served_in_v1_only)
    assert caught.value.errors == [
        f"{SOURCE}: ConfigMap a: the cluster does not serve ConfigMap in v2, "
        "and no CustomResourceDefinition in this app defines it"
    ]


def test_an_unknown_kind_or_a_duplicate_does_not_hide_the_problems_after_it() -> None:
    unknown = obj("Widget", "w", "example.com/v1")
    twice = obj("ConfigMap", "twice")
    stray = obj("ConfigMap", "stray", namespace="kube-system")
    found = errors([unknown, twice, twice, stray])
    assert len(found) == 3
    assert "does not serve Widget" in found[0] and "is defined twice" in found[1]
    assert found[2].startswith(f"{SOURCE}: ConfigMap stray: namespace 'kube-system'")
