"""Rendering from an app folder inside a whole repository tree, with the real kustomize and
helm: overlays reach bases and components elsewhere, values files may sit outside the chart,
nothing outside the tree is read, and ``inputs_of`` lists what the render read."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.render import RenderError, inputs_of, render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: '1'\n"
SVC = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: 80\n"
PATCH = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\ndata:\n  v: '2'\n"
COMPONENT = (
    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
    "labels:\n- pairs:\n    team: web\n"
)
NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

pytestmark = pytest.mark.usefixtures("tools")


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def flux_layout(repo: Path, overlay: str = "") -> Path:
    """A Flux-style ``apps/base`` + ``apps/production`` tree with a shared component."""
    return write(
        repo,
        {
            "apps/base/podinfo/kustomization.yaml": (
                "resources: [configmap.yaml, service.yaml]\n"
                "configMapGenerator:\n- name: settings\n  files: [settings.properties]\n"
            ),
            "apps/base/podinfo/configmap.yaml": CM.format(name="podinfo"),
            "apps/base/podinfo/service.yaml": SVC.format(name="podinfo"),
            "apps/base/podinfo/settings.properties": "level=info\n",
            "apps/base/unrelated/configmap.yaml": CM.format(name="unrelated"),
            "components/team-labels/kustomization.yaml": COMPONENT,
            "apps/production/kustomization.yaml": overlay
            or (
                "namePrefix: prod-\nresources: [../base/podinfo]\n"
                "components: [../../components/team-labels]\npatches:\n- path: values-patch.yaml\n"
            ),
            "apps/production/values-patch.yaml": PATCH,
        },
    )


def build(repo: Path, path: str, **options: object) -> list[dict[str, object]]:
    objects = render(
        repo / path,
        path,
        release="web",
        namespace="ns",
        checkout_root=repo,
        **options,  # type: ignore[arg-type]
    )
    return [o.body for o in objects]


def test_an_overlay_renders_its_base_and_component_from_elsewhere_in_the_tree(
    tmp_path: Path,
) -> None:
    repo = flux_layout(tmp_path / "repo")
    bodies = {(b["kind"], b["metadata"]["name"]): b for b in build(repo, "apps/production")}  # type: ignore[index]
    assert set(bodies) == {
        ("ConfigMap", "prod-podinfo"),
        ("Service", "prod-podinfo"),
        ("ConfigMap", next(n for k, n in bodies if n.startswith("prod-settings-"))),
    }
    podinfo = bodies[("ConfigMap", "prod-podinfo")]
    assert podinfo["data"] == {"v": "2"}  # the overlay's patch
    assert podinfo["metadata"]["labels"] == {"team": "web"}  # type: ignore[index]  # the component


def test_the_inputs_are_every_file_and_folder_the_kustomization_graph_names(
    tmp_path: Path,
) -> None:
    repo = flux_layout(tmp_path / "repo")
    build(repo, "apps/production")
    inputs = inputs_of(repo / "apps/production", "apps/production", boundary=repo)
    assert set(inputs) == {
        "apps/base/podinfo/",
        "apps/base/podinfo/configmap.yaml",
        "apps/base/podinfo/service.yaml",
        "apps/base/podinfo/settings.properties",
        "components/team-labels/",
        "apps/production/values-patch.yaml",
        *(f"{folder}/{name}" for name in NAMES for folder in KUSTOMIZATION_FOLDERS),
    }
    assert not any("unrelated" in name for name in inputs)


KUSTOMIZATION_FOLDERS = ("apps/production", "apps/base/podinfo", "components/team-labels")


def test_a_chart_reads_values_files_outside_its_folder_and_records_them(tmp_path: Path) -> None:
    chart = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
    template = CM.format(name="web").replace("'1'", "{{ .Values.v | quote }}")
    repo = write(
        tmp_path / "repo",
        {
            "charts/web/Chart.yaml": chart,
            "charts/web/values.yaml": "v: default\n",
            "charts/web/templates/cm.yaml": template,
            "environments/production/web-values.yaml": "v: production\n",
        },
    )
    values = ("../../environments/production/web-values.yaml",)
    [body] = build(repo, "charts/web", values_files=values)
    assert body["data"] == {"v": "production"}
    inputs = inputs_of(repo / "charts/web", "charts/web", boundary=repo, values_files=values)
    assert inputs == ("environments/production/web-values.yaml",)


@pytest.mark.parametrize(
    ("overlay", "cause"),
    [
        ("resources: [../../../etc/passwd]\n", r"'\.\./\.\./\.\./etc/passwd' leaves the checkout"),
        ("resources: [/etc/passwd]\n", r"'/etc/passwd' leaves the checkout"),
        ("resources: [../base/podinfo, ../../../outside]\n", r"'\.\./\.\./\.\./outside' leaves"),
        (
            "resources: [../base/podinfo]\npatches:\n- path: ../../../outside/patch.yaml\n",
            r"patches: '\.\./\.\./\.\./outside/patch\.yaml' leaves the checkout",
        ),
    ],
    ids=["dot-dot", "absolute", "folder-outside", "patch-outside"],
)
def test_a_kustomization_reaching_outside_the_tree_is_refused(
    tmp_path: Path, overlay: str, cause: str
) -> None:
    write(tmp_path, {"outside/kustomization.yaml": "resources: [cm.yaml]\n"})
    write(tmp_path, {"outside/cm.yaml": CM.format(name="stolen"), "outside/patch.yaml": PATCH})
    repo = flux_layout(tmp_path / "repo", overlay)
    with pytest.raises(RenderError, match=cause):
        build(repo, "apps/production")
    with pytest.raises(RenderError, match=cause):
        inputs_of(repo / "apps/production", "apps/production", boundary=repo)


def test_a_values_file_escaping_the_tree_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"secret-values.yaml": "v: stolen\n"})
    repo = write(
        tmp_path / "repo",
        {
            "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            "charts/web/templates/cm.yaml": CM.format(name="web"),
        },
    )
    with pytest.raises(
        RenderError, match=r"values file '\.\./\.\./\.\./secret-values\.yaml' is not"
    ):
        build(repo, "charts/web", values_files=("../../../secret-values.yaml",))


def test_a_symlink_in_a_base_leading_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"secret.yaml": CM.format(name="stolen")})
    repo = flux_layout(tmp_path / "repo")
    (repo / "apps/base/podinfo/service.yaml").unlink()
    (repo / "apps/base/podinfo/service.yaml").symlink_to("../../../../secret.yaml")
    with pytest.raises(
        RenderError, match=r"^apps/base/podinfo/service\.yaml: symbolic link leads outside"
    ):
        build(repo, "apps/production")


def test_where_a_link_in_the_app_folder_leads_is_an_input(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"shared/config/cm.yaml": CM.format(name="shared")})
    write(repo, {"apps/plain/own.yaml": CM.format(name="own")})
    (repo / "apps/plain/shared.yaml").symlink_to("../../shared/config/cm.yaml")
    assert sorted(o["metadata"]["name"] for o in build(repo, "apps/plain")) == ["own", "shared"]  # type: ignore[index]
    assert inputs_of(repo / "apps/plain", "apps/plain", boundary=repo) == ("shared/config/cm.yaml",)


def test_helm_inflation_records_its_chart_home_and_values(tmp_path: Path) -> None:
    repo = write(
        tmp_path / "repo",
        {
            "apps/web/kustomization.yaml": "resources: [../../bases/web]\n",
            "bases/web/kustomization.yaml": (
                "helmCharts:\n- name: web\n  valuesFile: ../../values/web.yaml\n"
            ),
            "bases/web/charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            "values/web.yaml": "v: 1\n",
        },
    )
    inputs = inputs_of(repo / "apps/web", "apps/web", boundary=repo, enable_helm=True)
    assert {"bases/web/charts/", "values/web.yaml", "bases/web/"} <= set(inputs)
