"""Hostile app folders against the real kustomize and helm: each ends in a RenderError that
names the cause and the file, and the loopback sinkhole receives nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.sinkhole import Sinkhole
from webhook.render import RenderError, limits, render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
CHART = "apiVersion: v2\nname: {name}\nversion: 0.1.0\n"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return tmp_path / "checkout"


@pytest.fixture
def quiet(sinkhole: Sinkhole) -> Iterator[Sinkhole]:
    """The sinkhole, asserted empty after the test."""
    yield sinkhole
    assert sinkhole.connections == [], "a renderer reached the network"


def chart_needing(app: Path, name: str, repository: str) -> None:
    """A Chart.yaml in ``app`` with one dependency ``name`` (version 0.1.0) from ``repository``."""
    dependency = f"- name: {name}\n  version: 0.1.0\n  repository: {repository}\n"
    write(app, "Chart.yaml", CHART.format(name="app") + "dependencies:\n" + dependency)


def build(root: Path, **options: object) -> list[str]:
    objects = render(root, "apps/x", release="x", namespace="ns", **options)  # type: ignore[arg-type]
    return [o.body["metadata"]["name"] for o in objects]


@pytest.mark.parametrize(
    ("entry", "cause"),
    [
        (
            "{url}/x.yaml",
            r"remote reference 'http://127\.0\.0\.1:\d+/x\.yaml' \(host 127\.0\.0\.1\)",
        ),
        ("https://127.0.0.1:{port}/x.yaml", r"host 127\.0\.0\.1"),
        ("github.com/org/repo//path?ref=v1", r"host github\.com"),
        ("gitlab.com/org/repo/deploy", r"host gitlab\.com"),
        ("git@github.com:org/repo.git//deploy", r"host github\.com"),
        ("ssh://git@127.0.0.1:{port}/org/repo", r"host 127\.0\.0\.1"),
        ("git::http://127.0.0.1:{port}/org/repo", r"host 127\.0\.0\.1"),
        ("file:///etc", r"no host an app can allow"),
        ("deploy?ref=main", r"no host an app can allow"),
    ],
    ids=[
        "http",
        "https",
        "github-ref",
        "gitlab",
        "git-ssh-scp",
        "ssh-url",
        "git-prefix",
        "file",
        "query",
    ],
)
@pytest.mark.parametrize("field", ["resources", "bases", "components"])
def test_remote_bases_are_refused_before_kustomize_runs(
    app: Path, quiet: Sinkhole, field: str, entry: str, cause: str
) -> None:
    remote = entry.format(url=quiet.url, port=quiet.port)
    write(app, "kustomization.yaml", f"{field}:\n- {remote}\n")
    with pytest.raises(RenderError, match=rf"^apps/x/kustomization\.yaml: {field}: .*{cause}"):
        build(app)


def test_a_remote_named_two_kustomizations_down_is_found(app: Path, quiet: Sinkhole) -> None:
    write(app, "kustomization.yaml", "resources: [base]\n")
    write(app, "base/kustomization.yaml", "resources: [inner, cm.yaml]\n")
    write(app, "base/cm.yaml", CM.format(name="cm"))
    write(app, "base/inner/kustomization.yaml", f"components: ['{quiet.url}/c']\n")
    with pytest.raises(RenderError, match=r"^apps/x/base/inner/kustomization\.yaml: components"):
        build(app)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("patches:\n- path: {url}/p.yaml\n", r"patches: remote reference"),
        ("patchesStrategicMerge: ['{url}/p.yaml']\n", r"patchesStrategicMerge: remote"),
        ("patchesJson6902:\n- path: {url}/p.json\n", r"patchesJson6902: remote"),
        ("configMapGenerator:\n- name: c\n  files: [k={url}/f]\n", r"configMapGenerator: remote"),
        ("secretGenerator:\n- name: s\n  envs: ['{url}/e']\n", r"secretGenerator: remote"),
        ("crds: ['{url}/crd.yaml']\n", r"crds: remote"),
        ("configurations: ['{url}/c.yaml']\n", r"configurations: remote"),
        ("openapi:\n  path: {url}/schema.json\n", r"openapi: remote"),
        ("replacements:\n- path: {url}/r.yaml\n", r"replacements: remote"),
        ("transformers: ['{url}/t.yaml']\n", r"transformers: remote"),
        ("configMapGenerator:\n- name: c\n  files: [../../etc/passwd]\n", r"leaves the checkout"),
    ],
    ids=[
        "patches",
        "psm",
        "json6902",
        "cm-files",
        "secret-envs",
        "crds",
        "configurations",
        "openapi",
        "replacements",
        "transformers",
        "generator-outside",
    ],
)
def test_every_field_that_names_a_file_is_checked(
    app: Path, quiet: Sinkhole, text: str, cause: str
) -> None:
    write(app, "kustomization.yaml", text.format(url=quiet.url))
    with pytest.raises(RenderError, match=rf"^apps/x/kustomization\.yaml: .*{cause}"):
        build(app)


def test_a_base_outside_the_checkout_is_refused(tmp_path: Path, app: Path) -> None:
    write(tmp_path, "base/kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path, "base/cm.yaml", CM.format(name="outside"))
    write(app, "kustomization.yaml", "resources: [../base]\n")
    with pytest.raises(RenderError, match=r"resources: '\.\./base' leaves the checkout"):
        build(app)


def test_helm_inflation_needs_the_app_to_enable_it(app: Path, quiet: Sinkhole) -> None:
    write(
        app,
        "kustomization.yaml",
        f"helmCharts:\n- name: redis\n  repo: {quiet.url}/charts\n  version: 1.0.0\n",
    )
    with pytest.raises(RenderError, match=r"`helmCharts` inflates Helm charts.*enable_helm"):
        build(app)
    with pytest.raises(RenderError, match=r"remote reference .* \(host 127\.0\.0\.1\)"):
        build(app, enable_helm=True)


@pytest.mark.usefixtures("tools")
def test_enabled_helm_inflation_renders_a_local_chart(app: Path, quiet: Sinkhole) -> None:
    write(app, "kustomization.yaml", "helmCharts:\n- name: local\n  releaseName: rel\n")
    write(app, "charts/local/Chart.yaml", CHART.format(name="local"))
    write(app, "charts/local/values.yaml", "{}\n")
    write(app, "charts/local/templates/cm.yaml", CM.format(name="{{ .Release.Name }}-cm"))
    assert build(app, enable_helm=True) == ["rel-cm"]


@pytest.mark.parametrize("inline", [False, True], ids=["file", "inline"])
def test_a_krm_function_is_refused(app: Path, quiet: Sinkhole, inline: bool) -> None:
    function = (
        "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: run\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n"
    )
    if inline:
        body = "\n".join("    " + line for line in function.splitlines())
        write(app, "kustomization.yaml", f"generators:\n- |\n{body}\n")
        where = r"apps/x/kustomization\.yaml: generators:\d+"
    else:
        write(app, "fn.yaml", function)
        write(app, "kustomization.yaml", "transformers: [fn.yaml]\n")
        where = r"apps/x/fn\.yaml:1"
    with pytest.raises(RenderError, match=rf"^{where}: KRM functions .* are not allowed"):
        build(app)


@pytest.mark.usefixtures("tools")
def test_without_the_pre_check_kustomize_would_have_fetched(app: Path, sinkhole: Sinkhole) -> None:
    """The same kustomization with its host allowed: the real kustomize does connect, so the
    refusals above are what keeps the deployer off the network."""
    write(app, "kustomization.yaml", f"resources:\n- {sinkhole.url}/x.yaml\n")
    assert build(app, allowed_remote_hosts=["127.0.0.1"]) == ["fetched"]
    assert len(sinkhole.connections) == 1
    assert sinkhole.connections[0].startswith(b"GET /x.yaml")


def test_a_remote_helm_dependency_that_is_not_vendored_is_refused(
    app: Path, quiet: Sinkhole
) -> None:
    chart_needing(app, "redis", f"{quiet.url}/charts")
    with pytest.raises(
        RenderError,
        match=r"^apps/x/Chart\.yaml: dependency 'redis' from http://127\.0\.0\.1:\d+/charts "
        r"is not vendored in charts/",
    ):
        build(app)


def test_a_file_dependency_outside_the_checkout_is_refused(tmp_path: Path, app: Path) -> None:
    write(tmp_path, "outside/Chart.yaml", CHART.format(name="outside"))
    chart_needing(app, "outside", "file://../../outside")
    with pytest.raises(RenderError, match=r"'file://\.\./\.\./outside' leaves the checkout"):
        build(app)


@pytest.mark.usefixtures("tools")
def test_a_vendored_helm_dependency_still_renders(app: Path, quiet: Sinkhole) -> None:
    chart_needing(app, "sub", f"{quiet.url}/charts")
    write(app, "templates/cm.yaml", CM.format(name="top"))
    write(app, "charts/sub/Chart.yaml", CHART.format(name="sub"))
    write(app, "charts/sub/templates/cm.yaml", CM.format(name="sub"))
    assert sorted(build(app)) == ["sub", "top"]


@pytest.mark.usefixtures("tools")
def test_a_local_base_and_overlay_still_render(app: Path, quiet: Sinkhole) -> None:
    write(app, "base/kustomization.yaml", "resources: [cm.yaml]\n")
    write(app, "base/cm.yaml", CM.format(name="settings"))
    write(
        app,
        "components/extra/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
    )
    write(app, "components/extra/cm.yaml", CM.format(name="extra"))
    write(
        app,
        "kustomization.yaml",
        "resources: [base]\ncomponents: [components/extra]\nnamePrefix: prod-\n",
    )
    assert sorted(build(app)) == ["prod-extra", "prod-settings"]


def test_a_symlink_out_of_the_checkout_is_refused(tmp_path: Path, app: Path) -> None:
    write(tmp_path, "secret.txt", "token")
    write(app, "Chart.yaml", CHART.format(name="app"))
    write(app, "templates/cm.yaml", CM.format(name="x") + 'data:\n  s: {{ .Files.Get "a" }}\n')
    (app / "d").mkdir()
    (app / "d" / "z").symlink_to("../..")
    (app / "a").symlink_to("d/z/secret.txt")
    with pytest.raises(RenderError, match=r"^apps/x/a: symbolic link leads outside the checkout"):
        build(app)


PRIVATE_HOMES = [
    "HOME",
    "TMPDIR",
    "HELM_PLUGINS",
    *(f"{tool}_{kind}_HOME" for tool in ("XDG", "HELM") for kind in ("CACHE", "CONFIG", "DATA")),
]
FAKE_TOOL = """#!/bin/sh
printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: env\\ndata:\\n'
env | sort | sed -e "s/^\\([^=]*\\)=\\(.*\\)/  \\1: '\\2'/"
"""


def test_tools_get_a_clean_environment_and_private_homes_removed_after(
    tmp_path: Path, app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = write(tmp_path, "bin/kustomize", FAKE_TOOL)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_for_tools")
    monkeypatch.setenv("KUBECONFIG", "/etc/kubeconfig")
    monkeypatch.setenv("HOME", "/root")
    write(app, "kustomization.yaml", "resources: []\n")
    (obj,) = render(app, "apps/x", release="x", namespace="ns")
    env = obj.body["data"]
    assert "GITHUB_TOKEN" not in env and "KUBECONFIG" not in env
    private = [env[k] for k in PRIVATE_HOMES]
    assert env["HOME"] != "/root"
    assert all(not Path(p).exists() for p in private), "the private homes are removed after"
    helm_files = {"HELM_REGISTRY_CONFIG", "HELM_REPOSITORY_CONFIG", "HELM_REPOSITORY_CACHE"}
    git = {"GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT"}
    shell = {"PWD", "SHLVL", "_", "OLDPWD"}
    assert set(env) - shell <= {"PATH", "LANG", *PRIVATE_HOMES, *helm_files, *git}


@pytest.mark.usefixtures("tools")
def test_tool_output_is_capped_while_it_is_read(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DOCUMENT_BYTES", 200_000)
    big = "data:\n{{- range until 20000 }}\n  k{{ . }}: " + "x" * 80 + "\n{{- end }}\n"
    write(app, "Chart.yaml", CHART.format(name="big"))
    write(app, "templates/cm.yaml", CM.format(name="big") + big)
    with pytest.raises(RenderError, match=r"^apps/x: `helm` output larger than 200000 bytes"):
        build(app)


@pytest.mark.usefixtures("tools")
def test_the_object_count_is_capped(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_OBJECTS", 50)
    many = "{{- range until 60 }}\n---\n" + CM.format(name="cm-{{ . }}") + "{{- end }}\n"
    write(app, "Chart.yaml", CHART.format(name="many"))
    write(app, "templates/cm.yaml", many)
    with pytest.raises(RenderError, match=r"more than 50 objects"):
        build(app)
    monkeypatch.setattr(limits, "MAX_OBJECTS", 60)
    assert len(build(app)) == 60
