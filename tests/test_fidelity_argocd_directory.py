"""Plain folders as Argo CD reads a directory app (argoproj/argo-cd, Apache-2.0:
``reposerver/repository`` ``findManifests`` and its testdata ``irrelevant-yaml``,
``invalid-manifests-skipped``, ``yaml-with-empty-document``, ``null-list``, ``utf-16``;
the fixtures here are written anew). A YAML file that does not read as Kubernetes objects and
lacks one of ``apiVersion:``, ``kind:``, ``metadata:`` is a tool's configuration or a values
file, skipped; one that has all three is a manifest, and failing to read it is an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.render import RenderError, render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def names(app: Path) -> list[str]:
    objects = render(app, "apps/x", release="x", namespace="ns")
    return sorted(o.body["metadata"]["name"] for o in objects)


@pytest.mark.parametrize(
    "other",
    [
        "some: [irrelevant, yaml]\n",  # Argo CD's irrelevant-yaml
        "replicaCount: 2\nimage: {{ .Values.image }}\n",  # a templated values file
        "rules:\n  line-length: disable\n  line-length: enable\n",  # a key twice
        "- a\n- list\n",
        "",
    ],
    ids=["irrelevant", "unparsable", "duplicate-key", "list", "empty"],
)
def test_yaml_that_is_no_manifest_is_skipped(tmp_path: Path, other: str) -> None:
    app = tmp_path / "app"
    write(app, "cm.yaml", CM.format(name="kept"))
    write(app, "tool-config.yaml", other)
    assert names(app) == ["kept"]


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (CM.format(name="x") + "data:\n  a: [unclosed\n", r"invalid YAML"),
        (
            CM.format(name="x") + "data: {a: '1', a: '2'}\n",
            r"invalid YAML: mapping key 'a' is defined twice",
        ),
    ],
    ids=["broken", "duplicate-key"],
)
def test_a_manifest_that_cannot_be_read_is_still_an_error(
    tmp_path: Path, text: str, cause: str
) -> None:
    app = tmp_path / "app"
    write(app, "bad.yaml", text)
    with pytest.raises(RenderError, match=rf"^apps/x/bad\.yaml:\d+: {cause}"):
        names(app)


def test_a_kindless_document_in_a_manifest_still_reaches_the_guard(tmp_path: Path) -> None:
    """Not skipped: the guard names it (object without apiVersion, kind)."""
    app = tmp_path / "app"
    write(app, "mixed.yaml", CM.format(name="one") + "---\nsome: thing\n")
    objects = render(app, "apps/x", release="x", namespace="ns")
    assert [o.body.get("kind") for o in objects] == ["ConfigMap", None]


def test_empty_documents_and_empty_lists_yield_nothing(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, "a.yaml", "---\n---\n" + CM.format(name="after-empty") + "---\n")
    write(app, "b.yaml", "apiVersion: v1\nkind: List\nitems: []\n---\n" + CM.format(name="b"))
    assert names(app) == ["after-empty", "b"]


def test_typed_lists_are_expanded_as_kubectl_and_argo_cd_expand_them(tmp_path: Path) -> None:
    """``kubectl get configmaps -o yaml`` writes a ConfigMapList; an empty or null one holds
    nothing (Argo CD's null-list and empty-list testdata)."""
    app = tmp_path / "app"
    items = "".join(f"- {CM.format(name=n).replace(chr(10), chr(10) + '  ')}\n" for n in "ab")
    write(app, "cms.yaml", f"apiVersion: v1\nkind: ConfigMapList\nitems:\n{items}")
    write(app, "null.yaml", "apiVersion: v1\nkind: ConfigMapList\nitems:\n")
    write(app, "empty.yaml", "apiVersion: v1\nkind: SecretList\nitems: []\n")
    assert names(app) == ["a", "b"]


def test_a_file_with_argo_cds_skip_marker_is_not_read(tmp_path: Path) -> None:
    """A chart's template kept in a directory app (Argo CD's invalid-manifests-skipped)."""
    app = tmp_path / "app"
    template = "# +argocd:skip-file-rendering\n" + CM.format(name="{{ .Release.Name }}")
    write(app, "template.yaml", template + "data:\n  {{- range .Values.x }}\n")
    write(app, "cm.yaml", CM.format(name="kept"))
    assert names(app) == ["kept"]
