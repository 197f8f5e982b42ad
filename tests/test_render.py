"""Rendering a folder: plain YAML/JSON, bounded YAML, Kustomize and Helm from PATH."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from webhook.render import RenderError, parse_stream, render

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  key: value
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def names(objects: list) -> list[str]:  # type: ignore[type-arg]
    return [o.body["metadata"]["name"] for o in objects]


def plain(root: Path) -> list:  # type: ignore[type-arg]
    return render(root, "apps/x", release="x", namespace="ns")


def test_plain_folder_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", CONFIGMAP.format(name="b"))
    write(tmp_path, "a/z.yml", CONFIGMAP.format(name="az"))
    write(
        tmp_path, "c.json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}'
    )
    write(tmp_path, "README.md", "not a manifest: ignored")
    assert names(plain(tmp_path)) == ["az", "b", "c"]


def test_multi_document_files_yield_every_object_and_skip_empty_documents(tmp_path: Path) -> None:
    write(
        tmp_path,
        "all.yaml",
        "---\n" + CONFIGMAP.format(name="one") + "---\n---\n" + CONFIGMAP.format(name="two"),
    )
    objects = plain(tmp_path)
    assert names(objects) == ["one", "two"]
    assert objects[1].source == "apps/x/all.yaml:10"


def test_a_kind_list_is_expanded(tmp_path: Path) -> None:
    write(
        tmp_path,
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
    )
    assert names(plain(tmp_path)) == ["a", "b"]


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "ok.yaml", CONFIGMAP.format(name="ok"))
    write(
        tmp_path,
        "sub/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    )
    with pytest.raises(RenderError, match=r"^apps/x/sub/broken\.yaml:\d+: invalid YAML"):
        plain(tmp_path)


def test_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.json", '{\n  "kind": \n}')
    with pytest.raises(RenderError, match=r"^apps/x/bad\.json:3: invalid JSON"):
        plain(tmp_path)


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    """Manifests written as a YAML list: a manifest (it names apiVersion, kind, metadata),
    so not skipped as a tool's configuration would be (test_fidelity_argocd_directory)."""
    write(tmp_path, "list.yaml", "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n")
    with pytest.raises(RenderError, match=r"apps/x/list\.yaml:1: a document must be a mapping"):
        plain(tmp_path)


def test_an_alias_bomb_is_an_error_not_an_out_of_memory() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(RenderError, match=r"bomb\.yaml:\d+: invalid YAML: .*expands to more than"):
        parse_stream("\n".join(lines) + "\n", "bomb.yaml")


def test_ordinary_anchors_and_aliases_still_work() -> None:
    text = "base: &b {x: 1}\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\ndata: *b\n"
    (obj,) = parse_stream(text, "a.yaml")
    assert obj.body["data"] == {"x": 1}


def test_python_tags_are_refused() -> None:
    with pytest.raises(RenderError, match="invalid YAML"):
        parse_stream("!!python/object/apply:os.system ['true']\n", "evil.yaml")


def test_a_missing_tool_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "kustomization.yaml", "resources: []\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(
        RenderError, match=r"apps/x: rendering needs `kustomize`, which is not on PATH"
    ):
        plain(tmp_path)
    (tmp_path / "kustomization.yaml").unlink()
    write(tmp_path, "Chart.yaml", "apiVersion: v2\nname: x\nversion: 0.1.0\n")
    with pytest.raises(RenderError, match="rendering needs `helm`"):
        plain(tmp_path)


@pytest.mark.usefixtures("tools")
def test_kustomize_folder_is_built_with_the_tool_from_path(tmp_path: Path) -> None:
    assert shutil.which("kustomize"), "the `tools` fixture puts kustomize on PATH"
    write(tmp_path, "cm.yaml", CONFIGMAP.format(name="settings"))
    write(tmp_path, "kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: dev-\n")
    objects = plain(tmp_path)
    assert names(objects) == ["dev-settings"]
    assert objects[0].source.startswith("kustomize build apps/x")


def test_kustomize_may_not_read_outside_its_folder(tmp_path: Path) -> None:
    write(tmp_path, "outside.yaml", CONFIGMAP.format(name="outside"))
    write(tmp_path, "app/kustomization.yaml", "resources: [../outside.yaml]\n")
    with pytest.raises(
        RenderError, match=r"apps/x/kustomization.yaml: resources: .* leaves the checkout"
    ):
        render(tmp_path / "app", "apps/x", release="x", namespace="ns")


@pytest.mark.usefixtures("tools")
def test_helm_chart_is_templated_with_release_namespace_and_values(tmp_path: Path) -> None:
    assert shutil.which("helm"), "the `tools` fixture puts helm on PATH"
    write(tmp_path, "Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    write(tmp_path, "values.yaml", "greeting: hello\n")
    write(tmp_path, "prod.yaml", "greeting: bonjour\n")
    write(
        tmp_path,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  greeting: {{ .Values.greeting }}\n",
    )
    objects = render(
        tmp_path, "apps/x", release="rel", namespace="prod", values_files=["prod.yaml"]
    )
    (obj,) = objects
    assert obj.body["metadata"] == {"name": "rel-cm", "namespace": "prod"}
    assert obj.body["data"] == {"greeting": "bonjour"}
    assert obj.source == "helm demo/templates/cm.yaml"


def test_helm_values_files_must_stay_in_the_app_folder(tmp_path: Path) -> None:
    write(tmp_path, "Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    with pytest.raises(RenderError, match=r"values file '\.\./secrets\.yaml' is not a file"):
        render(tmp_path, "apps/x", release="r", namespace="n", values_files=["../secrets.yaml"])


@pytest.mark.parametrize(
    ("text", "line", "cause"),
    [
        ("a: 1\nb: !!set {x, y}\n", 2, r"tag 'tag:yaml\.org,2002:set' is not allowed"),
        ("a: 1\nb: !!binary aGVsbG8=\n", 2, r"tag 'tag:yaml\.org,2002:binary' is not allowed"),
        ("a: !!omap [x: 1]\n", 1, r"tag 'tag:yaml\.org,2002:omap' is not allowed"),
        ("a: !!python/name:os.system\n", 1, r"tag 'tag:yaml\.org,2002:python/name:os\.system'"),
        ("a: !Ref thing\n", 1, r"tag '!Ref' is not allowed"),
        ("a: .nan\n", 1, r"'\.nan' is not a finite number"),
        ("a: -.inf\n", 1, r"'-\.inf' is not a finite number"),
        ("a: 1.0e+400\n", 1, r"'1\.0e\+400' is not a finite number"),
        ("~: x\n", 1, r"mapping key None is not a string"),
        ("1.5: x\n", 1, r"mapping key 1\.5 is not a string"),
        ("a: " + "[" * 150 + "]" * 150 + "\n", 1, r"nested deeper than 100 levels"),
        ("a: " + "1" * 5000 + "\n", 1, r"is not a valid integer: Exceeds the limit"),
        ("a: !!float ''\n", 1, r"'' is not a valid number"),
        ("a: !!int x\n", 1, r"'x' is not a valid integer"),
        ("a: !!bool maybe\n", 1, r"'maybe' is not a valid boolean"),
    ],
    ids=[
        "set",
        "binary",
        "omap",
        "python",
        "local-tag",
        "nan",
        "inf",
        "overflow",
        "null-key",
        "float-key",
        "depth",
        "huge-int",
        "empty-float",
        "bad-int",
        "bad-bool",
    ],
)
def test_yaml_holds_json_types_only_and_errors_name_file_and_line(
    text: str, line: int | None, cause: str
) -> None:
    where = rf"m\.yaml:{line}" if line else r"m\.yaml"
    with pytest.raises(RenderError, match=rf"^{where}: invalid YAML: .*{cause}"):
        parse_stream(text, "m.yaml")


def test_depth_through_aliases_is_bounded() -> None:
    deep = "[" * 60 + "]" * 60
    text = f"a: &a {deep}\nb: " + "[" * 45 + "*a" + "]" * 45 + "\n"
    with pytest.raises(RenderError, match=r"^m\.yaml:2: invalid YAML: nested deeper .*aliases"):
        parse_stream(text, "m.yaml")


def test_timestamps_stay_strings_and_number_or_boolean_keys_become_text() -> None:
    """As sigs.k8s.io/yaml (yaml.v2 into interface{}, then JSON) reads them."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    text += "data: {when: 2001-12-14t21:59:43.10-05:00, day: 2002-12-14, 8080: x, true: y}\n"
    (obj,) = parse_stream(text, "a.yaml")
    assert obj.body["data"] == {
        "when": "2001-12-14t21:59:43.10-05:00",
        "day": "2002-12-14",
        "8080": "x",
        "true": "y",
    }


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("[" * 100_000 + "]" * 100_000, r"nested deeper than 100"),
        ("[" * 101 + "]" * 101, r"nested deeper than 100 levels"),
        ('{"a": NaN}', r"NaN is not a number JSON allows"),
        ('{"a": -Infinity}', r"-Infinity is not a number JSON allows"),
        ('{"a": 1e999}', r"1e999 is out of range"),
    ],
    ids=["recursion-bomb", "depth", "nan", "infinity", "overflow"],
)
def test_json_is_bounded_and_finite(tmp_path: Path, text: str, cause: str) -> None:
    write(tmp_path, "deep.json", text)
    with pytest.raises(RenderError, match=rf"^apps/x/deep\.json: invalid JSON: {cause}"):
        plain(tmp_path)


def test_escaped_utf16_pairs_are_joined_and_lone_surrogates_refused(tmp_path: Path) -> None:
    (obj,) = parse_stream('kind: K\nname: "\\ud83d\\ude00"\n', "a.yaml")
    assert obj.body["name"] == "\U0001f600"
    with pytest.raises(RenderError, match=r"^b\.yaml:2: invalid YAML: .*lone UTF-16 surrogate"):
        parse_stream('kind: K\nname: "\\ud800"\n', "b.yaml")
    write(tmp_path, "c.json", '{"kind": "K", "name": "\\udc00"}')
    with pytest.raises(RenderError, match=r"^apps/x/c\.json: invalid JSON: .*lone UTF-16"):
        plain(tmp_path)
