"""A chart's ``values.schema.json`` against the real helm: helm validates values with loaders
for ``file://`` and ``http(s)://``, so a ``$ref`` that leaves the schema reads the deployer's
disk or fetches any URL (cloud metadata included) and echoes the answer in its error.

Each test first shows the real helm reaching the loopback sinkhole (or the disk) with the same
chart when nothing checks it, then that the deployer refuses it with nothing fetched.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.plugins.sinkhole import Sinkhole
from webhook.render import HelmOptions, RenderError, render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
CHART = "apiVersion: v2\nname: {name}\nversion: 0.1.0\n"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def chart(root: Path, name: str, schema: object | None = None) -> Path:
    write(root, "Chart.yaml", CHART.format(name=name))
    write(root, "values.yaml", "a: 1\n")
    write(root, "templates/cm.yaml", CM.format(name=name))
    if schema is not None:
        write(root, "values.schema.json", json.dumps(schema))
    return root


def package(folder: Path, target: Path) -> None:
    """``helm package`` as a tarball: the chart's files under a folder of its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)


def bombed(root: Path) -> Path:
    """A chart whose ``charts/`` holds a gzip bomb: 30 files of 4 MiB of zeros."""
    app = chart(root, "app")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for index in range(30):
            info = tarfile.TarInfo(f"bomb/templates/z{index}.yaml")
            info.size = 4 * 1024 * 1024
            archive.addfile(info, io.BytesIO(bytes(info.size)))
    write(app, "charts/.keep", "")
    (app / "charts" / "bomb-0.1.0.tgz").write_bytes(buffer.getvalue())
    return app


def names(app: Path, **options: object) -> list[str]:
    objects = render(app, "apps/x", release="x", namespace="ns", **options)  # type: ignore[arg-type]
    return sorted(o.body["metadata"]["name"] for o in objects)


def helm_alone(chart_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["helm", "template", "r", "."], cwd=chart_dir, capture_output=True, text=True, check=False
    )


def property_ref(ref: str, key: str = "$ref") -> dict[str, object]:
    return {"type": "object", "properties": {"a": {key: ref}}}


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("key", ["$ref", "$dynamicRef", "$recursiveRef", "$schema"])
def test_a_schema_reference_to_a_url_is_refused_before_helm_fetches_it(
    tmp_path: Path, sinkhole: Sinkhole, key: str
) -> None:
    url = f"{sinkhole.url}/latest/meta-data"
    schema = {key: url, "type": "object"} if key == "$schema" else property_ref(url, key)
    app = chart(tmp_path / "app", "app", schema)
    helm_alone(app)
    assert len(sinkhole.connections) == 1, "helm alone fetches the reference"
    with pytest.raises(
        RenderError,
        match=rf"^apps/x/values\.schema\.json: `\{key}` 'http://127\.0\.0\.1:\d+/latest/meta-data' "
        r"is not allowed: helm would read it from the deployer's disk or network",
    ):
        names(app)
    assert len(sinkhole.connections) == 1, "the deployer fetched it"


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("ref", ["file:///etc/passwd", "etc/passwd", "../../etc/passwd"])
def test_a_schema_reference_to_a_file_of_the_deployer_is_refused(tmp_path: Path, ref: str) -> None:
    app = chart(tmp_path / "app", "app", property_ref(ref))
    alone = helm_alone(app)
    assert 'failing loading "file:///etc/passwd"' in alone.stderr, "helm alone reads the file"
    with pytest.raises(RenderError, match=r"^apps/x/values\.schema\.json: `\$ref` .* not allowed"):
        names(app)


@pytest.mark.usefixtures("tools")
def test_schemas_of_vendored_folders_and_nested_packages_are_checked(
    tmp_path: Path, sinkhole: Sinkhole
) -> None:
    evil = property_ref(f"{sinkhole.url}/x")
    inner = chart(tmp_path / "src" / "inner", "inner", evil)
    middle = chart(tmp_path / "src" / "middle", "middle")
    package(inner, middle / "charts" / "inner-0.1.0.tgz")
    app = chart(tmp_path / "app", "app")
    package(middle, app / "charts" / "middle-0.1.0.tgz")
    with pytest.raises(
        RenderError,
        match=r"^apps/x/charts/middle-0\.1\.0\.tgz:middle/charts/inner-0\.1\.0\.tgz:"
        r"inner/values\.schema\.json: `\$ref`",
    ):
        names(app)
    (app / "charts" / "middle-0.1.0.tgz").unlink()
    chart(app / "charts" / "folder", "folder", evil)
    with pytest.raises(RenderError, match=r"^apps/x/charts/folder/values\.schema\.json: `\$ref`"):
        names(app)
    assert sinkhole.connections == []


@pytest.mark.usefixtures("tools")
def test_a_file_dependency_elsewhere_in_the_tree_is_checked(
    tmp_path: Path, sinkhole: Sinkhole
) -> None:
    repo = tmp_path / "repo"
    chart(repo / "shared" / "lib", "lib", property_ref(f"{sinkhole.url}/x"))
    app = chart(repo / "apps" / "x", "app")
    dependency = (
        "dependencies:\n- name: lib\n  version: 0.1.0\n  repository: file://../../shared/lib\n"
    )
    write(app, "Chart.yaml", CHART.format(name="app") + dependency)
    with pytest.raises(RenderError, match=r"charts/lib/values\.schema\.json: `\$ref`"):
        names(app, checkout_root=repo)
    assert sinkhole.connections == []


@pytest.mark.usefixtures("tools")
def test_kustomize_inflation_checks_the_chart_home(tmp_path: Path, sinkhole: Sinkhole) -> None:
    app = tmp_path / "app"
    chart(app / "charts" / "local", "local", property_ref(f"{sinkhole.url}/x"))
    write(app, "kustomization.yaml", "helmCharts:\n- name: local\n  releaseName: r\n")
    with pytest.raises(RenderError, match=r"^apps/x/charts/local/values\.schema\.json: `\$ref`"):
        names(app, enable_helm=True)
    write(
        app, "kustomization.yaml", "helmGlobals:\n  chartHome: charts\nhelmCharts:\n- name: local\n"
    )
    with pytest.raises(RenderError, match=r"^apps/x/charts/local/values\.schema\.json"):
        names(app, enable_helm=True)
    assert sinkhole.connections == []


@pytest.mark.usefixtures("tools")
def test_local_fragments_and_meta_schemas_still_validate(tmp_path: Path) -> None:
    """What real charts write: draft meta-schemas (held by helm) and ``#/definitions``."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/count"},
            "b": {"$ref": "https://json-schema.org/draft/2020-12/schema"},
        },
        "definitions": {"count": {"type": "integer", "minimum": 2}},
    }
    app = chart(tmp_path / "app", "app", schema)
    with pytest.raises(RenderError, match=r"minimum: got 1, want 2"):
        names(app)  # the schema is still enforced, as helm install enforces it
    write(app, "values.yaml", "a: 3\n")
    assert names(app) == ["app"]


def test_a_packaged_chart_over_helms_bounds_is_refused(tmp_path: Path) -> None:
    """A gzip bomb in charts/: refused from the sizes in the tar headers, before helm."""
    app = bombed(tmp_path / "app")
    assert (app / "charts" / "bomb-0.1.0.tgz").stat().st_size < 1024 * 1024
    with pytest.raises(RenderError, match=r"bomb-0\.1\.0\.tgz: decompresses to more than"):
        names(app)


@pytest.mark.usefixtures("tools")
def test_a_packaged_chart_with_parent_or_absolute_entries_writes_nothing(tmp_path: Path) -> None:
    """Neither the check nor helm extracts an archive to disk; helm refuses the entry."""
    app = chart(tmp_path / "app", "app")
    buffer = io.BytesIO()
    entries = {
        "evil/Chart.yaml": CHART.format(name="evil"),
        f"evil/../../../..{tmp_path}/slipped.txt": "x",
        f"{tmp_path}/absolute.txt": "y",
    }
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    write(app, "charts/.keep", "")
    (app / "charts" / "evil-0.1.0.tgz").write_bytes(buffer.getvalue())
    with pytest.raises(RenderError, match=r"chart illegally references parent directory"):
        names(app)
    assert not (tmp_path / "slipped.txt").exists() and not (tmp_path / "absolute.txt").exists()


@pytest.mark.parametrize("shape", ["invalid-utf8", "deep"])
def test_a_schema_python_cannot_read_as_it_is_still_checked(
    tmp_path: Path, sinkhole: Sinkhole, shape: str
) -> None:
    """Helm's Go decoder reads invalid UTF-8 (as U+FFFD) and 2,000 levels of nesting; a
    check that gave up on them would let helm fetch what they hold."""
    ref = json.dumps(property_ref(f"{sinkhole.url}/x"))
    if shape == "invalid-utf8":
        text = ref.replace('"type"', '"description": "\\u00e9", "type"').encode()
        text = text.replace(b"\\u00e9", b"\xff\xfe")
    else:
        text = ('{"allOf": [' * 2000 + ref + "]}" * 2000).encode()
    app = chart(tmp_path / "app", "app")
    (app / "values.schema.json").write_bytes(text)
    with pytest.raises(RenderError, match=r"^apps/x/values\.schema\.json: "):
        names(app)
    assert sinkhole.connections == []


@pytest.mark.usefixtures("tools")
def test_an_app_that_skips_schema_validation_renders_and_nothing_is_fetched(
    tmp_path: Path, sinkhole: Sinkhole
) -> None:
    """Public charts sometimes ``$ref`` a schema online: such an app may opt out of
    validation, as Argo CD's ``skipSchemaValidation`` does. Helm then never reads the
    schema, and a value the schema would refuse is rendered as written."""
    schema = {**property_ref(f"{sinkhole.url}/schema.json"), "required": ["missing"]}
    app = chart(tmp_path / "app", "app", schema)
    with pytest.raises(RenderError, match=r"helm\.skip_schema_validation: true"):
        names(app)
    assert names(app, helm=HelmOptions(skip_schema_validation=True)) == ["app"]
    assert sinkhole.connections == []


def test_skipping_schema_validation_still_bounds_the_packaged_subcharts(tmp_path: Path) -> None:
    app = bombed(tmp_path / "app")
    with pytest.raises(RenderError, match=r"bomb-0\.1\.0\.tgz: decompresses to more than"):
        names(app, helm=HelmOptions(skip_schema_validation=True))
