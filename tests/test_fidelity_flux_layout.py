"""A folder without a kustomization whose subfolders have one, as Flux repositories lay out
``apps/`` (fluxcd/flux2-kustomize-helm-example, Apache-2.0: ``apps/base/podinfo`` beside
plain files): Flux generates a kustomization naming each such subfolder (not descending into
it) and each YAML file, then builds it. The deployer must render what that build renders,
not the subfolder's kustomization.yaml and patches as objects of their own.

The reference is the real kustomize building the kustomization Flux's generator would write.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from webhook.render import RenderError, inputs_of, parse_stream, render

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.7.0
"""
PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 2
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    write(repo, "shared/podinfo/kustomization.yaml", "resources: [deployment.yaml]\n")
    write(repo, "shared/podinfo/deployment.yaml", DEPLOYMENT)
    write(
        repo,
        "apps/staging/podinfo/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: podinfo\nnamePrefix: staging-\nresources: [../../../shared/podinfo]\n"
        "patches:\n- path: replicas.yaml\n",
    )
    write(repo, "apps/staging/podinfo/replicas.yaml", PATCH)
    write(
        repo,
        "apps/staging/config/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    )
    return repo


def flux_build(repo: Path, app: str, tmp_path: Path) -> list[dict[str, object]]:
    """What Flux builds: its generated kustomization, then kustomize without the restrictor."""
    copy = tmp_path / "flux"
    shutil.copytree(repo, copy)
    generated = "resources:\n- ./config/settings.yaml\n- ./podinfo\n"
    write(copy, f"{app}/kustomization.yaml", generated)
    out = subprocess.run(
        ["kustomize", "build", "--load-restrictor", "LoadRestrictionsNone", "."],
        cwd=copy / app,
        capture_output=True,
        text=True,
        check=True,
    )
    return [r.body for r in parse_stream(out.stdout, "flux")]


def ident(body: dict[str, object]) -> tuple[str, str]:
    meta = body["metadata"]
    assert isinstance(meta, dict)
    return str(body["kind"]), str(meta["name"])


@pytest.mark.usefixtures("tools")
def test_a_subfolder_with_a_kustomization_is_built_as_flux_builds_it(
    repo: Path, tmp_path: Path
) -> None:
    ours = render(
        repo / "apps/staging", "apps/staging", release="x", namespace="ns", checkout_root=repo
    )
    reference = flux_build(repo, "apps/staging", tmp_path)
    assert sorted(ident(o.body) for o in ours) == sorted(ident(b) for b in reference)
    assert sorted(str(o.body) for o in ours) == sorted(str(b) for b in reference)
    deployment = next(o for o in ours if o.body["kind"] == "Deployment")
    assert deployment.body["metadata"]["namespace"] == "podinfo"
    assert deployment.body["spec"]["replicas"] == 2
    assert deployment.source.startswith("kustomize build apps/staging/podinfo:")


def test_the_subfolders_kustomization_graph_is_checked_and_recorded(repo: Path) -> None:
    inputs = inputs_of(repo / "apps/staging", "apps/staging", boundary=repo)
    assert "shared/podinfo/" in inputs and "shared/podinfo/deployment.yaml" in inputs
    write(repo, "apps/staging/podinfo/kustomization.yaml", "resources: [http://127.0.0.1:9/x]\n")
    with pytest.raises(RenderError, match=r"^apps/staging/podinfo/kustomization\.yaml: resources"):
        render(repo / "apps/staging", "apps/staging", release="x", namespace="ns")


def test_ci_and_tool_configurations_flux_ignores_are_left_out(repo: Path) -> None:
    """A repository root as the app folder: its CI workflows and ``.sops.yaml`` are no
    Kubernetes objects, and Flux leaves them out of the source by default."""
    write(repo, ".github/workflows/ci.yaml", "on: push\njobs: {}\n")
    write(repo, "apps/.sops.yaml", "creation_rules: []\n")
    write(repo, "apps/.gitlab-ci.yml", "stages: [test]\n")
    (repo / "shared/podinfo/kustomization.yaml").unlink()
    (repo / "apps/staging/podinfo/kustomization.yaml").unlink()
    (repo / "apps/staging/podinfo/replicas.yaml").unlink()
    objects = render(repo, "repo", release="x", namespace="ns")
    assert sorted(o.source for o in objects) == [
        "repo/apps/staging/config/settings.yaml:1",
        "repo/shared/podinfo/deployment.yaml:1",
    ]


@pytest.mark.usefixtures("tools")
def test_utf16_files_with_a_byte_order_mark_read_as_kustomize_reads_them(tmp_path: Path) -> None:
    """What PowerShell's ``>`` writes on Windows: kustomize reads it, so the pre-check must
    read it too (a remote base in it is still found) and a plain folder renders it."""
    app = tmp_path / "app"
    write(app, "cm.yaml", "")
    (app / "cm.yaml").write_bytes(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\n".encode("utf-16")
    )
    (obj,) = render(app, "apps/x", release="x", namespace="ns")
    assert obj.body["metadata"]["name"] == "wide"
    (app / "kustomization.yaml").write_bytes("resources: [cm.yaml]\n".encode("utf-16"))
    reference = subprocess.run(["kustomize", "build", "."], cwd=app, capture_output=True, text=True)
    assert "name: wide" in reference.stdout
    (obj,) = render(app, "apps/x", release="x", namespace="ns")
    assert obj.body["metadata"]["name"] == "wide"
    (app / "kustomization.yaml").write_bytes("resources: [http://127.0.0.1:9/x]\n".encode("utf-16"))
    with pytest.raises(RenderError, match=r"^apps/x/kustomization\.yaml: resources: remote"):
        render(app, "apps/x", release="x", namespace="ns")
