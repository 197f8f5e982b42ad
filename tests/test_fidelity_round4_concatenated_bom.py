"""Files from Windows tools joined into one, read as kubectl and kustomize read them.

Notepad and PowerShell write UTF-8 with a byte order mark; joining such files
(``cat a.yaml b.yaml > all.yaml``, or a CI step bundling a release manifest) leaves a mark
at the start of every document after the first. kubectl (so Argo CD and ``helm install``)
and kustomize (so Flux) split the text at ``---`` lines and read each document as a stream
of its own, dropping a mark that opens it; the render read the file as one stream, so the
mark began the first key (``\\ufeffapiVersion``) and the object had no apiVersion. A mark
anywhere else is text to all of them. The fixtures are written anew.

The references are the real tools: ``kubectl label --local -o json`` (go_reads) and
``kustomize build``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.test_fidelity_realworld_yaml_scalars import go_reads
from webhook.render import parse_stream, render

pytestmark = pytest.mark.usefixtures("tools")

BOM = "\ufeff"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def _joined(newline: str) -> str:
    """Three files, the second and third saved with a byte order mark, joined by ``---``
    lines (the second one with a comment, as kubectl allows)."""
    first, second, third = (CM.format(name=n) for n in ("first", "second", "third"))
    text = f"{first}---\n{BOM}{second}--- # third\n{BOM}{third}"
    return text.replace("\n", newline)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_mark_opening_a_later_document_is_dropped_as_kubectl_drops_it(
    tmp_path: Path, newline: str
) -> None:
    (tmp_path / "all.yaml").write_bytes(_joined(newline).encode())
    out = [r.body for r in render(tmp_path, "apps/all", release="all", namespace="ns")]
    assert [o["metadata"]["name"] for o in out] == ["first", "second", "third"]  # type: ignore[index]
    assert out == go_reads(tmp_path / "all.yaml")


def test_kustomize_reads_the_joined_file_alike(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_bytes(_joined("\n").encode())
    (tmp_path / "kustomization.yaml").write_text("resources: [all.yaml]\n")
    built = subprocess.run(
        ["kustomize", "build", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    kustomized = [r.body for r in parse_stream(built, "kustomize")]
    (tmp_path / "kustomization.yaml").unlink()
    out = [r.body for r in render(tmp_path, "apps/all", release="all", namespace="ns")]
    assert out == kustomized


def test_a_mark_inside_a_document_stays_text_as_kubectl_keeps_it(tmp_path: Path) -> None:
    text = CM.format(name="inside").replace("\ndata:", f"\n{BOM}data:")
    (tmp_path / "cm.yaml").write_text(text)
    (obj,) = parse_stream(text, "cm.yaml")
    assert BOM + "data" in obj.body
    assert [obj.body] == go_reads(tmp_path / "cm.yaml")
