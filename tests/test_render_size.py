"""The rendered-document size limit (``limits.MAX_DOCUMENT_BYTES``): a manifest file, or a
text a tool rendered, above it is refused with its name before it is parsed. Real files
read by the plain renderer; the limit is lowered so the test writes kilobytes, not 8 MiB."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.render import RenderError, documents, limits, render_plain

LIMIT = 1000


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DOCUMENT_BYTES", LIMIT)


def config_map(padding: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{v: '{padding}'}}\n"


def test_a_file_over_the_limit_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(config_map("x" * 10))
    (tmp_path / "big.yaml").write_text(config_map("x" * LIMIT))
    with pytest.raises(RenderError, match=rf"^apps/x/big\.yaml: larger than {LIMIT} bytes$"):
        render_plain(tmp_path, "apps/x")


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    text = config_map("x" * 10)
    text += "#" * (LIMIT - len(text) - 1) + "\n"
    (tmp_path / "a.yaml").write_text(text)
    assert (tmp_path / "a.yaml").stat().st_size == LIMIT
    [rendered] = render_plain(tmp_path, "apps/x")
    assert rendered.body["metadata"]["name"] == "c"


def test_a_json_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text('{"kind": "List", "items": [], "x": "' + "y" * LIMIT + '"}')
    with pytest.raises(RenderError, match=r"^apps/x/big\.json: larger than"):
        render_plain(tmp_path, "apps/x")


def test_rendered_text_is_measured_in_bytes_not_characters() -> None:
    """A tool's output reaches the parser as text: 600 three-byte characters are 1800 bytes."""
    wide = config_map("€" * 600)
    assert len(wide) < LIMIT < len(wide.encode("utf-8"))
    with pytest.raises(RenderError, match=rf"^kustomize output: larger than {LIMIT} bytes$"):
        documents.parse_stream(wide, "kustomize output")
    with pytest.raises(RenderError, match="larger than"):
        documents.load_json('"' + "y" * LIMIT + '"', "values.json")
    assert documents.parse_stream(config_map("€" * 200), "kustomize output")
