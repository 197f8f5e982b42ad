"""Hostile repositories against the guard, on the real control plane.

Whoever can merge into an app's folder tries to reach past the app: lift its namespace's Pod
Security level, bind a role to everyone, grant itself cluster-admin, take over or prune
another app's objects, or smuggle a path into an API request. Each case must end in a clean
failure that names the cause, with nothing applied (read back from the cluster).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import rest
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, live
from webhook.engine import SyncEngine, SyncResult
from webhook.kube import prune
from webhook.kube.applyset import PART_OF, ApplySet
from webhook.kube.client import Cluster
from webhook.objects import ObjectRef
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig

# The engine tests' fixtures: a git repo with an engine, and an admin DynamicClient.
RBAC = "rbac.authorization.k8s.io"


def app_config(name: str, namespace: str, **changes: Any) -> AppConfig:
    return AppConfig(
        name=name, repo="acme/gitops", path=f"apps/{name}", namespace=namespace, **changes
    )


def engine(ops: GitOps, *apps: AppConfig, **config: Any) -> SyncEngine:
    deployer = DeployerConfig(
        apps=apps, repos={"acme/gitops": RepoConfig(clone_url=f"file://{ops.origin}")}, **config
    )
    env = Environment(webhook_secret=b"test")
    return SyncEngine(deployer, env, cache_dir=ops.cache, kubeconfig=ops.kubeconfig)


def sync(
    ops: GitOps, the_app: AppConfig, sha: str, *others: AppConfig, **config: Any
) -> SyncResult:
    return engine(ops, the_app, *others, **config).sync(the_app, sha)


def binding(name: str, role_kind: str, role: str, subjects: list[dict[str, str]]) -> Any:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
        "subjects": subjects,
    }


def labels(dyn: DynamicClient, kind: str, name: str, namespace: str | None) -> dict[str, str]:
    found = live(dyn, kind, name, namespace)
    assert found is not None, f"{kind} {name} is gone"
    return dict(found["metadata"].get("labels") or {})


# -- the guard refuses before anything is applied ---------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "cause"),
    [
        ((), "cluster-scoped kind Namespace is not in allowed_cluster_kinds of app shop"),
        (("Namespace",), "sets pod-security.kubernetes.io/enforce: app shop may not change Pod"),
    ],
    ids=["namespace-not-allowed", "pod-security-label"],
)
def test_an_app_cannot_make_its_namespace_privileged(
    gitops: GitOps, dyn: DynamicClient, kinds: tuple[str, ...], cause: str
) -> None:
    ns = gitops.namespace
    privileged = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
    }
    sha = gitops.commit({"apps/shop/app.yaml": dump(privileged, cm("fine"))})
    result = gitops.sync(sha, allowed_cluster_kinds=kinds)
    assert result.error_kind == "guard"
    assert cause in (result.error or "")
    assert "pod-security.kubernetes.io/enforce" not in labels(dyn, "Namespace", ns, None)
    assert live(dyn, "ConfigMap", "fine", ns) is None
    assert live(dyn, "ConfigMap", "applyset-shop", ns) is None


def test_a_role_binding_for_every_authenticated_user_is_refused(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    everyone = binding(
        "everyone",
        "ClusterRole",
        "view",
        [{"kind": "Group", "apiGroup": RBAC, "name": "system:authenticated"}],
    )
    sha = gitops.commit({"apps/shop/app.yaml": dump(everyone, cm("fine"))})
    result = gitops.sync(sha)
    assert result.error_kind == "guard"
    assert "RoleBinding everyone: binds system:authenticated" in (result.error or "")
    assert live(dyn, "RoleBinding", "everyone", gitops.namespace, f"{RBAC}/v1") is None
    assert live(dyn, "ConfigMap", "fine", gitops.namespace) is None


@pytest.fixture
def recorded_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every (method, url) the kubernetes client sends, recorded on its way to the server."""
    sent: list[tuple[str, str]] = []
    original = rest.RESTClientObject.request

    def recording(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((method, url))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(rest.RESTClientObject, "request", recording)
    yield sent


def test_a_path_in_a_name_never_reaches_the_api_server(
    gitops: GitOps, dyn: DynamicClient, recorded_requests: list[tuple[str, str]]
) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("../../kube-system/configmaps/x"))})
    result = gitops.sync(sha)
    assert result.error_kind == "guard"
    assert "ConfigMap '../../kube-system/configmaps/x': metadata.name is not a valid path" in (
        result.error or ""
    )
    # Discovery ran (the engine connects first); no request named the object or wrote anything.
    assert recorded_requests, "the recorder saw no request at all"
    assert {method for method, _ in recorded_requests} == {"GET"}
    assert not [url for _, url in recorded_requests if "configmaps" in url or ".." in url]
    assert live(dyn, "ConfigMap", "x", "kube-system") is None


# -- Kubernetes' own escalation check, through the default ServiceAccount -------------------------


def test_with_a_default_service_account_rbac_refuses_a_binding_to_cluster_admin(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    ns = gitops.namespace
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
    account = [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]
    role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": "deployer"},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs},
            {"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": verbs},
        ],
    }
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer"}}
    for body in (sa, role, binding("deployer", "Role", "deployer", account)):
        kind = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        kind.create(body=body, namespace=ns)
    the_app = app_config("shop", ns)  # no service_account of its own
    # It may grant what it holds: a binding of its own Role to another account goes through.
    other = [{"kind": "ServiceAccount", "name": "web", "namespace": ns}]
    modest = gitops.commit(
        {"apps/shop/app.yaml": dump(binding("web", "Role", "deployer", other), cm("fine"))}
    )
    result = sync(gitops, the_app, modest, default_service_account="deployer")
    assert result.ok, result.error
    # It may not grant what it does not hold.
    greedy = binding("root", "ClusterRole", "cluster-admin", account)
    sha = gitops.commit({"apps/shop/app.yaml": dump(greedy, cm("fine", "2"))})
    result = sync(gitops, the_app, sha, default_service_account="deployer")
    assert result.error_kind == "dry-run"
    assert f"system:serviceaccount:{ns}:deployer" in (result.error or "")
    assert "attempting to grant RBAC permissions not currently held" in (result.error or "")
    assert live(dyn, "RoleBinding", "root", ns, f"{RBAC}/v1") is None
    assert live(dyn, "ConfigMap", "fine", ns)["data"] == {"value": "1"}


# -- no adoption, no pruning of what is not ours -------------------------------------------------


def test_an_app_cannot_take_over_or_prune_another_apps_object(
    gitops: GitOps, dyn: DynamicClient, kubeconfig: Path
) -> None:
    ns = gitops.namespace
    alpha = app_config("alpha", ns, prune=True)
    beta = app_config("beta", ns, prune=True, adopt=True)  # adopt never reaches another app
    first = gitops.commit({"apps/alpha/a.yaml": dump(cm("shared", "alpha"))})
    assert sync(gitops, alpha, first, beta).ok
    before = live(dyn, "ConfigMap", "shared", ns)
    sha = gitops.commit(
        {"apps/beta/b.yaml": dump(cm("shared", "beta")), "apps/beta/own.yaml": dump(cm("own"))}
    )
    result = sync(gitops, beta, sha, alpha)
    assert result.error_kind == "dry-run"
    assert f"ConfigMap {ns}/shared belongs to app alpha: never taken over" in (result.error or "")
    after = live(dyn, "ConfigMap", "shared", ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["data"] == {"value": "alpha"}
    assert live(dyn, "ConfigMap", "own", ns) is None  # the plan failed: nothing written
    # Removed from beta's git, the object is no prune target of beta's.
    sha = gitops.commit({}, remove=("apps/beta/b.yaml",))
    result = sync(gitops, beta, sha, alpha)
    assert result.ok, result.error
    assert result.pruned == ()
    assert live(dyn, "ConfigMap", "shared", ns)["data"] == {"value": "alpha"}
    # Even handed alpha's object as a target, beta's prune leaves it: it checks the label.
    cluster = Cluster(context=None, cache_dir=gitops.cache, kubeconfig=kubeconfig)
    try:
        ref = ObjectRef("", "ConfigMap", ns, "shared")
        assert prune.prune(cluster, [(ref, "v1")], ApplySet("beta", ns)) == []
    finally:
        cluster.close()
    assert live(dyn, "ConfigMap", "shared", ns)["metadata"]["labels"][PART_OF] == (
        ApplySet("alpha", ns).id
    )


def test_an_object_nobody_applied_is_taken_over_only_with_adopt(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    client.CoreV1Api(k8s_api_client).create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="legacy"), data={"value": "old"})
    )
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("legacy", "new"), cm("fine"))})
    result = gitops.sync(sha)
    assert result.error_kind == "dry-run"
    assert f"ConfigMap {ns}/legacy exists and was not applied by this app (no owner)" in (
        result.error or ""
    )
    assert "adopt: true" in (result.error or "")
    legacy = live(dyn, "ConfigMap", "legacy", ns)
    assert legacy["data"] == {"value": "old"}
    assert PART_OF not in (legacy["metadata"].get("labels") or {})
    assert live(dyn, "ConfigMap", "fine", ns) is None
    result = gitops.sync(sha, adopt=True)
    assert result.ok, result.error
    adopted = live(dyn, "ConfigMap", "legacy", ns)
    assert adopted["data"] == {"value": "new"}
    assert adopted["metadata"]["labels"][PART_OF] == ApplySet("shop", ns).id
