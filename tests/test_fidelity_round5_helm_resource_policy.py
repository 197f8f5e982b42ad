"""A chart object annotated ``helm.sh/resource-policy: keep`` that leaves the chart stays.

Charts keep what losing would lose data with this annotation: bitnami/charts (Apache-2.0)
puts it on generated password Secrets and PVCs (``common.secrets`` / ``*.persistence``
templates), cert-manager and many operators on their CRDs. ``helm upgrade`` to a revision
without such an object leaves it in the cluster, while it deletes the other objects that
left the chart. The deployer pruned it with the rest (``prune: true``): the first commit
that dropped the template deleted the Secret the chart had told Helm to keep.

The reference is the real ``helm install`` then ``helm upgrade`` into the suite's API
server, in the same namespace under another release name: the ConfigMaps each leaves
behind must be the same. The chart is written anew for the test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kubernetes import client, config

from tests.gitops import make_gitops
from tests.plugins.cluster import ControlPlane
from webhook.settings import HelmConfig

KEPT = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-kept
  annotations:
    helm.sh/resource-policy: keep
data: {a: "1"}
"""
PLAIN = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-plain
data: {a: "1"}
"""
STAYS = PLAIN.replace("-plain", "-stays")
CHART = "apiVersion: v2\nname: store\nversion: 1.0.0\n"


def _revision(root: Path, templates: dict[str, str]) -> dict[str, str]:
    """The chart's files under ``root``, on disk and as a commit's file map."""
    files = {"Chart.yaml": CHART, **{f"templates/{k}": v for k, v in templates.items()}}
    for old in (root / "templates").glob("*") if (root / "templates").exists() else []:
        old.unlink()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {f"apps/shop/{k}": v for k, v in files.items()}


def _helm(cp: ControlPlane, *args: str, cwd: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "KUBECONFIG": str(cp.kubeconfig)}
    done = subprocess.run(["helm", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _config_maps(cp: ControlPlane, namespace: str, release: str) -> list[str]:
    """The release's ConfigMaps in the namespace, named without the release prefix."""
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        items = client.CoreV1Api(api).list_namespaced_config_map(namespace).items
    finally:
        api.close()
    names = [i.metadata.name for i in items]
    return sorted(n.removeprefix(f"{release}-") for n in names if n.startswith(f"{release}-"))


def test_a_kept_object_that_leaves_the_chart_stays_as_helm_upgrade_leaves_it(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    ops = make_gitops(tmp_path, control_plane.kubeconfig, namespace)
    first = {"kept.yaml": KEPT, "plain.yaml": PLAIN, "stays.yaml": STAYS}

    ops_files = _revision(chart, first)
    _helm(control_plane, "install", "ref", ".", "--namespace", namespace, cwd=chart)
    result = ops.sync(ops.commit(ops_files), helm=HelmConfig(release_name="ours"), prune=True)
    assert result.ok, result.errors
    assert _config_maps(control_plane, namespace, "ours") == ["kept", "plain", "stays"]

    ops_files = _revision(chart, {"stays.yaml": STAYS})
    _helm(control_plane, "upgrade", "ref", ".", "--namespace", namespace, cwd=chart)
    removed = ("apps/shop/templates/kept.yaml", "apps/shop/templates/plain.yaml")
    result = ops.sync(
        ops.commit(ops_files, remove=removed), helm=HelmConfig(release_name="ours"), prune=True
    )
    assert result.ok, result.errors

    helm_left = _config_maps(control_plane, namespace, "ref")
    assert helm_left == ["kept", "stays"]
    assert _config_maps(control_plane, namespace, "ours") == helm_left
    assert [str(r) for r in result.pruned] == [f"ConfigMap {namespace}/ours-plain"]
