"""A public-style Helm chart (tests/fixtures/helm/platform) synced on the real control plane
with kwok nodes: its CRD before its custom resource, its test Pod never created, its
Capabilities the cluster's, and its CRD left in place when it leaves the chart."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from kubernetes.dynamic import DynamicClient

from tests.audit import AuditLog
from tests.gitops import GitOps, live, make_gitops, widget_crd
from tests.helm_servers import helm, oci_registry, package, simple_chart
from webhook.app_options import ChartSource, HelmRepository
from webhook.engine import SyncEngine
from webhook.kube.client import CAPABILITIES_MAX_AGE
from webhook.settings import DeployerConfig, Environment, HelmConfig, RepoConfig

PLATFORM = Path(__file__).parent / "fixtures" / "helm" / "platform"
CRD_NAME = "widgets.platform.example.com"


@pytest.fixture
def cluster_dyn(control_plane_with_nodes: Any) -> Iterator[DynamicClient]:
    api = config.new_client_from_config(config_file=str(control_plane_with_nodes.kubeconfig))
    yield DynamicClient(api)
    api.close()


@pytest.fixture
def ops(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> Iterator[GitOps]:
    yield make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)


def _chart_files(prefix: str = "apps/shop") -> dict[str, str]:
    return {
        f"{prefix}/{p.relative_to(PLATFORM).as_posix()}": p.read_text()
        for p in PLATFORM.rglob("*")
        if p.is_file()
    }


def _delete_crd(dyn: DynamicClient) -> None:
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    try:
        crds.delete(name=CRD_NAME)
    except Exception as exc:
        if getattr(exc, "status", None) != 404:
            raise


def test_the_platform_chart_syncs_as_helm_install_would(
    ops: GitOps, cluster_dyn: DynamicClient, control_plane_with_nodes: Any
) -> None:
    audit = AuditLog(
        control_plane_with_nodes.dir / "audit.log", control_plane_with_nodes.kubeconfig
    )
    ns = ops.namespace
    sha = ops.commit(_chart_files())
    mark = audit.mark()
    try:
        result = ops.sync(
            sha,
            helm=HelmConfig(release_name="store"),
            allowed_cluster_kinds=("CustomResourceDefinition",),
            health_timeout=120.0,
        )
        assert result.ok, result.errors
        writes = [r for r in audit.since(mark) if r.write]
        names = [(r.resource, r.name) for r in writes]
        assert names.index(("customresourcedefinitions", CRD_NAME)) < names.index(
            ("widgets", "store-platform")
        )
        test_pod = "store-platform-test-connection"  # templates/tests: never even asked about
        assert not [r for r in audit.since(mark) if (r.resource, r.name) == ("pods", test_pod)]
        assert live(cluster_dyn, "Pod", test_pod, ns) is None
        widget = live(cluster_dyn, "Widget", "store-platform", ns, "platform.example.com/v1")
        assert widget["spec"] == {"size": 3}
        version = cluster_dyn.version["kubernetes"]["gitVersion"]
        seen = live(cluster_dyn, "ConfigMap", "store-platform-capabilities", ns)["data"]
        assert seen == {
            "kubeVersion": version,
            "hasDeployments": "true",
            "hasWidgets": "true",
            "hasServiceMonitors": "false",
            "hasNothing": "false",
        }
        assert live(cluster_dyn, "ConfigMap", "store-cache-config", ns)["data"] == {"port": "6379"}
        hpa = live(cluster_dyn, "HorizontalPodAutoscaler", "store-platform", ns, "autoscaling/v2")
        assert hpa["spec"]["maxReplicas"] == 5

        # The CRD leaves the chart: with prune on, it stays (prune_cluster_scoped is off).
        files = _chart_files()
        gone = [p for p in files if "/crds/" in p]
        later = ops.commit({}, remove=tuple(gone))
        again = ops.sync(later, prune=True)
        assert again.ok, again.errors
        assert f"CustomResourceDefinition {CRD_NAME}" not in again.pruned
        crds = "apiextensions.k8s.io/v1"
        assert live(cluster_dyn, "CustomResourceDefinition", CRD_NAME, None, crds) is not None
    finally:
        _delete_crd(cluster_dyn)


def _engine(ops: GitOps, registries: tuple[HelmRepository, ...] = ()) -> SyncEngine:
    deployer = DeployerConfig(
        apps=(ops.app,),
        repos={"acme/gitops": RepoConfig(clone_url=f"file://{ops.origin}")},
        helm_repositories=registries,
    )
    env = Environment(webhook_secret=b"test")
    return SyncEngine(deployer, env, cache_dir=ops.cache, kubeconfig=ops.kubeconfig)


def test_an_app_takes_its_chart_from_a_registry_and_its_values_from_git(
    tmp_path: Path, kubeconfig: Path, namespace: str, dyn: DynamicClient
) -> None:
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  colour: {{ .Values.colour }}\n"
    )
    tgz = package(simple_chart(tmp_path / "chart", "shop", "1.0.0", template), tmp_path / "pkg")
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    sha = ops.commit({"apps/shop/values-prod.yaml": "colour: green\n"})
    chart = ChartSource(repo="acr", name="shop", version="1.0.0")
    ops.app = ops.app.model_copy(
        update={"helm": HelmConfig(chart=chart, values_files=("values-prod.yaml",))}
    )
    with oci_registry() as host:
        helm("push", str(tgz), f"oci://{host}/charts", "--plain-http")
        registry = HelmRepository(name="acr", url=f"oci://{host}/charts", plain_http=True)
        result = _engine(ops, (registry,)).sync(ops.app, sha)
    assert result.ok, result.errors
    assert live(dyn, "ConfigMap", "shop-settings", namespace)["data"] == {"colour": "green"}
    assert list((ops.cache / "charts").glob("sha256-*.tgz"))


def test_a_dependency_from_a_repository_not_listed_fails_the_sync_before_any_write(
    tmp_path: Path, kubeconfig: Path, namespace: str, api_audit: AuditLog
) -> None:
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    files = {k: v for k, v in _chart_files().items() if "/charts/cache/" not in k}
    sha = ops.commit(files)
    mark = api_audit.mark()
    listed = HelmRepository(name="internal", url="https://charts.internal.example")
    result = _engine(ops, (listed,)).sync(ops.app, sha)
    assert not result.ok and result.error_kind == "render"
    assert "dependency 'cache' from https://charts.example.com/stable" in (result.error or "")
    assert "not in helm_repositories" in (result.error or "")
    assert not [r for r in api_audit.since(mark) if r.write]


def test_capabilities_come_from_cached_discovery_and_are_read_again_when_old(
    tmp_path: Path, kubeconfig: Path, namespace: str, dyn: DynamicClient
) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seen\ndata:\n  widgets: "
        f'{{{{ .Capabilities.APIVersions.Has "{group}/v1/Widget" | quote }}}}\n'
    )
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    files = {
        "apps/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
        "apps/shop/templates/seen.yaml": template,
    }
    first = ops.commit(files)
    assert ops.sync(first).ok
    assert live(dyn, "ConfigMap", "seen", namespace)["data"] == {"widgets": "false"}
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=widget_crd(group, {}))
    try:
        second = ops.commit({**files, "apps/shop/values.yaml": "a: 1\n"})
        assert ops.sync(second).ok  # within the cache's age: the cluster is not asked again
        assert live(dyn, "ConfigMap", "seen", namespace)["data"] == {"widgets": "false"}
        old = time.time() - CAPABILITIES_MAX_AGE - 60
        for cache in (ops.cache / "discovery").glob("*.json"):
            os.utime(cache, (old, old))
        third = ops.commit({**files, "apps/shop/values.yaml": "a: 2\n"})
        assert ops.sync(third).ok
        assert live(dyn, "ConfigMap", "seen", namespace)["data"] == {"widgets": "true"}
    finally:
        crds.delete(name=f"widgets.{group}")
