"""Whole-tree checkouts shared by the apps of one commit: extracted once, from real git."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.gitrepo import commit, init
from webhook.checkout import Limits
from webhook.sources import Mirrors, Remote, SourceError


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return init(tmp_path / "origin")


def test_the_apps_of_one_commit_share_one_extraction(origin: Path, tmp_path: Path) -> None:
    files = {f"apps/a{i}/cm.yaml": f"v: {i}\n" for i in range(8)}
    sha = commit(origin, files)
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{origin}")
    roots: list[Path] = []
    inside = threading.Barrier(8, timeout=30)  # all eight hold the tree at the same time

    def job(i: int) -> None:
        with mirrors.checkout("o/r", remote, sha, f"apps/a{i}", tree="", shared=True) as folder:
            assert (folder / "cm.yaml").read_text() == f"v: {i}\n"
            assert (folder.parent / "a0" / "cm.yaml").exists()  # the whole tree
            roots.append(folder.parents[1])
            inside.wait()

    threads = [threading.Thread(target=job, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(roots) == 8 and len(set(roots)) == 1
    assert mirrors.trees.extractions == 1
    # A job of the same commit later reuses the kept tree; another commit extracts anew.
    with mirrors.checkout("o/r", remote, sha, "apps/a3", tree="", shared=True) as folder:
        assert folder.parents[1] == roots[0]
    later = commit(origin, {"apps/a0/cm.yaml": "v: changed\n"})
    with mirrors.checkout("o/r", remote, later, "apps/a0", tree="", shared=True) as folder:
        assert (folder / "cm.yaml").read_text() == "v: changed\n"
        assert folder.parents[1] != roots[0]
    assert mirrors.trees.extractions == 2


def test_old_trees_are_removed_beyond_the_few_kept(origin: Path, tmp_path: Path) -> None:
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{origin}")
    roots = []
    for i in range(mirrors.trees.keep + 2):
        sha = commit(origin, {"apps/x/cm.yaml": f"v: {i}\n"})
        with mirrors.checkout("o/r", remote, sha, "apps/x", tree="", shared=True) as folder:
            roots.append(folder.parents[1])
    assert [r.exists() for r in roots] == [False, False] + [True] * mirrors.trees.keep
    mirrors.trees.clear()
    assert not any(r.exists() for r in roots)


def test_a_refused_tree_fails_every_job_of_its_commit_and_is_not_kept(
    origin: Path, tmp_path: Path
) -> None:
    sha = commit(origin, {f"apps/x/f{i}.yaml": "a: 1\n" for i in range(5)})
    mirrors = Mirrors(tmp_path / "cache", Limits(files=3))
    remote = Remote(url=f"file://{origin}")
    for _ in range(2):
        with (
            pytest.raises(SourceError, match="files"),
            mirrors.checkout("o/r", remote, sha, "apps/x", tree="", shared=True),
        ):
            pass
    assert mirrors.trees.extractions == 2  # tried afresh, not a cached failure
    assert not mirrors.trees._trees
