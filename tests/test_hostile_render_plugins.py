"""Kustomize's builtin plugins configured through ``generators``/``transformers``: the same
generators and patches a kustomization's own fields give, in files the pre-check read only for
KRM function annotations. Kustomize fetches their URLs alike (``files``, ``path``, a Helm
chart's ``repo``) and hands a HelmChartInflationGenerator's fields to helm, so each is
checked as the field it stands for. Every case shows the real kustomize reaching the loopback
sinkhole (or running the program) when nothing checks it first.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.plugins.sinkhole import Sinkhole
from webhook.render import RenderError, render, tools

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
CHART = "apiVersion: v2\nname: {name}\nversion: 0.1.0\n"
BUILTIN = "apiVersion: builtin\nkind: {kind}\nmetadata:\n  name: x\n"


def write(root: Path, rel: str, text: str, mode: int = 0o644) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def build(app: Path, **options: object) -> list[str]:
    objects = render(app, "apps/x", release="x", namespace="ns", **options)  # type: ignore[arg-type]
    return [o.body["metadata"]["name"] for o in objects]


def kustomize_alone(app: Path) -> subprocess.CompletedProcess[str]:
    argv = ["kustomize", "build", "--enable-helm", "--helm-command", tools.which("helm", "x")]
    return subprocess.run([*argv, "."], cwd=app, capture_output=True, text=True, check=False)


CASES = {
    "configmap-files": ("generators", "ConfigMapGenerator", "files:\n- {url}/f\n"),
    "secret-envs": ("generators", "SecretGenerator", "envs:\n- {url}/e\n"),
    "patch-path": ("transformers", "PatchTransformer", "path: {url}/p\ntarget: {{kind: X}}\n"),
    "json6902-path": (
        "transformers",
        "PatchJson6902Transformer",
        "path: {url}/p\ntarget: {{kind: X, name: y, version: v1}}\n",
    ),
    "replacements": ("transformers", "ReplacementTransformer", "replacements:\n- path: {url}/r\n"),
    "helm-repo": (
        "generators",
        "HelmChartInflationGenerator",
        "name: c\nrepo: {url}/charts\nversion: 1.0.0\n",
    ),
}


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("layout", ["file", "inline", "folder"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_builtin_plugin_naming_a_url_is_refused(
    tmp_path: Path, sinkhole: Sinkhole, case: str, layout: str
) -> None:
    field, kind, fields = CASES[case]
    config = BUILTIN.format(kind=kind) + fields.format(url=sinkhole.url)
    app = tmp_path / "app"
    write(app, "cm.yaml", CM.format(name="cm"))
    if layout == "file":
        write(app, "plugin.yaml", config)
        write(app, "kustomization.yaml", f"resources: [cm.yaml]\n{field}: [plugin.yaml]\n")
        where = r"apps/x/plugin\.yaml:1"
    elif layout == "inline":
        inline = "\n".join("    " + line for line in config.splitlines())
        write(app, "kustomization.yaml", f"resources: [cm.yaml]\n{field}:\n- |\n{inline}\n")
        where = rf"apps/x/kustomization\.yaml: {field}:1"
    else:
        write(app, "plugins/plugin.yaml", config)
        write(app, "plugins/kustomization.yaml", "resources: [plugin.yaml]\n")
        write(app, "kustomization.yaml", f"resources: [cm.yaml]\n{field}: [plugins]\n")
        where = r"apps/x/plugins/plugin\.yaml:1"
    if layout == "file":
        kustomize_alone(app)
        assert sinkhole.connections, "kustomize alone reaches the URL"
        sinkhole.connections.clear()
    with pytest.raises(RenderError, match=rf"^{where}: remote reference 'http://127\.0\.0\.1"):
        build(app, enable_helm=True)
    assert sinkhole.connections == []


@pytest.mark.usefixtures("tools")
def test_a_helm_generator_config_is_held_to_the_helm_chart_rules(tmp_path: Path) -> None:
    app, mark = tmp_path / "app", tmp_path / "ran"
    write(app, "charts/c/Chart.yaml", CHART.format(name="c"))
    write(app, "charts/c/values.yaml", "{}\n")
    write(app, "charts/c/templates/cm.yaml", CM.format(name="from-chart"))
    write(app, "x.sh", f"#!/bin/sh\necho ran > {mark}\ncat\n", 0o755)
    config = BUILTIN.format(kind="HelmChartInflationGenerator") + "name: c\n"
    write(app, "gen.yaml", config + "releaseName: --post-renderer=./x.sh\n")
    write(app, "kustomization.yaml", "generators: [gen.yaml]\n")
    assert kustomize_alone(app).returncode == 0 and mark.exists(), "kustomize alone runs it"
    mark.unlink()
    with pytest.raises(RenderError, match=r"^apps/x/gen\.yaml:1: HelmChartInflationGenerator .*"):
        build(app)  # without enable_helm
    with pytest.raises(RenderError, match=r"^apps/x/gen\.yaml:1: `releaseName` '--post-ren"):
        build(app, enable_helm=True)
    assert not mark.exists()
    write(app, "gen.yaml", config + "releaseName: fine\n")
    assert build(app, enable_helm=True) == ["from-chart"]


@pytest.mark.usefixtures("tools")
def test_builtin_plugins_with_local_files_still_render(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, "cm.yaml", CM.format(name="cm"))
    write(app, "settings.env", "A=1\n")
    write(app, "gen.yaml", BUILTIN.format(kind="ConfigMapGenerator") + "envs: [settings.env]\n")
    write(
        app,
        "label.yaml",
        BUILTIN.format(kind="LabelTransformer") + "labels: {team: a}\n"
        "fieldSpecs: [{path: metadata/labels, create: true}]\n",
    )
    write(
        app,
        "kustomization.yaml",
        "resources: [cm.yaml]\ngenerators: [gen.yaml]\ntransformers: [label.yaml]\n",
    )
    assert [n.split("-")[0] for n in sorted(build(app))] == ["cm", "x"]  # x-<hash>
