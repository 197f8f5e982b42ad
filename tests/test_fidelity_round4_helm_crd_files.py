"""A chart's ``crds/`` file with a ``---`` inside, rendered as ``helm install`` renders it.

prometheus-community/helm-charts' kube-prometheus-stack (Apache-2.0) vendors the
prometheus-operator CRDs in ``charts/crds/crds/crd-*.yaml``; each file opens with a URL
comment and then ``---``, as controller-gen writes CRDs, and other charts keep several CRDs
in one file. ``helm template`` copies a ``crds/`` file as it is after one ``# Source:``
comment, so the documents after a ``---`` inside it carried no source: the render did not
count them as the chart's CRDs, and a template gated on
``.Capabilities.APIVersions.Has "<group>/<version>/<Kind>"`` of such a CRD was left out,
where ``helm install`` creates the CRDs first and renders it. The fixture is written anew.

The reference is the real ``helm install`` into the suite's API server: what it stored for
the release (``helm get manifest``) and the CRDs it created (``helm show crds``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.plugins.cluster import ControlPlane
from webhook.render import Capabilities, HelmOptions, render

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {singular}}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""

#: Gated as charts gate a ServiceMonitor on the operator's CRDs being served.
GATED = """{{- if .Capabilities.APIVersions.Has "%(group)s/v1/Gadget" }}
apiVersion: %(group)s/v1
kind: Gadget
metadata:
  name: {{ .Release.Name }}-gadget
spec:
  size: 3
{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-plain
data:
  gadgets: {{ .Capabilities.APIVersions.Has "%(group)s/v1" | quote }}
"""


def _chart(root: Path, group: str) -> Path:
    chart = root / "gadgets"
    (chart / "crds").mkdir(parents=True)
    (chart / "templates").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: gadgets\nversion: 1.0.0\n")
    widget = CRD.format(group=group, kind="Widget", plural="widgets", singular="widget")
    gadget = CRD.format(group=group, kind="Gadget", plural="gadgets", singular="gadget")
    # As kube-prometheus-stack's files: a comment, then controller-gen's leading ``---``;
    # two CRDs in one file, as other charts keep them.
    (chart / "crds" / "crds.yaml").write_text(
        f"# https://example.com/{group}/crds.yaml\n---\n{widget}---\n{gadget}"
    )
    (chart / "templates" / "gadget.yaml").write_text(GATED % {"group": group})
    return chart


def _helm(cp: ControlPlane, *args: str, cwd: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "KUBECONFIG": str(cp.kubeconfig)}
    done = subprocess.run(["helm", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture
def group(control_plane: ControlPlane) -> Iterator[str]:
    """A CRD group of this test alone; its CRDs (which helm never deletes) go afterwards."""
    name = f"g{uuid.uuid4().hex[:8]}.example.com"
    yield name
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        crds = client.ApiextensionsV1Api(api)
        for plural in ("widgets", "gadgets"):
            try:
                crds.delete_custom_resource_definition(f"{plural}.{name}")
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
    finally:
        api.close()


def test_every_crd_of_a_crds_file_counts_as_helm_install_creates_it(
    control_plane: ControlPlane, namespace: str, group: str, tmp_path: Path
) -> None:
    chart = _chart(tmp_path, group)
    out = render(
        chart,
        "charts/gadgets",
        release="shop",
        namespace=namespace,
        helm=HelmOptions(capabilities=Capabilities("v1.34.4")),
    )

    _helm(control_plane, "install", "shop", ".", "--namespace", namespace, cwd=chart)
    installed = _documents(
        _helm(control_plane, "get", "manifest", "shop", "-n", namespace, cwd=chart)
    )
    crds = _documents(_helm(control_plane, "show", "crds", ".", cwd=chart))

    assert sorted(c["metadata"]["name"] for c in crds) == [f"gadgets.{group}", f"widgets.{group}"]
    assert [r.body for r in out if r.crd] == crds
    assert all(r.source == "helm gadgets/crds/crds.yaml" for r in out if r.crd)
    templated = [r.body for r in out if not r.crd]
    key = lambda body: (body["kind"], body["metadata"]["name"])  # noqa: E731
    assert sorted(templated, key=key) == sorted(installed, key=key)
    assert {"kind": "Gadget", "name": "shop-gadget"} in [
        {"kind": b["kind"], "name": b["metadata"]["name"]} for b in templated
    ]
