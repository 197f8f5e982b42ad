"""The renderer's own symlink check: once per tree, and never fooled by a remembered tree.

A whole-tree checkout is shared by every app of a commit; the check walked it once per app
(O(apps) per sync). These tests count the directories the check reads (the effect itself)
and make sure a tree that was not checked, at a new path or at a reused one, is walked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook.render import RenderError, links as render_links, render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def tree(root: Path, apps: int) -> Path:
    for i in range(apps):
        folder = root / "apps" / f"app-{i}"
        folder.mkdir(parents=True)
        (folder / "cm.yaml").write_text(CM.format(name=f"cm-{i}"))
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every directory listed (by the check and by the plain renderer), in order."""
    seen: list[str] = []
    real = os.scandir

    def counting(path: str) -> Any:
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    yield seen


def render_app(root: Path, i: int) -> list[str]:
    folder = root / "apps" / f"app-{i}"
    out = render(folder, f"apps/app-{i}", release="r", namespace="n", checkout_root=root)
    return [item.body["metadata"]["name"] for item in out]


def test_a_shared_tree_is_walked_once_for_all_its_apps(tmp_path: Path, reads: list[str]) -> None:
    root = tree(tmp_path / "tree", 30)
    assert [render_app(root, i) for i in range(30)] == [[f"cm-{i}"] for i in range(30)]
    # Only the check lists the tree's root and ``apps/`` (a plain render lists its own
    # folder): once each for the 30 apps; every app folder by the check once, by its render once.
    assert reads.count(str(root)) == 1
    assert reads.count(str(root / "apps")) == 1
    assert sorted(set(reads)) == sorted(reads[:32])
    assert len(reads) == 32 + 30


def test_a_bad_link_in_another_apps_folder_is_still_refused_for_every_app(
    tmp_path: Path, reads: list[str]
) -> None:
    root = tree(tmp_path / "tree", 3)
    (tmp_path / "secret").write_text("token")
    (root / "apps" / "app-2" / "leak.yaml").symlink_to(tmp_path / "secret")
    for i in range(3):  # a failed check is not remembered: each app is refused
        with pytest.raises(RenderError, match=r"^apps/app-2/leak.yaml: symbolic link leads"):
            render_app(root, i)
    assert len(reads) == 3 * 5


def test_a_new_tree_at_the_path_of_a_checked_one_is_walked_again(
    tmp_path: Path, reads: list[str]
) -> None:
    root = tree(tmp_path / "tree", 2)
    assert render_app(root, 0) == ["cm-0"]
    shutil.rmtree(root)
    root = tree(tmp_path / "tree", 2)
    (tmp_path / "secret").write_text("token")
    (root / "apps" / "app-1" / "leak.yaml").symlink_to(tmp_path / "secret")
    with pytest.raises(RenderError, match="symbolic link leads outside the checkout"):
        render_app(root, 0)


def test_links_inside_the_tree_pass_and_links_through_links_are_followed(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "tree", 2)
    (root / "apps" / "app-0" / "shared.yaml").symlink_to("../app-1/cm.yaml")
    assert render_app(root, 0) == ["cm-0", "cm-1"]
    other = tree(tmp_path / "other", 1)
    (other / "hop").symlink_to("apps")
    (other / "apps" / "app-0" / "out").symlink_to("../../hop/../..")
    with pytest.raises(RenderError, match=r"^apps/app-0/out: symbolic link leads"):
        render_app(other, 0)


def test_an_unreadable_tree_is_a_render_error(tmp_path: Path) -> None:
    root = tree(tmp_path / "tree", 1)
    with pytest.raises(RenderError, match="cannot read the checkout"):
        render_links.stay_inside(root / "apps" / "app-0", root / "gone", "apps/app-0")
