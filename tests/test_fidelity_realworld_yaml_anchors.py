"""YAML anchors as the Go tools read them, found on a real repository.

billimek/k8s-gitops (Apache-2.0), ``kubernetes/default/plex/plex.yaml``: one HelmRelease
defines ``&port`` twice (a probe's port, later a Service's port) and uses ``*port`` after
each. YAML 1.2 lets an anchor be defined again (an alias names the latest), and so do Go's
yaml.v2 (kubectl, Argo CD) and yaml.v3 (kustomize, Flux); PyYAML refused the whole file
("found duplicate anchor"). An alias inside the very node it names is a cycle that JSON
cannot hold: Go refuses it, and so must the render (a RenderError, not a crash later).

The references are the real tools: ``kubectl label --local -o json`` (sigs.k8s.io/yaml) and
``kustomize build``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_fidelity_realworld_yaml_scalars import go_reads
from webhook.render import RenderError, parse_stream, render

pytestmark = pytest.mark.usefixtures("tools")

#: Cut down from plex.yaml: the anchor, its aliases, the anchor again, its alias.
HELM_RELEASE = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: plex
spec:
  values:
    controllers:
      plex:
        containers:
          app:
            probes:
              liveness: &probes
                enabled: true
                spec:
                  httpGet:
                    path: /identity
                    port: &port 32400
              readiness: *probes
    route:
      app:
        rules:
          - backendRefs:
              - identifier: gateway
                port: *port
    service:
      app:
        ports:
          http:
            port: &port 32401
      gateway:
        ports:
          http:
            port: *port
"""


def kubectl_reads(path: Path) -> dict[str, Any]:
    """The one object of ``path`` as kubectl (sigs.k8s.io/yaml) reads it, offline."""
    [obj] = go_reads(path)
    return obj


def test_an_anchor_defined_again_names_the_latest_node_as_go_reads_it(tmp_path: Path) -> None:
    (tmp_path / "plex.yaml").write_text(HELM_RELEASE)
    (obj,) = parse_stream(HELM_RELEASE, "plex.yaml")
    values = obj.body["spec"]["values"]
    assert values["route"]["app"]["rules"][0]["backendRefs"][0]["port"] == 32400
    assert values["service"]["gateway"]["ports"]["http"]["port"] == 32401
    assert obj.body == kubectl_reads(tmp_path / "plex.yaml")


def test_a_plain_folder_with_it_renders_as_flux_builds_it(tmp_path: Path) -> None:
    """Flux's generated kustomization names the file; kustomize (yaml.v3) builds it."""
    app = tmp_path / "kubernetes" / "default" / "plex"
    app.mkdir(parents=True)
    (app / "plex.yaml").write_text(HELM_RELEASE)
    (out,) = render(app, "kubernetes/default/plex", release="plex", namespace="default")
    (app / "kustomization.yaml").write_text("resources: [plex.yaml]\n")
    built = subprocess.run(
        ["kustomize", "build", str(app)], capture_output=True, text=True, check=True
    ).stdout
    (tmp_path / "built.yaml").write_text(built)
    assert out.body == kubectl_reads(tmp_path / "built.yaml")


@pytest.mark.parametrize(
    "text",
    ["a: &x [1, *x]\n", "a: &x {k: *x}\n", "a: &x 1\nb: &x [*x]\n"],
    ids=["list", "mapping", "redefined-in-itself"],
)
def test_an_alias_inside_the_node_it_names_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(RenderError, match=r"^c\.yaml:\d+: invalid YAML: alias \*x is inside"):
        parse_stream(text, "c.yaml")
    (tmp_path / "c.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  " + text
    )
    failed = subprocess.run(
        ["kubectl", "label", "--local", "-f", str(tmp_path / "c.yaml"), "-o", "json", "p=1"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "KUBECONFIG": os.devnull},
    )
    assert failed.returncode != 0  # Go refuses it too
