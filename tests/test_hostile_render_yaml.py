"""A key written twice in one mapping of a manifest file: a reviewer reads the first value,
a last-wins parser applies the second (an image, a command, a hostPath hidden further down).
Kustomize, and so Flux, refuses such a file; the deployer refuses it in every file people
write, naming both lines. Tool output (a Helm chart's templates) is taken as Argo CD takes it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from webhook.render import RenderError, render

HIDDEN = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: registry.example.com/web:1.2.3
    command: [serve]
    resources: {}
    image: attacker.example.com/miner:latest
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.usefixtures("tools")
def test_a_key_written_twice_in_a_manifest_is_refused_as_kustomize_refuses_it(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    write(app, "pod.yaml", HIDDEN)
    with pytest.raises(
        RenderError,
        match=r"^apps/x/pod\.yaml:11: invalid YAML: mapping key 'image' is defined twice in one "
        r"mapping \(also at line 8\)",
    ):
        render(app, "apps/x", release="x", namespace="ns")
    write(app, "kustomization.yaml", "resources: [pod.yaml]\n")
    reference = subprocess.run(["kustomize", "build", "."], cwd=app, capture_output=True, text=True)
    assert reference.returncode != 0 and 'mapping key "image" already defined' in reference.stderr


def test_keys_a_merge_brings_in_may_be_overridden(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(
        app,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
        "x-defaults: &d {a: '1', b: '2'}\ndata:\n  <<: *d\n  b: '3'\n",
    )
    (obj,) = render(app, "apps/x", release="x", namespace="ns")
    assert obj.body["data"] == {"a": "1", "b": "3"}


@pytest.mark.usefixtures("tools")
def test_a_charts_output_keeps_the_last_value_as_argo_cd_reads_it(tmp_path: Path) -> None:
    """Charts that repeat a label through a helper are common; their output is not refused."""
    app = tmp_path / "chart"
    write(app, "Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
    write(
        app,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n"
        "    app: one\n    app: two\n",
    )
    (obj,) = render(app, "apps/x", release="x", namespace="ns")
    assert obj.body["metadata"]["labels"] == {"app": "two"}
