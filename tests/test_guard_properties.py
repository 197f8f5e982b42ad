"""Property tests of the guard: whatever a repository renders, the guard answers with objects
that are safe to put into an API path, or with a GuardError; never with anything else.

Inputs are arbitrary bodies, and bodies close to real ones with hostile names, namespaces,
labels and subjects, so that most examples get past the shape checks to the deeper rules.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.profiles import examples
from webhook.guard import GuardError, check, is_namespace_name, name_problem
from webhook.objects import group_of
from webhook.render import Rendered
from webhook.settings import AppConfig

APP = AppConfig(
    name="shop",
    repo="o/r",
    path="apps/shop",
    namespace="shop",
    allowed_namespaces=("shop", "shop-jobs"),
    allowed_cluster_kinds=("Namespace", "ClusterRole.rbac.authorization.k8s.io"),
)
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "Node"}
KINDS = [
    ("v1", "ConfigMap"),
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("v1", "Node"),
    ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("example.com/v1", "Widget"),
]
PROFILE = settings(
    max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def scope(api_version: str, kind: str) -> bool | None:
    if kind == "Widget":
        return None
    return kind not in CLUSTER_SCOPED


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
hostile_names = st.sampled_from(
    [
        "../../kube-system/configmaps/x",
        "..",
        ".",
        "",
        "a%2F",
        "system:authenticated",
        "applyset-shop",
        "UPPER",
        "web\n",
        "x" * 300,
        "good-name",
        "a.b",
        "1web",
    ]
) | st.text(alphabet="abz09-.:/%\n", max_size=20)
namespaces = st.sampled_from(["shop", "shop-jobs", "kube-system", "../x", ""]) | st.text(
    alphabet="ab-/.", max_size=8
)
label_keys = st.sampled_from(
    [
        "app",
        "pod-security.kubernetes.io/enforce",
        "applyset.kubernetes.io/part-of",
        "applyset.kubernetes.io/id",
    ]
)
metadata = st.fixed_dictionaries(
    {"name": hostile_names | json_values},
    optional={
        "namespace": namespaces | json_values,
        "labels": st.dictionaries(label_keys, st.text(max_size=5) | json_scalars) | json_values,
        "annotations": st.dictionaries(label_keys, st.text(max_size=5)),
        "generateName": st.text(max_size=5),
    },
)
subjects = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["Group", "User", "ServiceAccount"]),
            "name": st.sampled_from(["system:authenticated", "system:masters", "web"]),
        }
    )
    | json_values,
    max_size=3,
)


@st.composite
def near_real(draw: st.DrawFn) -> dict[str, Any]:
    api_version, kind = draw(st.sampled_from(KINDS))
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": draw(metadata)}
    if kind == "RoleBinding":
        body["subjects"] = draw(subjects)
    return body


bodies = near_real() | st.dictionaries(st.text(max_size=10), json_values) | json_values


def valid_name(kind: str, name: str) -> bool:
    """Kubernetes' name rules, written out again independently of the guard."""
    if name in (".", "..") or "/" in name or "%" in name or not name:
        return False
    if kind in ("RoleBinding", "ClusterRole"):
        return True
    if kind in ("Namespace", "Service"):
        first = "[a-z]" if kind == "Service" else "[a-z0-9]"
        return len(name) <= 63 and re.fullmatch(rf"{first}([-a-z0-9]*[a-z0-9])?", name) is not None
    labels = name.split(".")
    return len(name) <= 253 and all(
        re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", label) for label in labels
    )


def assert_safe(out: list[dict[str, Any]]) -> None:
    for body in out:
        meta = body["metadata"]
        assert valid_name(body["kind"], meta["name"]), meta["name"]
        if scope(body["apiVersion"], body["kind"]):
            assert is_namespace_name(meta["namespace"])
            assert meta["namespace"] in APP.effective_allowed_namespaces
        else:
            assert "namespace" not in meta
        assert "generateName" not in meta
        labels = list(meta.get("labels") or {})
        keys = [*labels, *(meta.get("annotations") or {})]
        assert not any(k.startswith("applyset.kubernetes.io/") for k in keys)
        if body["kind"] == "Namespace":
            assert not any(k.startswith("pod-security.kubernetes.io/") for k in labels)
        subjects = body.get("subjects")
        for subject in subjects if isinstance(subjects, list) else []:
            if isinstance(subject, dict):
                assert subject.get("name") not in ("system:authenticated", "system:masters")


@PROFILE
@given(st.lists(bodies, max_size=4))
def test_the_guard_returns_safe_objects_or_raises_guard_error(objects: list[Any]) -> None:
    rendered = [Rendered(body=b, source=f"apps/shop/{i}.yaml:1") for i, b in enumerate(objects)]
    try:
        out = check(rendered, APP, scope)
    except GuardError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
        return
    assert isinstance(out, list) and len(out) == len(objects)
    assert_safe(out)


@PROFILE
@given(near_real())
def test_a_name_that_breaks_its_kinds_rule_is_never_accepted_and_is_named(
    body: dict[str, Any],
) -> None:
    name = body["metadata"]["name"]
    problem = None
    if isinstance(name, str) and name:
        problem = name_problem(group_of(body["apiVersion"]), body["kind"], name)
    try:
        out = check([Rendered(body=body, source="apps/shop/a.yaml:1")], APP, scope)
    except GuardError as exc:
        if problem is not None:
            assert any(f"metadata.name {problem}" in e for e in exc.errors)
        return
    assert problem is None
    assert_safe(out)
