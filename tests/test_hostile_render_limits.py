"""Memory a hostile chart can make the deployer's machine spend, before any output is read.

Helm holds every packaged subchart in memory (each up to its own 100 MiB bound), and a
template can allocate gigabytes (``repeat``) before it prints a byte, so the output cap
cannot help. The deployer bounds the archives of a render together, and makes every tool the
out-of-memory killer's first choice, so that running out of memory ends the render, not the
deployer.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from webhook.render import RenderError, chart_schema, limits, render

CHART = "apiVersion: v2\nname: {name}\nversion: 0.1.0\n"
REPORTER = """#!/bin/sh
printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: oom\\ndata:\\n  adj: "%s"\\n' \\
  "$(cat /proc/self/oom_score_adj)"
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_tools_are_the_out_of_memory_killers_first_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool (here a stand-in printing its own score) runs at oom_score_adj 1000; the
    deployer's own score is left as it was."""
    tool = write(tmp_path, "bin/kustomize", REPORTER)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    app = tmp_path / "app"
    write(app, "kustomization.yaml", "resources: []\n")
    own = Path("/proc/self/oom_score_adj").read_text().strip()
    (obj,) = render(app, "apps/x", release="x", namespace="ns")
    assert obj.body["data"] == {"adj": "1000"}
    assert Path("/proc/self/oom_score_adj").read_text().strip() == own


def bomb(name: str, size: int) -> bytes:
    """A packaged chart whose one template decompresses to ``size`` zero bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{name}/templates/zeros.yaml")
        info.size = size
        archive.addfile(info, io.BytesIO(bytes(size)))
    return buffer.getvalue()


def test_the_packaged_subcharts_of_a_render_are_bounded_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each archive within helm's own bound, all of them together over the render's."""
    monkeypatch.setattr(chart_schema, "MAX_ARCHIVE_BYTES", 1_000_000)
    monkeypatch.setattr(chart_schema, "MAX_TOTAL_ARCHIVE_BYTES", 2_500_000)
    app = tmp_path / "app"
    write(app, "Chart.yaml", CHART.format(name="app"))
    for index in range(2):
        write(app, f"charts/b{index}-0.1.0.tgz", "")
        (app / f"charts/b{index}-0.1.0.tgz").write_bytes(bomb(f"b{index}", 900_000))
    chart_schema.check_chart(app, "apps/x")  # 1.8 MB together: within the bound
    (app / "charts/b2-0.1.0.tgz").write_bytes(bomb("b2", 900_000))
    with pytest.raises(
        RenderError,
        match=r"^apps/x/charts/b2-0\.1\.0\.tgz: the chart's packaged subcharts decompress to "
        r"more than 2500000 bytes together",
    ):
        render(app, "apps/x", release="x", namespace="ns")


def diamond(app: Path, levels: int) -> None:
    """Each level names the next twice (under two prefixes): 2**levels builds of the last."""
    for level in range(levels):
        write(app, f"l{level}/kustomization.yaml", "resources: [a, b]\n")
        for side in "ab":
            write(
                app,
                f"l{level}/{side}/kustomization.yaml",
                f"namePrefix: {side}-\nresources: [../../l{level + 1}]\n",
            )
    write(app, f"l{levels}/kustomization.yaml", "resources: [cm.yaml]\n")
    write(app, f"l{levels}/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")


@pytest.mark.usefixtures("tools")  # the build within the bound runs kustomize
def test_bases_named_again_and_again_are_refused_before_kustomize_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured with kustomize 5.7.1: ten levels (1,024 objects) build in 7.6 s, twelve
    (4,096) take more than 100 s; a pull request could hold a worker for the whole timeout
    with a few kilobytes. Each level doubles the builds, so the count is refused first."""
    app = tmp_path / "app"
    diamond(app, 11)
    with pytest.raises(RenderError, match=r"^apps/x/l0: kustomize would build more than 2000"):
        render(app / "l0", "apps/x/l0", release="x", namespace="ns", checkout_root=app)
    monkeypatch.setattr(limits, "MAX_KUSTOMIZE_BUILDS", 2**5 * 3)
    small = tmp_path / "small"
    diamond(small, 4)  # 1 + 2 * (1 + 2 * ...) = 3 * 2**4 - 2 builds: within the bound
    objects = render(small / "l0", "apps/x/l0", release="x", namespace="ns", checkout_root=small)
    assert len(objects) == 2**4
