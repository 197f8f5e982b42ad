"""The long-lived ``cat-file --batch-check`` behind ``Mirrors._has_commit``, with real git:
right answers (commits only), objects fetched after it started, one process for many
questions, and a dead or stale process never making an answer wrong."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitrepo import commit, init
from webhook.git_probe import CommitProbes
from webhook.sources import Mirrors, Remote, _git_env


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
    return out.stdout.decode().strip()


@pytest.fixture
def probes() -> Iterator[CommitProbes]:
    made = CommitProbes(lambda: _git_env(None))
    yield made
    made.close()


def bare(tmp_path: Path, name: str = "mirror.git") -> Path:
    path = tmp_path / name
    subprocess.run(["git", "init", "--bare", "--quiet", str(path)], check=True)
    return path


def test_commits_are_found_and_anything_else_is_not(tmp_path: Path, probes: CommitProbes) -> None:
    repo = init(tmp_path / "repo")
    first = commit(repo, {"a.yaml": "a: 1\n"}, "first")
    second = commit(repo, {"a.yaml": "a: 2\n"}, "second")
    tree = git(repo, "rev-parse", f"{second}^{{tree}}")
    git_dir = repo / ".git"
    assert probes.has_commit(git_dir, second)
    assert probes.has_commit(git_dir, f"{second}^1")
    assert not probes.has_commit(git_dir, f"{first}^1")  # a root commit has no parent
    assert not probes.has_commit(git_dir, tree)  # a tree is not a commit
    assert not probes.has_commit(git_dir, "0" * 40)
    assert probes.started == 1


@pytest.mark.parametrize("unpack_limit", ["1", "100000"], ids=["packed", "loose"])
def test_objects_fetched_after_the_probe_started_are_seen(
    tmp_path: Path, probes: CommitProbes, unpack_limit: str
) -> None:
    repo = init(tmp_path / "repo")
    commit(repo, {"a.yaml": "a: 1\n"}, "first")
    mirror = bare(tmp_path)
    head = commit(repo, {"b.yaml": "b: 1\n"}, "second")
    assert not probes.has_commit(mirror, head)
    git(mirror, "-c", f"fetch.unpackLimit={unpack_limit}", "fetch", "-q", str(repo), head)
    packs = list((mirror / "objects" / "pack").glob("*.pack"))
    assert bool(packs) == (unpack_limit == "1")
    assert probes.has_commit(mirror, head)
    assert probes.started == 1


def test_a_dead_probe_is_replaced_and_its_question_still_answered(
    tmp_path: Path, probes: CommitProbes
) -> None:
    repo = init(tmp_path / "repo")
    head = commit(repo, {"a.yaml": "a: 1\n"}, "first")
    git_dir = repo / ".git"
    assert probes.has_commit(git_dir, head)
    probe = probes._probes[git_dir]
    probe.proc.kill()
    probe.proc.wait()
    assert probes.has_commit(git_dir, head)
    assert not probes.has_commit(git_dir, "1" * 40)
    assert probes.started == 2


def test_at_most_keep_probes_stay_running(tmp_path: Path) -> None:
    probes = CommitProbes(lambda: _git_env(None), keep=2)
    try:
        mirrors = [bare(tmp_path, f"m{i}.git") for i in range(5)]
        running = []
        for mirror in mirrors:
            assert not probes.has_commit(mirror, "2" * 40)
            running.append(probes._probes[mirror].proc)
        assert [p.poll() is None for p in running] == [False, False, False, True, True]
    finally:
        probes.close()
    assert all(p.poll() is not None for p in running)


@pytest.mark.parametrize("name", ["", "a b", "abc\nHEAD", "abc\t"])
def test_a_name_that_would_be_two_questions_is_refused(
    tmp_path: Path, probes: CommitProbes, name: str
) -> None:
    with pytest.raises(ValueError, match="not an object name"):
        probes.has_commit(bare(tmp_path), name)


def test_a_mirror_fetches_and_checks_through_one_probe(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    remote = Remote(url=f"file://{repo}")
    mirrors = Mirrors(tmp_path / "cache")
    try:
        for i in range(5):
            sha = commit(repo, {"a.yaml": f"a: {i}\n"}, f"c{i}")
            mirrors.ensure_commit("o/r", remote, sha)
            assert mirrors.changed_paths("o/r", remote, "parent", sha) == ["a.yaml"]
        assert mirrors.probes.started == 1
    finally:
        mirrors.probes.close()


def test_a_forked_child_starts_its_own_probe_and_leaves_the_parents_alone(
    tmp_path: Path, probes: CommitProbes
) -> None:
    repo = init(tmp_path / "repo")
    head = commit(repo, {"a.yaml": "a: 1\n"}, "first")
    git_dir = repo / ".git"
    assert probes.has_commit(git_dir, head)
    parents = probes._probes[git_dir].proc
    pid = os.fork()
    if pid == 0:  # the child: answers through a probe of its own, then closes it
        ok = probes.has_commit(git_dir, head) and probes._probes[git_dir].proc is not parents
        probes.close()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parents.poll() is None
    assert probes.has_commit(git_dir, head) and probes.started == 1
