"""Plain YAML scalars read as the Go tools read them, found on real repositories.

prometheus-community/helm-charts' ``prometheus-operator-crds`` (the CRDs of
prometheus-operator, Apache-2.0) writes an enum as ``- =``: PyYAML reads ``=`` as YAML 1.1's
``!!value`` and the render refused the chart, where ``helm install``, Argo CD and Flux apply
it (``=`` is a string for Go's yaml.v2 and yaml.v3). YAML 1.1's sexagesimal numbers
(``1:30`` -> 90) are strings there too, and ``1e3``, ``0o17``, ``09`` are numbers.

The reference is the real Go reader: ``kubectl label --local -o json`` (sigs.k8s.io/yaml, as
kubectl, ``helm install`` and Argo CD read manifests) prints the object as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from webhook.render import parse_stream, render

pytestmark = pytest.mark.usefixtures("tools")

#: An excerpt of monitoring.coreos.com_alertmanagerconfigs.yaml (prometheus-operator,
#: Apache-2.0), cut down to the enum that tripped the render.
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: alertmanagerconfigs.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names:
    kind: AlertmanagerConfig
    plural: alertmanagerconfigs
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          matchType:
            description: |-
              Valid values: "=" (equality), "!=" (inequality), "=~" (regex match).
            enum:
            - '!='
            - =
            - =~
            - '!~'
            type: string
"""


def go_reads(path: Path) -> list[dict[str, Any]]:
    """The objects of ``path`` as kubectl (sigs.k8s.io/yaml) reads them, offline."""
    out = subprocess.run(
        ["kubectl", "label", "--local", "-f", str(path), "-o", "json", "probe=1"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "KUBECONFIG": os.devnull},
    ).stdout
    decoder, objects, at = json.JSONDecoder(), [], 0
    while at < len(out.rstrip()):
        obj, at = decoder.raw_decode(out, at)
        while at < len(out) and out[at].isspace():
            at += 1
        del obj["metadata"]["labels"]["probe"]
        if not obj["metadata"]["labels"]:
            del obj["metadata"]["labels"]
        objects.append(obj)
    return objects


def test_a_crd_enum_holding_an_equals_sign_renders_as_helm_reads_it(tmp_path: Path) -> None:
    chart = tmp_path / "prometheus-operator-crds"
    (chart / "crds").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: crds\nversion: 1.0.0\n")
    (chart / "crds" / "alertmanagerconfigs.yaml").write_text(CRD)
    (out,) = render(chart, "charts/crds", release="crds", namespace="monitoring")
    schema = out.body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["matchType"]["enum"] == ["!=", "=", "=~", "!~"]
    assert [out.body] == go_reads(chart / "crds" / "alertmanagerconfigs.yaml")


SCALARS = [
    "=",
    "==",
    "1:30",
    "-1:30",
    "190:20:30",
    "1:30.5",
    "1e3",
    "1.5e3",
    "1E+3",
    ".5e3",
    ".5_0",
    "0o17",
    "0O17",
    "0X1f",
    "0x1F",
    "0777",
    "09",
    "08.5",
    "1_000",
    "-0b11",
    "+12",
    "1.",
    "-x1",
    "2001-12-14",
    "12:30:00",
]


#: Go turns a float key into text its own way (``FormatFloat(k, 'g', -1, 32)``); such keys
#: are refused here (test_render), so keys are checked with the others only.
FLOATS = {"1e3", "1.5e3", "1E+3", ".5e3", ".5_0", "09", "08.5", "1."}


@pytest.mark.parametrize("scalar", SCALARS)
def test_a_plain_scalar_reads_as_go_reads_it(tmp_path: Path, scalar: str) -> None:
    key = "" if scalar in FLOATS else f"  {scalar}: key\n"
    text = (
        "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: thing\n"
        f"spec:\n  value: {scalar}\n  list: [{scalar}]\n{key}"
    )
    (tmp_path / "thing.yaml").write_text(text)
    (mine,) = parse_stream(text, "thing.yaml")
    (go,) = go_reads(tmp_path / "thing.yaml")
    assert mine.body == go


def test_kustomize_output_with_an_equals_sign_renders(tmp_path: Path) -> None:
    """kustomize (yaml.v3) writes ``=`` back unquoted; its output must read as it did."""
    (tmp_path / "crd.yaml").write_text(CRD)
    (tmp_path / "kustomization.yaml").write_text("resources: [crd.yaml]\n")
    (out,) = render(tmp_path, "apps/crds", release="x", namespace="monitoring")
    assert [out.body] == go_reads(tmp_path / "crd.yaml")
