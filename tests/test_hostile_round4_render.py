"""Round 4, rendering: a plain folder of many kustomization subfolders holding a worker.

A folder without a kustomization or a chart builds each subfolder that has one with a
``kustomize build`` of its own, and each build had its own bounds (2,000 kustomization
builds, 120 seconds). A pull request adding 10,000 one-line kustomizations (55 ms of
kustomize each, measured here with 200) held a worker for ten minutes on every push,
twice per preview (the plan and its diff). Now the builds of all the subfolders count
together, before any of them runs, and every tool run of one render shares one deadline.

Real kustomize, real files; the bounds are lowered where a test would otherwise take the
minutes the attack costs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from webhook.render import RenderError, limits, render

pytestmark = pytest.mark.usefixtures("tools")


def _subfolders(app: Path, count: int) -> None:
    """``count`` kustomization subfolders of one ConfigMap each (a generator: one file)."""
    for i in range(count):
        folder = app / f"s{i:05}"
        folder.mkdir(parents=True)
        (folder / "kustomization.yaml").write_text(
            f"configMapGenerator:\n- name: c{i}\n  literals: [a=b]\n"
        )


class CountingKustomize:
    """Counts the kustomize processes started, through a wrapper first on PATH (the real
    kustomize does the work): what the refusal must have saved."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        real = shutil.which("kustomize")
        assert real is not None
        self.log = tmp_path / "runs.log"
        bin_dir = tmp_path / "counting-bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "kustomize"
        wrapper.write_text(f'#!/bin/sh\necho run >> "{self.log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    @property
    def runs(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def test_the_builds_of_all_kustomization_subfolders_count_together_before_any_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingKustomize(tmp_path, monkeypatch)
    monkeypatch.setattr(limits, "MAX_KUSTOMIZE_BUILDS", 20)
    app = tmp_path / "app"
    _subfolders(app, 21)  # each one build, each alone far within the bound
    with pytest.raises(RenderError, match=r"^apps/x: its 21 kustomization folders would build"):
        render(app, "apps/x", release="x", namespace="ns")
    assert counting.runs == 0

    within = tmp_path / "within"
    _subfolders(within, 3)
    assert len(render(within, "apps/y", release="y", namespace="ns")) == 3
    assert counting.runs == 3


def test_the_tool_runs_of_one_render_share_one_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline is set so short that only the first build may start; the render then
    refuses the next one instead of running each with a full timeout of its own."""
    counting = CountingKustomize(tmp_path, monkeypatch)
    app = tmp_path / "app"
    _subfolders(app, 5)
    monkeypatch.setattr(limits, "RENDER_TIMEOUT", 0.001)
    with pytest.raises(RenderError, match=r"tool runs took longer than 0s in all; `kustomize`"):
        render(app, "apps/x", release="x", namespace="ns")
    assert counting.runs <= 1
    # Each render has a deadline of its own: a later one is not refused for an earlier one.
    monkeypatch.setattr(limits, "RENDER_TIMEOUT", 600.0)
    assert len(render(app, "apps/x", release="x", namespace="ns")) == 5
