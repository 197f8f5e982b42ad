"""A fetch downloads what is new, not the whole history again: the mirror keeps a ref to the
commit it fetched last, so git can tell the remote what it already has.

Real git on both sides: ``git http-backend`` behind the suite's TLS server with basic auth
(tests/git_https.py), which counts the bytes of every answer it sends.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.git_https import GitHttpsServer, self_signed
from tests.gitrepo import commit, git, init
from webhook.sources import Mirrors, Remote

REPO = "o/history"
TOKEN = "ghp_fetch-delta-token-1234"
COMMITS = 30


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHttpsServer]:
    cert, key = self_signed(tmp_path)
    server = GitHttpsServer(tmp_path / "served", cert, key, accepts={TOKEN}.__contains__)
    monkeypatch.setenv("GIT_SSL_CAINFO", str(cert))
    yield server
    server.close()


def downloaded(server: GitHttpsServer) -> int:
    """Bytes of pack answers sent so far (the negotiation and the pack itself)."""
    return sum(size for path, size in server.sent if path.endswith("/git-upload-pack"))


def test_a_second_fetch_downloads_only_the_new_commit(
    served: GitHttpsServer, tmp_path: Path
) -> None:
    work = init(tmp_path / "work", branch="master")
    for n in range(COMMITS):  # a history of incompressible files, about 4 KB each
        noise = base64.b64encode(os.urandom(3000)).decode()
        older = commit(work, {f"apps/shop/file-{n}.txt": noise, "apps/shop/app.yaml": f"n: {n}\n"})
    bare = tmp_path / "served" / "history.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    newer = commit(work, {"apps/shop/app.yaml": "n: new\n"})
    git(work, "push", "--quiet", str(bare), "master")

    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"{served.url}/history.git", token=TOKEN)
    mirrors.ensure_commit(REPO, remote, older)
    first = downloaded(served)
    assert first > COMMITS * 3000  # the whole history came the first time
    mirrors.ensure_commit(REPO, remote, newer)
    second = downloaded(served) - first
    assert second < first / 10, (first, second)
    with mirrors.checkout(REPO, remote, newer, "apps/shop") as folder:
        assert (folder / "app.yaml").read_text() == "n: new\n"
        assert len(list(folder.glob("file-*.txt"))) == COMMITS


def packs(mirror: Path) -> list[Path]:
    return sorted((mirror / "objects" / "pack").glob("*.pack"))


def test_git_housekeeping_still_runs_after_fetches_beside_the_sync(tmp_path: Path) -> None:
    """Fetches skip git's automatic maintenance (a process on the way to every sync) and run
    it in the background instead: without it every fetch leaves one more pack behind, and a
    mirror of a year of merges is thousands of packs to search. With the mirror's pack limit
    at 2, the fetches' packs are consolidated by that background run."""
    work = init(tmp_path / "work", branch="master")
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{work}")
    first = commit(work, {"a.txt": "0\n"})
    mirror = mirrors.ensure_commit(REPO, remote, first)
    git(mirror, "config", "gc.autoPackLimit", "2")
    git(mirror, "config", "fetch.unpackLimit", "1")  # every fetch keeps its pack
    git(mirror, "config", "gc.autoDetach", "false")
    for n in range(1, 6):
        mirrors.ensure_commit(REPO, remote, commit(work, {"a.txt": f"{n}\n"}))
    deadline = time.monotonic() + 30
    while len(packs(mirror)) > 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(packs(mirror)) <= 2, packs(mirror)
    with mirrors.checkout(REPO, remote, commit(work, {"a.txt": "last\n"}), "") as folder:
        assert (folder / "a.txt").read_text() == "last\n"
