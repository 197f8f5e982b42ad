"""A repository tries to take the deployer's own power: run a Pod as the deployer's
ServiceAccount (its token is then the Pod's), bind that account, or write into the deployer's
namespace (its Deployment, its ConfigMap, the Secret holding the webhook secret).

The guard knows the deployer's identity (``Environment.own``, from ``DEPLOYER_NAMESPACE`` and
``DEPLOYER_SERVICE_ACCOUNT``) and refuses all of it before anything is applied, even for an
app the operator let into that namespace (``allow_deployer_namespace``). The first tests run
the guard alone over every shape; the last ones sync on the real control plane and read back
that nothing was applied.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, deployment, dump, live
from tests.test_guard import obj, scope
from webhook import pod_security
from webhook.engine import SyncEngine, SyncResult
from webhook.guard import GuardError, check
from webhook.own_identity import OwnIdentity
from webhook.render import Rendered
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig

HOME = "deployer-home"
ACCOUNT = "webhook-deployer"
OWN = OwnIdentity(namespace=HOME, service_account=ACCOUNT)
RBAC = "rbac.authorization.k8s.io"
API_VERSIONS = {"": "v1", "apps": "apps/v1", "batch": "batch/v1"}


def app(**overrides: Any) -> AppConfig:
    fields: dict[str, Any] = {
        "name": "shop",
        "repo": "o/r",
        "path": "apps/shop",
        "namespace": "shop",
        "allowed_namespaces": ("shop", HOME),
        "allow_deployer_namespace": True,
    }
    return AppConfig(**{**fields, **overrides})


def refused(objects: list[Rendered], the_app: AppConfig | None = None) -> str:
    with pytest.raises(GuardError) as caught:
        check(objects, the_app or app(), scope, OWN)
    return "\n".join(caught.value.errors)


def holding_pod(group: str, kind: str, namespace: str, spec: dict[str, Any]) -> Rendered:
    """An object of ``kind`` whose pod template (where Kubernetes keeps it) has ``spec``."""
    pod: dict[str, Any] = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }
    path = pod_security.TEMPLATES[(group, kind)]
    body: dict[str, Any] = {"apiVersion": API_VERSIONS[group], "kind": kind}
    if path:
        inner: dict[str, Any] = body
        for key in path[:-1]:
            inner = inner.setdefault(key, {})
        inner[path[-1]] = pod
    else:
        body.update(pod)
    body["metadata"] = {"name": "runner", "namespace": namespace}
    return Rendered(body=body, source="apps/shop/runner.yaml:1")


def role_binding(kind: str, subjects: list[dict[str, str]], namespace: str = "shop") -> Rendered:
    meta: dict[str, Any] = {"name": "grant"}
    if kind == "RoleBinding":
        meta["namespace"] = namespace
    body = {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
        "subjects": subjects,
    }
    return Rendered(body=body, source="apps/shop/grant.yaml:1")


@pytest.mark.parametrize(
    ("group", "kind"), sorted(pod_security.TEMPLATES), ids=lambda v: str(v or "core")
)
def test_every_kind_that_holds_pods_may_not_run_them_as_the_deployers_account(
    group: str, kind: str
) -> None:
    text = refused([holding_pod(group, kind, HOME, {"serviceAccountName": ACCOUNT})])
    assert f"runs its pods as the deployer's own ServiceAccount {HOME}/{ACCOUNT}" in text
    # The same name in another namespace is another account, and the app's own business.
    check([holding_pod(group, kind, "shop", {"serviceAccountName": ACCOUNT})], app(), scope, OWN)


@pytest.mark.parametrize(
    ("own", "spec"),
    [
        (OWN, {"serviceAccount": ACCOUNT}),  # the deprecated field Kubernetes still honours
        (OwnIdentity(namespace=HOME, service_account="default"), {}),  # unnamed: default
    ],
    ids=["deprecated-field", "deployer-runs-as-default"],
)
def test_a_pod_that_runs_as_the_deployer_without_naming_it_in_service_account_name(
    own: OwnIdentity, spec: dict[str, Any]
) -> None:
    with pytest.raises(GuardError) as caught:
        check([holding_pod("apps", "Deployment", HOME, spec)], app(), scope, own)
    assert "runs its pods as the deployer's own ServiceAccount" in caught.value.errors[0]


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("RoleBinding", {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": HOME}),
        ("ClusterRoleBinding", {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": HOME}),
        ("RoleBinding", {"kind": "User", "name": f"system:serviceaccount:{HOME}:{ACCOUNT}"}),
        ("RoleBinding", {"kind": "Group", "name": f"system:serviceaccounts:{HOME}"}),
        ("ClusterRoleBinding", {"kind": "Group", "name": "system:serviceaccounts"}),
    ],
    ids=["sa", "cluster-sa", "user-name", "namespace-group", "all-accounts-group"],
)
def test_a_binding_may_not_name_the_deployers_account_in_any_form(
    kind: str, subject: dict[str, str]
) -> None:
    the_app = app(allowed_cluster_kinds=("ClusterRoleBinding.rbac.authorization.k8s.io",))
    text = refused([role_binding(kind, [{"kind": "User", "name": "alice"}, subject])], the_app)
    assert f"binds the deployer's own ServiceAccount {HOME}/{ACCOUNT}" in text


def test_a_role_binding_subject_without_a_namespace_means_the_bindings_namespace() -> None:
    unnamed = {"kind": "ServiceAccount", "name": ACCOUNT}
    assert "binds the deployer's own" in refused([role_binding("RoleBinding", [unnamed], HOME)])
    elsewhere = [role_binding("RoleBinding", [unnamed], "shop")]
    assert check(elsewhere, app(), scope, OWN)  # shop's own account of that name


def test_the_deployers_account_and_namespace_are_not_the_apps_to_define() -> None:
    account = obj("ServiceAccount", ACCOUNT, namespace=HOME)
    text = refused([account])  # even with allow_deployer_namespace
    assert f"is the deployer's own ServiceAccount {HOME}/{ACCOUNT}" in text
    closed = app(allow_deployer_namespace=False, allowed_cluster_kinds=("Namespace",))
    text = refused([obj("Namespace", HOME)], closed)
    assert f"is in the deployer's own namespace {HOME!r}" in text


def test_without_the_opt_in_nothing_lands_in_the_deployers_namespace() -> None:
    """The config check refuses such an app at load; the guard refuses again if one is
    built some other way (a config object made in code, an identity learnt later)."""
    secret = obj("Secret", "webhook-deployer", namespace=HOME)  # the webhook secret's home
    text = refused([secret], app(allow_deployer_namespace=False))
    assert "allow_deployer_namespace is off" in text


def test_a_deployer_that_does_not_know_itself_refuses_none_of_this() -> None:
    """Outside a cluster nothing of the deployer's lives in one: the old behaviour."""
    objects = [
        holding_pod("apps", "Deployment", HOME, {"serviceAccountName": ACCOUNT}),
        role_binding("RoleBinding", [{"kind": "ServiceAccount", "name": ACCOUNT}], HOME),
    ]
    assert len(check(objects, app(), scope)) == 2


# -- on the real control plane: refused, nothing applied --------------------------------------


def sync_beside_the_deployer(
    gitops: GitOps, sha: str, own: OwnIdentity, **changes: Any
) -> SyncResult:
    the_app = gitops.app.model_copy(update=changes)
    config = DeployerConfig(
        apps=(the_app,), repos={"acme/gitops": RepoConfig(clone_url=f"file://{gitops.origin}")}
    )
    env = Environment(webhook_secret=b"test", own=own)
    engine = SyncEngine(config, env, cache_dir=gitops.cache, kubeconfig=gitops.kubeconfig)
    return engine.sync(the_app, sha)


def test_a_deployment_running_as_the_deployers_account_is_never_applied(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    home = gitops.namespace  # the app shares the deployer's namespace, by the operator's leave
    thief = deployment("thief")
    thief["spec"]["template"]["spec"]["serviceAccountName"] = ACCOUNT
    sha = gitops.commit({"apps/shop/app.yaml": dump(thief, cm("fine"))})
    own = OwnIdentity(namespace=home, service_account=ACCOUNT)
    result = sync_beside_the_deployer(gitops, sha, own, allow_deployer_namespace=True)
    assert result.error_kind == "guard"
    assert "Deployment thief: runs its pods as the deployer's own ServiceAccount" in (
        result.error or ""
    )
    assert live(dyn, "Deployment", "thief", home, "apps/v1") is None
    assert live(dyn, "ConfigMap", "fine", home) is None


def test_a_binding_that_grants_to_the_deployers_account_is_never_applied(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    grant = role_binding(
        "RoleBinding", [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": HOME}]
    ).body
    del grant["metadata"]["namespace"]
    sha = gitops.commit({"apps/shop/app.yaml": dump(grant, cm("fine"))})
    result = sync_beside_the_deployer(gitops, sha, OWN)
    assert result.error_kind == "guard"
    assert "RoleBinding grant: binds the deployer's own ServiceAccount" in (result.error or "")
    assert live(dyn, "RoleBinding", "grant", gitops.namespace, f"{RBAC}/v1") is None
    assert live(dyn, "ConfigMap", "fine", gitops.namespace) is None


def test_the_deployers_namespace_takes_an_app_only_with_the_opt_in(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    home = gitops.namespace
    own = OwnIdentity(namespace=home, service_account=ACCOUNT)
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("deployer-settings"))})
    result = sync_beside_the_deployer(gitops, sha, own)
    assert result.error_kind == "guard"
    assert "allow_deployer_namespace is off" in (result.error or "")
    assert live(dyn, "ConfigMap", "deployer-settings", home) is None
    # The operator's explicit leave: ordinary objects are applied, the account stays guarded.
    result = sync_beside_the_deployer(gitops, sha, own, allow_deployer_namespace=True)
    assert result.error is None, result.error
    assert live(dyn, "ConfigMap", "deployer-settings", home) is not None
