"""``scripts/run`` on a machine whose PATH has no helm or kustomize: scripts/setup links the
test tooling's builds, so a Helm app and a Kustomize app render and diff against the real
control plane (the README's first command, minus the server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.gitops import GitOps, cm, dump

REPO = Path(__file__).resolve().parents[1]

CHART = {
    "apps/chart/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "apps/chart/values.yaml": "greeting: hello\n",
    "apps/chart/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  greeting: {{ .Values.greeting }}\n"
    ),
}
KUSTOMIZATION = {
    "apps/kust/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: dev-\n",
    "apps/kust/cm.yaml": dump(cm("settings", "v1")),
}


def path_without_render_tools() -> str:
    """This process's PATH minus every folder holding helm or kustomize (the test tools')."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    kept = [d for d in folders if not any((Path(d) / t).exists() for t in ("helm", "kustomize"))]
    path = os.pathsep.join(kept)
    assert shutil.which("helm", path=path) is None and shutil.which("kustomize", path=path) is None
    return path


@pytest.fixture
def repo(gitops: GitOps) -> GitOps:
    """The test repository with a Helm app and a Kustomize app."""
    gitops.commit({**CHART, **KUSTOMIZATION})
    return gitops


@pytest.mark.parametrize(
    ("app", "expected"), [("chart", "chart-settings"), ("kust", "dev-settings")]
)
def test_scripts_run_renders_helm_and_kustomize_apps_without_them_on_path(
    repo: GitOps, tmp_path: Path, kubeconfig: Path, app: str, expected: str
) -> None:
    config = tmp_path / "deployer.yaml"
    apps = [
        {"name": name, "repo": "acme/gitops", "path": f"apps/{name}", "namespace": repo.namespace}
        for name in ("chart", "kust")
    ]
    repos = {"acme/gitops": {"clone_url": f"file://{repo.origin}"}}
    config.write_text(yaml.safe_dump({"apps": apps, "repos": repos}))
    proc = subprocess.run(
        [str(REPO / "scripts" / "run"), "diff", "--config", str(config), app, "-o", "json"],
        env={
            **os.environ,
            "PATH": path_without_render_tools(),
            "KUBECONFIG": str(kubeconfig),
            "DEPLOYER_CACHE_DIR": str(tmp_path / "cache"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # rendered, and the object is still to create
    [change] = json.loads(proc.stdout)
    assert (change["object"], change["action"]) == (
        f"ConfigMap {repo.namespace}/{expected}",
        "created",
    )
