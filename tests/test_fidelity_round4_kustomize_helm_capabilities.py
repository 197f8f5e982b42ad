"""Charts that kustomize inflates (``helmCharts``) see the target cluster's Capabilities.

Argo CD runs ``kustomize build --enable-helm`` with the cluster's version and served APIs
(``--helm-kube-version``, one ``--helm-api-versions`` per version: argoproj/argo-cd
``util/kustomize``, kustomize 5.3 and later), so a chart inflated by a kustomization
renders as ``helm install`` would on that cluster. Charts gate objects on them:
``.Capabilities.APIVersions.Has "monitoring.coreos.com/v1"`` for a ServiceMonitor (the
pattern of most public charts, e.g. the ones kustomize overlays pull in with
``helmCharts``), ``.Capabilities.KubeVersion`` for API versions. The render passed
neither, so helm's built-in defaults answered: the ServiceMonitor was left out and
the version was helm's own. The fixture is written anew.

The reference is the real ``helm template --validate``, which reads the suite's API server
for its Capabilities as ``helm install`` does; then a sync through the engine, whose objects
the API server stores.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, live, widget_crd
from tests.plugins.cluster import ControlPlane
from webhook.kube.client import Cluster, KubeError
from webhook.render import Capabilities, HelmOptions, render
from webhook.settings import KustomizeConfig

CHART = "apiVersion: v2\nname: probe\nversion: 0.1.0\n"
#: Gated as public charts gate their ServiceMonitor and their API versions.
TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-caps
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "%(group)s/v1/Widget" | quote }}
{{- if .Capabilities.APIVersions.Has "%(group)s/v1" }}
---
apiVersion: %(group)s/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
spec: {}
{{- end }}
"""
KUSTOMIZATION = "helmCharts:\n- name: probe\n  releaseName: shop\n  namespace: {namespace}\n"


def _files(group: str, namespace: str, prefix: str = "") -> dict[str, str]:
    return {
        f"{prefix}kustomization.yaml": KUSTOMIZATION.format(namespace=namespace),
        f"{prefix}charts/probe/Chart.yaml": CHART,
        f"{prefix}charts/probe/values.yaml": "",
        f"{prefix}charts/probe/templates/probe.yaml": TEMPLATE % {"group": group},
    }


@pytest.fixture
def group(control_plane: ControlPlane, dyn: DynamicClient, tmp_path: Path) -> Iterator[str]:
    """A CRD of this test's own group, served by the API server (its discovery lists it)
    while the test runs."""
    name = f"g{uuid.uuid4().hex[:8]}.example.com"
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=widget_crd(name, {}))
    try:
        for attempt in range(100):
            fresh = Cluster(
                context=None,
                cache_dir=tmp_path / f"probe{attempt}",
                kubeconfig=control_plane.kubeconfig,
            )
            with contextlib.suppress(ApiException, KubeError):  # discovery still settling
                if f"{name}/v1/Widget" in fresh.capabilities()[1]:
                    break
            subprocess.run(["sleep", "0.1"], check=True)
        yield name
    finally:
        crds.delete(name=f"widgets.{name}")


def _helm_validate(cp: ControlPlane, chart: Path, namespace: str) -> list[dict[str, Any]]:
    env = {"PATH": os.environ["PATH"], "HOME": str(chart), "KUBECONFIG": str(cp.kubeconfig)}
    argv = ["helm", "template", "shop", str(chart), "--validate", "--namespace", namespace]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.mark.parametrize("prefix", ["", "probe/"], ids=["kustomization", "plain-subfolder"])
def test_an_inflated_chart_renders_as_helm_does_on_the_cluster(
    control_plane: ControlPlane, group: str, tmp_path: Path, prefix: str
) -> None:
    """The app folder's own kustomization, or one in a subfolder of a plain app."""
    app = tmp_path / "app"
    for rel, text in _files(group, "shop-ns", prefix).items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    cluster = Cluster(
        context=None, cache_dir=tmp_path / "cache", kubeconfig=control_plane.kubeconfig
    )
    capabilities = Capabilities(*cluster.capabilities())

    out = render(
        app,
        "apps/probe",
        release="shop",
        namespace="shop-ns",
        enable_helm=True,
        helm=HelmOptions(capabilities=capabilities),
    )
    reference = _helm_validate(control_plane, app / prefix / "charts" / "probe", "shop-ns")

    key = lambda body: (body["kind"], body["metadata"]["name"])  # noqa: E731
    assert sorted((r.body for r in out), key=key) == sorted(reference, key=key)
    (caps,) = [r.body for r in out if r.body["kind"] == "ConfigMap"]
    assert caps["data"] == {"kubeVersion": capabilities.kube_version, "widgets": "true"}


def test_a_sync_gives_the_inflated_chart_the_clusters_capabilities(
    gitops: GitOps, dyn: DynamicClient, group: str
) -> None:
    ops = gitops
    sha = ops.commit(_files(group, ops.namespace, prefix="apps/shop/"))
    result = ops.sync(sha, kustomize=KustomizeConfig(enable_helm=True))
    assert result.ok, result.errors
    widget = live(dyn, "Widget", "shop-widget", ops.namespace, f"{group}/v1")
    assert widget is not None  # left out when helm's defaults answered
    caps = live(dyn, "ConfigMap", "shop-caps", ops.namespace)
    assert caps["data"]["widgets"] == "true"
    assert (
        caps["data"]["kubeVersion"]
        == Cluster(
            context=None, cache_dir=ops.cache / "probe", kubeconfig=ops.kubeconfig
        ).capabilities()[0]
    )
