"""A ClusterRole that aggregates reaches every namespace, on the real control plane.

Operators list ``ClusterRole`` in an app's ``allowed_cluster_kinds`` so that its chart can
ship roles for its RoleBindings: a ClusterRole alone grants nothing until bound, and a
RoleBinding grants only in the app's namespace. Aggregation breaks that bound: Kubernetes'
clusterrole-aggregation controller copies the rules of every ClusterRole labelled
``rbac.authorization.k8s.io/aggregate-to-view`` (``-edit``, ``-admin``) into the built-in
``view`` role, so every user bound to ``view`` in any namespace gets them (reading Secrets,
say); an ``aggregationRule`` collects the rules of every ClusterRole it selects. The
control plane here runs kube-controller-manager, so the test observes the built-in role
itself.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, dump, live
from tests.test_hostile_guard import app_config, sync

RBAC = "rbac.authorization.k8s.io"
SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}


def cluster_role(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, **extra.pop("metadata", {})},
        **extra,
    }


def view_reads_secrets(dyn: DynamicClient) -> bool:
    rules = live(dyn, "ClusterRole", "view", None, f"{RBAC}/v1")["rules"] or []
    return any("secrets" in (rule.get("resources") or []) for rule in rules)


def wait_for(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def test_a_cluster_role_that_aggregates_is_refused_unless_the_app_opts_in(
    gitops_with_nodes: GitOps, dyn_with_nodes: DynamicClient
) -> None:
    ops, admin = gitops_with_nodes, dyn_with_nodes
    ns = ops.namespace
    name, collector = f"{ns}-secrets", f"{ns}-everything"
    to_view = cluster_role(
        name, metadata={"labels": {f"{RBAC}/aggregate-to-view": "true"}}, rules=[SECRETS]
    )
    collects = cluster_role(
        collector,
        aggregationRule={
            "clusterRoleSelectors": [
                {"matchLabels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}
            ]
        },
    )
    the_app = app_config("shop", ns, allowed_cluster_kinds=("ClusterRole",))
    sha = ops.commit({"apps/shop/roles.yaml": dump(to_view, collects)})
    assert not view_reads_secrets(admin)
    try:
        result = sync(ops, the_app, sha)
        assert result.error_kind == "guard"
        hint = "; remove it, or set allow_role_aggregation on app shop"
        assert list(result.errors) == [
            f"apps/shop/roles.yaml:1: ClusterRole {name}: label {RBAC}/aggregate-to-view: its "
            "rules would join the built-in roles it names, granted to everyone bound to them "
            f"in every namespace{hint}",
            f"apps/shop/roles.yaml:16: ClusterRole {collector}: aggregationRule: it would "
            f"collect the rules of every ClusterRole it selects (cluster-admin's too){hint}",
        ]
        assert live(admin, "ClusterRole", name, None, f"{RBAC}/v1") is None
        assert live(admin, "ClusterRole", collector, None, f"{RBAC}/v1") is None
        assert not view_reads_secrets(admin)
        # What the guard stops: applied, the app's rule reaches everyone bound to `view`.
        opted = the_app.model_copy(update={"allow_role_aggregation": True})
        result = sync(ops, opted, sha)
        assert result.ok, result.error
        assert wait_for(lambda: view_reads_secrets(admin))
    finally:
        kind = admin.resources.get(api_version=f"{RBAC}/v1", kind="ClusterRole")
        for each in (name, collector):
            if live(admin, "ClusterRole", each, None, f"{RBAC}/v1") is not None:
                kind.delete(name=each)
    assert wait_for(lambda: not view_reads_secrets(admin))
