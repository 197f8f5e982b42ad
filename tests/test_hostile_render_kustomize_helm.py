"""Kustomize's Helm inflation (``kustomize.enable_helm``) against the real kustomize and helm:
fields of a ``helmCharts`` entry that kustomize hands to helm as they are.

Kustomize puts ``releaseName`` on helm's command line as its own argument and joins ``name``
and ``version`` into paths (the chart's folder, and a values file it writes beside its
scratch folder). Without the pre-check, ``releaseName: --post-renderer=./x.sh`` runs a
program from the pull request on the deployer, and ``name: ../../..`` renders a chart (its
``.Files`` included) from outside the checkout and writes a file there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from webhook.render import RenderError, render, tools

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
CHART = "apiVersion: v2\nname: {name}\nversion: 0.1.0\n"
POST_RENDERER = "#!/bin/sh\necho ran > {mark}\ncat\n"


def write(root: Path, rel: str, text: str, mode: int = 0o644) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def local_chart(app: Path) -> None:
    write(app, "charts/local/Chart.yaml", CHART.format(name="local"))
    write(app, "charts/local/values.yaml", "{}\n")
    write(app, "charts/local/templates/cm.yaml", CM.format(name="{{ .Release.Name }}-cm"))


def build(app: Path) -> list[str]:
    objects = render(app, "apps/x", release="x", namespace="ns", enable_helm=True)
    return [o.body["metadata"]["name"] for o in objects]


def kustomize_alone(app: Path) -> subprocess.CompletedProcess[str]:
    """What the real kustomize does with the folder when nothing checks it first."""
    argv = ["kustomize", "build", "--enable-helm", "--helm-command", tools.which("helm", "x")]
    return subprocess.run([*argv, "."], cwd=app, capture_output=True, text=True, check=False)


@pytest.mark.usefixtures("tools")
def test_a_release_name_that_is_a_flag_would_run_the_repositorys_program(tmp_path: Path) -> None:
    """Kustomize alone runs the post-renderer; the deployer refuses before it runs anything."""
    app, mark = tmp_path / "checkout", tmp_path / "ran"
    local_chart(app)
    write(app, "x.sh", POST_RENDERER.format(mark=mark), 0o755)
    kustomization = "helmCharts:\n- name: local\n  releaseName: --post-renderer=./x.sh\n"
    write(app, "kustomization.yaml", kustomization)
    assert kustomize_alone(app).returncode == 0 and mark.read_text() == "ran\n"
    mark.unlink()
    with pytest.raises(
        RenderError,
        match=r"^apps/x/kustomization\.yaml: `releaseName` '--post-renderer=\./x\.sh' starts "
        r"with '-', which helm would read as a flag",
    ):
        build(app)
    assert not mark.exists()


@pytest.mark.parametrize(
    ("entry", "cause"),
    [
        ("releaseName: Rel_1", r"releaseName 'Rel_1' is not a Helm release name"),
        ("releaseName: " + "r" * 54, r"releaseName .r{54}. is not a Helm release name"),
        ("namespace: --kubeconfig=/etc/k", r"`namespace` '--kubeconfig=/etc/k' starts with '-'"),
        ("apiVersions: [v1, --debug]", r"`apiVersions` '--debug' starts with '-'"),
        ("version: ../../x", r"chart version '\.\./\.\./x' is not a version"),
    ],
    ids=["release-rules", "release-length", "namespace", "list-item", "version-path"],
)
def test_chart_fields_helm_would_misread_are_refused(
    tmp_path: Path, entry: str, cause: str
) -> None:
    app = tmp_path / "checkout"
    local_chart(app)
    write(app, "kustomization.yaml", f"helmCharts:\n- name: local\n  {entry}\n")
    with pytest.raises(RenderError, match=rf"^apps/x/kustomization\.yaml: {cause}"):
        build(app)


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("field", ["helmCharts", "helmChartInflationGenerator"])
def test_a_chart_name_that_is_a_path_is_refused(tmp_path: Path, field: str) -> None:
    """``name: ../../outside/c`` (or the legacy ``chartName``) renders a chart from outside
    the checkout with kustomize alone, ``.Files.Get`` of its secret included."""
    outside = tmp_path / "outside" / "c"
    write(outside, "Chart.yaml", CHART.format(name="c"))
    write(outside, "secret.txt", "top-secret\n")
    write(
        outside,
        "templates/cm.yaml",
        CM.format(name="leak") + 'data: {s: {{ .Files.Get "secret.txt" | quote }}}\n',
    )
    app = tmp_path / "checkout"
    write(app, "v.yaml", "{}\n")
    ups = "../" * len(app.resolve().parts)  # from chartHome and from the scratch folder
    name = f"{ups}{outside.resolve().as_posix().lstrip('/')}"
    key, values = ("name", "valuesFile") if field == "helmCharts" else ("chartName", "values")
    write(
        app,
        "kustomization.yaml",
        f"{field}:\n- {key}: {name}\n  releaseName: r\n  {values}: v.yaml\n",
    )
    if field == "helmCharts":
        alone = kustomize_alone(app)
        assert alone.returncode == 0 and "top-secret" in alone.stdout
        assert (outside.parent / "c-kustomize-values.yaml").exists(), "kustomize wrote outside"
        (outside.parent / "c-kustomize-values.yaml").unlink()
    with pytest.raises(
        RenderError, match=r"kustomization\.yaml: chart name '\.\./.*' is not a chart name"
    ):
        build(app)
    assert not (outside.parent / "c-kustomize-values.yaml").exists()


def test_a_legacy_helm_home_outside_the_checkout_is_refused(tmp_path: Path) -> None:
    app = tmp_path / "checkout"
    local_chart(app)
    write(
        app,
        "kustomization.yaml",
        "helmChartInflationGenerator:\n- chartName: local\n  helmHome: /etc\n",
    )
    with pytest.raises(RenderError, match=r"'/etc' leaves the checkout"):
        build(app)


@pytest.mark.usefixtures("tools")
def test_ordinary_chart_fields_still_render(tmp_path: Path) -> None:
    app = tmp_path / "checkout"
    local_chart(app)
    write(
        app,
        "kustomization.yaml",
        "helmCharts:\n- name: local\n  releaseName: my-rel.v2\n  namespace: other\n"
        "  apiVersions: [monitoring.coreos.com/v1]\n  kubeVersion: '1.30'\n  includeCRDs: true\n",
    )
    assert build(app) == ["my-rel.v2-cm"]
