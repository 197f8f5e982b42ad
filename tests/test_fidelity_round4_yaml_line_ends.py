"""A manifest file whose last line has no line break, read as kubectl and Argo CD read it.

kubernetes/examples (Apache-2.0) ``AI/vllm-deployment/hpa/prometheus-rule.yaml`` ends with
the last line of a PromQL ``expr: |`` block and no line break after it, as editors that do
not add one leave files. kubectl's reader (apimachinery's ``LineReader``; Argo CD's
directory apps and ``helm install`` read through it too) ends every line with a line break
before YAML sees it, so the block keeps its final newline; the render read the text as it
was and applied the expression one character shorter. (kustomize, so Flux, drops the
newline; the README says which the deployer follows.) The fixtures are written anew.

The reference is the real Go reader: ``kubectl label --local -o json`` (go_reads).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_fidelity_realworld_yaml_scalars import go_reads
from webhook.render import render

pytestmark = pytest.mark.usefixtures("tools")

#: Shaped as the vllm example's PrometheusRule: the file ends inside a literal block.
RULE = """apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: dcgm-relabel-rules
spec:
  groups:
  - name: dcgm.rules
    rules:
    - record: dcgm_gpu_util_relabelled
      expr: |
        label_replace(
          DCGM_FI_DEV_GPU_UTIL,
          "pod", "$1", "exported_pod", "(.+)"
        )"""

#: Every chomping of a block scalar, and a folded one, on the file's last lines.
CHOMPING = {
    "literal-clip": "  v: |\n    echo hi",
    "literal-keep": "  v: |+\n    echo hi",
    "literal-strip": "  v: |-\n    echo hi",
    "folded-clip": "  v: >\n    echo\n    hi",
    "plain": "  v: echo hi",
    "crlf": "  v: |\r\n    echo hi",
}


def _objects(app: Path) -> list[dict[str, object]]:
    return [r.body for r in render(app, "apps/rules", release="rules", namespace="monitoring")]


def test_a_block_at_the_end_of_a_file_keeps_its_newline_as_kubectl_reads_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "prometheus-rule.yaml").write_text(RULE)
    (rule,) = _objects(tmp_path)
    assert rule["spec"]["groups"][0]["rules"][0]["expr"].endswith(")\n")  # type: ignore[index]
    assert [rule] == go_reads(tmp_path / "prometheus-rule.yaml")


@pytest.mark.parametrize("tail", CHOMPING.values(), ids=CHOMPING.keys())
def test_the_last_line_of_a_file_reads_as_kubectl_reads_it(tmp_path: Path, tail: str) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: eof\ndata:\n" + tail
    (tmp_path / "cm.yaml").write_bytes(text.encode())
    assert _objects(tmp_path) == go_reads(tmp_path / "cm.yaml")


def test_a_file_ending_in_its_line_break_is_read_as_before(tmp_path: Path) -> None:
    (tmp_path / "prometheus-rule.yaml").write_text(RULE + "\n\n")
    assert _objects(tmp_path) == go_reads(tmp_path / "prometheus-rule.yaml")
