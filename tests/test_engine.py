"""The sync engine against the real control plane: git repo in, cluster state out.

Every test builds a real git repo served as a file:// URL, syncs it with ``SyncEngine`` and
checks the cluster through an admin client. Nothing about Kubernetes is mocked.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests import gitrepo
from webhook.engine import SyncEngine, SyncResult
from webhook.kube.applyset import GROUP_KINDS, ID_LABEL, NAMESPACES, PART_OF, applyset_id
from webhook.model import Job, JobState, Trigger
from webhook.settings import AppConfig, DeployerConfig, Environment, HelmConfig, RepoConfig
from webhook.steps import run_job


def cm(name: str, value: str = "1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": {"value": value},
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
        },
    }


def dump(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


@dataclass
class GitOps:
    """A git repo of manifests, an app pointing at it and an engine syncing it."""

    origin: Path
    kubeconfig: Path
    cache: Path
    namespace: str
    app: AppConfig = field(init=False)

    def __post_init__(self) -> None:
        self.app = AppConfig(
            name="shop", repo="acme/gitops", path="apps/shop", namespace=self.namespace
        )

    def git(self, *args: str) -> str:
        return gitrepo.git(self.origin, *args)

    def commit(self, files: dict[str, str], *, remove: tuple[str, ...] = ()) -> str:
        """Write files under the repo (paths relative to the root), remove others, commit."""
        return gitrepo.commit(self.origin, files, remove=remove)

    def engine(self, **app_changes: Any) -> SyncEngine:
        self.app = self.app.model_copy(update=app_changes)
        deployer = DeployerConfig(
            apps=(self.app,), repos={"acme/gitops": RepoConfig(clone_url=f"file://{self.origin}")}
        )
        env = Environment(webhook_secret=b"test")
        return SyncEngine(deployer, env, cache_dir=self.cache, kubeconfig=self.kubeconfig)

    def sync(self, sha: str, **app_changes: Any) -> SyncResult:
        engine = self.engine(**app_changes)
        return engine.sync(self.app, sha)


def make_gitops(tmp_path: Path, kubeconfig: Path, namespace: str) -> GitOps:
    origin = tmp_path / "origin"
    origin.mkdir()
    ops = GitOps(origin, kubeconfig, tmp_path / "cache", namespace)
    ops.git("init", "--quiet", "--initial-branch=main")
    return ops


@pytest.fixture
def gitops(tmp_path: Path, kubeconfig: Path, namespace: str) -> GitOps:
    return make_gitops(tmp_path, kubeconfig, namespace)


@pytest.fixture
def dyn(k8s_api_client: client.ApiClient) -> DynamicClient:
    return DynamicClient(k8s_api_client)


def live(dyn: DynamicClient, kind: str, name: str, namespace: str | None, api: str = "v1") -> Any:
    resource = dyn.resources.get(api_version=api, kind=kind)
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except Exception as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise


def job(sha: str, *, approved: bool = False) -> Job:
    return Job(
        id=1,
        app="shop",
        repo="acme/gitops",
        commit=sha,
        ref="refs/heads/main",
        trigger=Trigger.PUSH,
        state=JobState.RUNNING,
        approved=approved,
    )


# -- create, update, no-op ------------------------------------------------------------


def test_a_first_sync_creates_every_object_and_records_the_applyset(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("settings"), service("web"))})
    result = gitops.sync(sha)
    assert result.ok, result.error
    ns = gitops.namespace
    assert sorted(result.created) == [f"ConfigMap {ns}/settings", f"Service {ns}/web"]
    assert result.summary().startswith("2 objects, 2 changed, healthy in ")
    assert result.commit == sha
    parent = live(dyn, "ConfigMap", "applyset-shop", ns)
    set_id = applyset_id("applyset-shop", ns)
    assert parent["metadata"]["labels"][ID_LABEL] == set_id
    assert parent["metadata"]["annotations"][GROUP_KINDS] == "ConfigMap,Service"
    member = live(dyn, "ConfigMap", "settings", ns)
    assert member["metadata"]["labels"][PART_OF] == set_id
    assert {h.status for h in result.health} == {"Current"}


def test_a_changed_object_is_configured_and_the_rest_left_alone(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    first = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), cm("b"))})
    assert gitops.sync(first).ok
    second = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "2"), cm("b"))})
    result = gitops.sync(second)
    assert result.ok, result.error
    ns = gitops.namespace
    assert result.configured == (f"ConfigMap {ns}/a",)
    assert result.unchanged == (f"ConfigMap {ns}/b",)
    assert live(dyn, "ConfigMap", "a", ns)["data"] == {"value": "2"}


def test_a_sync_of_an_unchanged_commit_writes_nothing(gitops: GitOps, dyn: DynamicClient) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"password": "hunter2"},
    }
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), service("web"), secret)})
    assert gitops.sync(sha).ok
    ns = gitops.namespace
    names = [
        ("ConfigMap", "a"),
        ("Service", "web"),
        ("Secret", "creds"),
        ("ConfigMap", "applyset-shop"),
    ]
    before = {n: live(dyn, k, n, ns)["metadata"]["resourceVersion"] for k, n in names}
    result = gitops.sync(sha)
    assert result.ok, result.error
    assert (result.created, result.configured) == ((), ())
    assert len(result.unchanged) == 3
    after = {n: live(dyn, k, n, ns)["metadata"]["resourceVersion"] for k, n in names}
    assert after == before


# -- prune --------------------------------------------------------------------------------


def test_prune_deletes_what_left_git_but_never_what_is_not_ours(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    client.CoreV1Api(k8s_api_client).create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="not-ours"))
    )
    first = gitops.commit({"apps/shop/a.yaml": dump(cm("a")), "apps/shop/b.yaml": dump(cm("b"))})
    assert gitops.sync(first, prune=True).ok
    second = gitops.commit({}, remove=("apps/shop/b.yaml",))
    result = gitops.sync(second, prune=True)
    assert result.ok, result.error
    assert result.pruned == (f"ConfigMap {ns}/b",)
    assert live(dyn, "ConfigMap", "b", ns) is None
    assert live(dyn, "ConfigMap", "a", ns) is not None
    assert live(dyn, "ConfigMap", "not-ours", ns) is not None


def test_with_prune_off_objects_that_left_git_stay(gitops: GitOps, dyn: DynamicClient) -> None:
    first = gitops.commit({"apps/shop/a.yaml": dump(cm("a")), "apps/shop/b.yaml": dump(cm("b"))})
    assert gitops.sync(first).ok
    second = gitops.commit({}, remove=("apps/shop/b.yaml",))
    result = gitops.sync(second)
    assert result.ok and result.pruned == ()
    assert live(dyn, "ConfigMap", "b", gitops.namespace) is not None


def test_a_namespace_that_left_git_is_pruned_only_when_cluster_scoped_pruning_is_on(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    extra = f"{gitops.namespace[:50]}-p"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
    allowed = (gitops.namespace, extra)
    first = gitops.commit({"apps/shop/ns.yaml": dump(namespace), "apps/shop/a.yaml": dump(cm("a"))})
    try:
        kinds = ("Namespace",)  # an app's Namespace objects need allowed_cluster_kinds
        assert gitops.sync(
            first, allowed_namespaces=allowed, allowed_cluster_kinds=kinds, prune=True
        ).ok
        second = gitops.commit({}, remove=("apps/shop/ns.yaml",))
        kept = gitops.sync(second)
        assert kept.ok and kept.pruned == ()
        assert live(dyn, "Namespace", extra, None)["metadata"].get("deletionTimestamp") is None
        pruned = gitops.sync(second, prune_cluster_scoped=True)
        assert pruned.ok, pruned.error
        assert pruned.pruned == (f"Namespace {extra}",)
        gone = live(dyn, "Namespace", extra, None)
        assert gone is None or gone["metadata"].get("deletionTimestamp")
    finally:
        if live(dyn, "Namespace", extra, None) is not None:
            dyn.resources.get(api_version="v1", kind="Namespace").delete(name=extra)


# -- refusals: nothing is applied -----------------------------------------------------


def test_an_object_in_a_forbidden_namespace_fails_the_sync_and_nothing_is_applied(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    sha = gitops.commit(
        {"apps/shop/app.yaml": dump(cm("fine"), cm("sneaky", namespace="kube-system"))}
    )
    result = gitops.sync(sha)
    assert result.error_kind == "guard"
    assert "ConfigMap sneaky: namespace 'kube-system' is not allowed" in (result.error or "")
    assert live(dyn, "ConfigMap", "fine", gitops.namespace) is None
    assert live(dyn, "ConfigMap", "sneaky", "kube-system") is None


def test_an_object_the_server_rejects_in_dry_run_means_nothing_is_applied(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    bad = service("bad")
    bad["spec"]["ports"][0]["port"] = 70000
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("fine"), bad)})
    result = gitops.sync(sha)
    assert result.error_kind == "dry-run"
    assert [f.object for f in result.failed] == [f"Service {gitops.namespace}/bad"]
    assert "bad" in (result.error or "") and "70000" in (result.error or "")
    assert live(dyn, "ConfigMap", "fine", gitops.namespace) is None


def test_bad_yaml_fails_naming_the_file(gitops: GitOps) -> None:
    sha = gitops.commit({"apps/shop/ok.yaml": dump(cm("a")), "apps/shop/bad.yaml": "a: [b\n"})
    result = gitops.sync(sha)
    assert result.error_kind == "render"
    assert (result.error or "").startswith("apps/shop/bad.yaml:")


def test_a_commit_that_removes_the_app_folder_fails_clearly(gitops: GitOps) -> None:
    first = gitops.commit({"apps/shop/a.yaml": dump(cm("a")), "README": "x"})
    assert gitops.sync(first).ok
    sha = gitops.commit({}, remove=("apps/shop",))
    outcome = run_job(gitops.engine(), job(sha))
    assert outcome.state is JobState.FAILED
    assert outcome.message == f"apps/shop does not exist at {sha}"


def test_a_namespace_and_the_objects_in_it_apply_in_one_sync(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    extra = f"{gitops.namespace[:50]}-x"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
    sha = gitops.commit({"apps/shop/app.yaml": dump(namespace, cm("inside", namespace=extra))})
    try:
        result = gitops.sync(
            sha, allowed_namespaces=(gitops.namespace, extra), allowed_cluster_kinds=("Namespace",)
        )
        assert result.ok, result.error
        assert f"ConfigMap {extra}/inside" in result.created
        assert live(dyn, "ConfigMap", "inside", extra) is not None
        parent = live(dyn, "ConfigMap", "applyset-shop", gitops.namespace)
        assert parent["metadata"]["annotations"][NAMESPACES] == extra
    finally:
        dyn.resources.get(api_version="v1", kind="Namespace").delete(name=extra)


# -- CRDs, Kustomize, Helm --------------------------------------------------------------


def test_a_crd_and_its_custom_resource_apply_in_one_sync(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    sha = gitops.commit({"apps/shop/crd.yaml": dump(crd), "apps/shop/widget.yaml": dump(widget)})
    try:
        result = gitops.sync(sha, allowed_cluster_kinds=("CustomResourceDefinition",))
        assert result.ok, result.error
        assert f"Widget {gitops.namespace}/w" in result.created
        got = live(dyn, "Widget", "w", gitops.namespace, f"{group}/v1")
        assert got["spec"] == {"size": 3}
        again = gitops.sync(sha)
        assert again.ok and (again.created, again.configured) == ((), ())
    finally:
        dyn.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        ).delete(name=f"widgets.{group}")


def test_a_kustomize_app_is_built_and_applied(gitops: GitOps, dyn: DynamicClient) -> None:
    sha = gitops.commit(
        {
            "apps/shop/cm.yaml": dump(cm("settings")),
            "apps/shop/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: k-\n",
        }
    )
    result = gitops.sync(sha)
    assert result.ok, result.error
    assert live(dyn, "ConfigMap", "k-settings", gitops.namespace) is not None


def test_a_helm_app_is_templated_and_applied(gitops: GitOps, dyn: DynamicClient) -> None:
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  colour: {{ .Values.colour }}\n"
    )
    sha = gitops.commit(
        {
            "apps/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "apps/shop/values.yaml": "colour: blue\n",
            "apps/shop/prod.yaml": "colour: green\n",
            "apps/shop/templates/cm.yaml": template,
        }
    )
    helm = HelmConfig(release_name="store", values_files=("prod.yaml",))
    result = gitops.sync(sha, helm=helm)
    assert result.ok, result.error
    assert live(dyn, "ConfigMap", "store-settings", gitops.namespace)["data"] == {"colour": "green"}


# -- impersonation --------------------------------------------------------------------


def test_an_impersonated_service_account_without_rights_is_refused_by_rbac(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    client.CoreV1Api(k8s_api_client).create_namespaced_service_account(
        ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="deployer"))
    )
    sha = gitops.commit({"apps/shop/a.yaml": dump(cm("a"))})
    result = gitops.sync(sha, service_account="deployer")
    assert not result.ok
    assert "forbidden" in (result.error or "").lower()
    assert f"system:serviceaccount:{ns}:deployer" in (result.error or "")
    assert live(dyn, "ConfigMap", "a", ns) is None
    # Granted ConfigMaps in its namespace (and nothing else), the same sync goes through.
    rbac = client.RbacAuthorizationV1Api(k8s_api_client)
    rbac.create_namespaced_role(
        ns,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="deployer"),
            rules=[
                client.V1PolicyRule(
                    api_groups=[""],
                    resources=["configmaps"],
                    verbs=["get", "list", "create", "update", "patch", "delete"],
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        ns,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="deployer"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="deployer"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=ns)],
        ),
    )
    result = gitops.sync(sha, service_account="deployer")
    assert result.ok, result.error


# -- health ---------------------------------------------------------------------------


def test_a_deployment_that_never_becomes_available_times_out_naming_it(gitops: GitOps) -> None:
    sha = gitops.commit({"apps/shop/web.yaml": dump(deployment("web"))})
    result = gitops.sync(sha, health_timeout=2)
    assert result.error_kind == "health"
    assert (result.error or "").startswith("not healthy after 2s: Deployment web: ")
    assert result.created == (f"Deployment {gitops.namespace}/web",)


def test_a_deployment_becomes_healthy_on_a_cluster_with_nodes(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> None:
    ops = make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)
    sha = ops.commit({"apps/shop/web.yaml": dump(deployment("web", replicas=2), service("web"))})
    result = ops.sync(sha, health_timeout=120)
    assert result.ok, result.error
    health = {h.object: h for h in result.health}
    web = health[f"Deployment {namespace_with_nodes}/web"]
    assert (web.status, web.message) == ("Current", "Deployment web: 2/2 available")


# -- manual mode, diff and drift ----------------------------------------------------------


def test_manual_mode_plans_without_applying_until_approved(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"password": base64.b64encode(b"hunter2").decode()},
    }
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), secret)})
    engine = gitops.engine(auto_sync=False)
    outcome = run_job(engine, job(sha))
    assert outcome.state is JobState.OUT_OF_SYNC
    assert outcome.message == "out of sync: 2 to create, 0 to change; awaiting approval"
    assert live(dyn, "ConfigMap", "a", gitops.namespace) is None
    text = engine.diff(gitops.app, sha)
    assert f"+++ desired/ConfigMap/{gitops.namespace}/a" in text
    assert "hunter2" not in text and "aHVudGVyMg" not in text
    assert "+  password: <redacted>" in text
    approved = run_job(engine, job(sha, approved=True))
    assert approved.state is JobState.SUCCEEDED, approved.message
    assert run_job(engine, job(sha)).state is JobState.SUCCEEDED  # nothing left to do


def test_drift_is_detected_and_a_resync_repairs_it(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "desired"))})
    engine = gitops.engine()
    assert engine.sync(gitops.app, sha).ok
    assert engine.head(gitops.app) == sha
    assert engine.live_drift(gitops.app, sha) is False
    client.CoreV1Api(k8s_api_client).patch_namespaced_config_map(
        "a", gitops.namespace, {"data": {"value": "edited by hand"}}
    )
    assert engine.live_drift(gitops.app, sha) is True
    assert "edited by hand" in engine.diff(gitops.app, sha)
    result = engine.sync(gitops.app, sha)
    assert result.configured == (f"ConfigMap {gitops.namespace}/a",)
    assert live(dyn, "ConfigMap", "a", gitops.namespace)["data"] == {"value": "desired"}


# -- infrastructure -------------------------------------------------------------------


def dead_kubeconfig(path: Path, user: dict[str, Any]) -> Path:
    """A kubeconfig for a server nobody listens on (port 1), with ``user``'s credentials."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
                "current-context": "dead",
            }
        )
    )
    return path


def test_an_unreachable_cluster_is_an_infrastructure_failure(tmp_path: Path) -> None:
    kubeconfig = dead_kubeconfig(tmp_path / "dead.kubeconfig", {"token": "t"})
    ops = make_gitops(tmp_path, kubeconfig, "shop")
    sha = ops.commit({"apps/shop/a.yaml": dump(cm("a"))})
    outcome = run_job(ops.engine(), job(sha))
    assert outcome.state is JobState.FAILED
    assert outcome.result["error_kind"] == "infrastructure"
    assert "unreachable" in outcome.message


@pytest.fixture(autouse=True)
def _no_stray_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The engine gets its kubeconfig explicitly; the environment must not leak one in."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield
