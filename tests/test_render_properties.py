"""Property tests: whatever text or kustomization an app folder holds, rendering returns
objects or raises RenderError, never anything else (no internal error reaches a job)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from tests.profiles import examples
from webhook.render import Rendered, RenderError, parse_stream, render

SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
#: Fragments YAML parsers have tripped on: tags, anchors, flow, merge keys, odd scalars.
yaml_bits = st.sampled_from(
    [
        "a: ",
        "- ",
        "? ",
        ": ",
        "&x ",
        "*x ",
        "<<: *x\n",
        "!!set ",
        "!!binary ",
        "!!omap ",
        "!!python/tuple ",
        "!local ",
        "!!timestamp ",
        "!!float ",
        "!!int ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "\n",
        "  ",
        "---\n",
        "...\n",
        "'",
        '"',
        "|\n",
        ">\n",
        "#",
        ".nan",
        ".inf",
        "~",
        "2001-12-14",
        "0x1F",
        "1_000",
        "1:20",
        "1e400",
        "9" * 30,
        "yes",
        "\t",
        "%YAML 1.1\n",
        "\x00",
        "\ufeff",
        "kind: List\nitems: ",
        "apiVersion: v1\n",
    ]
)
yaml_texts = st.lists(yaml_bits | st.text(max_size=6), max_size=30).map("".join)


def _only_objects_or_render_error(call: Any) -> list[Rendered] | None:
    try:
        out = call()
    except RenderError:
        return None
    assert all(isinstance(o, Rendered) and isinstance(o.body, dict) for o in out)
    return list(out)


@SETTINGS
@given(yaml_texts)
@example("\x1f")  # PyYAML's reader refused it before the loader existed: once an escape
def test_any_yaml_text_parses_or_is_a_render_error(text: str) -> None:
    _only_objects_or_render_error(lambda: parse_stream(text, "f.yaml"))


@SETTINGS
@given(json_like)
def test_any_json_like_data_written_as_json_renders_or_is_a_render_error(
    tmp_path: Path, data: Any
) -> None:
    folder = tmp_path / "app"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps(data))
    (folder / "y.yaml").write_text(json.dumps(data))  # YAML reads JSON too (mostly)
    _only_objects_or_render_error(lambda: render(folder, "apps/x", release="x", namespace="n"))


@SETTINGS
@given(st.integers(min_value=0, max_value=3000), st.sampled_from(["[", '{"a":', "- ", "a:\n "]))
def test_nesting_of_any_depth_is_bounded(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}"}.get(opener, "")
    text = opener * depth + "1" + closer * depth
    _only_objects_or_render_error(lambda: parse_stream(text, "deep.yaml"))


kustomize_entries = st.sampled_from(
    [
        "cm.yaml",
        "base",
        "../x",
        "/etc",
        "http://127.0.0.1:9/x",
        "github.com/o/r//p?ref=v1",
        "git@h:o/r",
        "gh:o/r",
        "a?b",
        "x//y",
        "",
        ".",
        "missing",
        "v1.2/base",
        "file:///x",
    ]
) | st.text(max_size=12)
kustomization = st.dictionaries(
    st.sampled_from(
        [
            "resources",
            "bases",
            "components",
            "patches",
            "patchesStrategicMerge",
            "crds",
            "configurations",
            "generators",
            "transformers",
            "validators",
            "helmCharts",
            "configMapGenerator",
            "openapi",
            "replacements",
            "namePrefix",
        ]
    ),
    st.lists(
        kustomize_entries
        | st.dictionaries(st.sampled_from(["path", "files"]), kustomize_entries, max_size=2),
        max_size=3,
    )
    | kustomize_entries
    | scalars,
    max_size=4,
)


@pytest.mark.usefixtures("tools")  # kustomize itself builds what passes the checks
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(kustomization)
@example({"resources": ["\U00010000"]})  # written as an escaped UTF-16 pair: once an escape
@example({"resources": ["a\x00b"]})
def test_any_kustomization_renders_or_is_a_render_error(tmp_path: Path, data: Any) -> None:
    folder = tmp_path / "app"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "base").mkdir(parents=True)
    (folder / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (folder / "base" / "kustomization.yaml").write_text("resources: [../cm.yaml]\n")
    (folder / "kustomization.yaml").write_text(json.dumps(data))
    _only_objects_or_render_error(lambda: render(folder, "apps/x", release="x", namespace="n"))
