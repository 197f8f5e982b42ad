"""Fetching exact commits into temporary folders, from real git repos served as file:// URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitrepo import commit, git, init
from webhook.checkout import Limits
from webhook.errors import Unavailable
from webhook.sources import Mirrors, Remote, SourceError, branch_head, scrub


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return init(tmp_path / "origin")


def test_the_exact_commit_is_extracted_not_the_branch_tip(origin: Path, tmp_path: Path) -> None:
    first = commit(origin, {"apps/x/cm.yaml": "v: 1\n", "apps/y/other.yaml": "y\n"})
    commit(origin, {"apps/x/cm.yaml": "v: 2\n"})
    mirrors = Mirrors(tmp_path / "cache")
    with mirrors.checkout("o/r", Remote(url=f"file://{origin}"), first, "apps/x") as folder:
        assert (folder / "cm.yaml").read_text() == "v: 1\n"
        assert not (folder.parent / "y").exists()
        kept = folder
    assert not kept.exists()


def test_a_commit_already_in_the_mirror_is_not_fetched_again(origin: Path, tmp_path: Path) -> None:
    sha = commit(origin, {"apps/x/cm.yaml": "v: 1\n"})
    mirrors = Mirrors(tmp_path / "cache")
    mirrors.ensure_commit("o/r", Remote(url=f"file://{origin}"), sha)
    # The remote is gone: a second sync of the same commit must not need it.
    gone = Remote(url=f"file://{tmp_path}/gone")
    with mirrors.checkout("o/r", gone, sha, "apps/x") as folder:
        assert (folder / "cm.yaml").exists()


def test_a_later_commit_is_fetched_into_the_same_mirror(origin: Path, tmp_path: Path) -> None:
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{origin}")
    first = commit(origin, {"apps/x/cm.yaml": "v: 1\n"})
    second_mirror = mirrors.ensure_commit("o/r", remote, first)
    second = commit(origin, {"apps/x/cm.yaml": "v: 2\n"})
    assert mirrors.ensure_commit("o/r", remote, second) == second_mirror
    assert len(list((tmp_path / "cache" / "git").glob("*.git"))) == 1


def test_an_app_folder_missing_at_that_commit_is_a_clear_error(
    origin: Path, tmp_path: Path
) -> None:
    commit(origin, {"apps/x/cm.yaml": "v: 1\n"})
    git(origin, "rm", "--quiet", "-r", "apps/x")
    commit(origin, {"README": "x removed\n"})
    sha = git(origin, "rev-parse", "HEAD")
    with (
        pytest.raises(SourceError, match=f"^apps/x does not exist at {sha}$"),
        Mirrors(tmp_path / "c").checkout("o/r", Remote(url=f"file://{origin}"), sha, "apps/x"),
    ):
        pass


def test_an_unknown_commit_is_an_error(origin: Path, tmp_path: Path) -> None:
    commit(origin, {"apps/x/cm.yaml": "v: 1\n"})
    with pytest.raises(SourceError, match=r"commit 0{39}1 does not exist"):
        Mirrors(tmp_path / "c").ensure_commit("o/r", Remote(url=f"file://{origin}"), "0" * 39 + "1")


def test_an_unreachable_remote_is_an_infrastructure_fault(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="git fetch failed"):
        Mirrors(tmp_path / "c").ensure_commit(
            "o/r", Remote(url=f"file://{tmp_path}/none"), "a" * 40
        )


def test_a_symlink_leaving_the_app_folder_is_refused(origin: Path, tmp_path: Path) -> None:
    commit(origin, {"secret.txt": "s\n", "apps/x/cm.yaml": "v\n"})
    (origin / "apps/x/leak.yaml").symlink_to("../../secret.txt")
    sha = commit(origin, {})
    with (
        pytest.raises(SourceError, match=r"apps/x/leak.yaml at .* is a symlink leaving apps/x"),
        Mirrors(tmp_path / "c").checkout("o/r", Remote(url=f"file://{origin}"), sha, "apps/x"),
    ):
        pass


def test_a_symlink_inside_the_app_folder_is_fine(origin: Path, tmp_path: Path) -> None:
    commit(origin, {"apps/x/base/cm.yaml": "v\n"})
    (origin / "apps/x/cm.yaml").symlink_to("base/cm.yaml")
    sha = commit(origin, {})
    with Mirrors(tmp_path / "c").checkout(
        "o/r", Remote(url=f"file://{origin}"), sha, "apps/x"
    ) as d:
        assert (d / "cm.yaml").read_text() == "v\n"


def test_a_file_over_the_size_limit_is_refused(origin: Path, tmp_path: Path) -> None:
    sha = commit(origin, {"apps/x/big.yaml": "x" * 101})
    mirrors = Mirrors(tmp_path / "c", Limits(file_bytes=100))
    with (
        pytest.raises(SourceError, match=r"apps/x/big.yaml at .* is 101 bytes, over the 100 limit"),
        mirrors.checkout("o/r", Remote(url=f"file://{origin}"), sha, "apps/x"),
    ):
        pass


def test_the_whole_tree_can_be_extracted_with_the_app_folder_yielded(
    origin: Path, tmp_path: Path
) -> None:
    sha = commit(origin, {"apps/x/cm.yaml": "v\n", "shared/base.yaml": "b\n", "README": "r\n"})
    remote = Remote(url=f"file://{origin}")
    with Mirrors(tmp_path / "c").checkout("o/r", remote, sha, "apps/x", tree="") as folder:
        assert (folder / "cm.yaml").read_text() == "v\n"
        root = folder.parent.parent
        assert (root / "shared/base.yaml").read_text() == "b\n"
        assert (root / "README").read_text() == "r\n"


def test_the_app_folder_must_lie_inside_the_extracted_tree(origin: Path, tmp_path: Path) -> None:
    sha = commit(origin, {"apps/x/cm.yaml": "v\n", "other/y.yaml": "y\n"})
    remote = Remote(url=f"file://{origin}")
    mirrors = Mirrors(tmp_path / "c")
    with (
        pytest.raises(SourceError, match="apps/x is not inside other"),
        mirrors.checkout("o/r", remote, sha, "apps/x", tree="other"),
    ):
        pass
    with (
        pytest.raises(SourceError, match=r"folder \.\./x leaves the repository"),
        mirrors.checkout("o/r", remote, sha, "../x", tree=""),
    ):
        pass
    with (
        pytest.raises(SourceError, match=f"^apps/z does not exist at {sha}$"),
        mirrors.checkout("o/r", remote, sha, "apps/z", tree=""),
    ):
        pass


def test_branch_head_reads_the_remote_tip(origin: Path) -> None:
    commit(origin, {"a": "1"})
    sha = commit(origin, {"a": "2"})
    assert branch_head(f"file://{origin}", "main") == sha
    with pytest.raises(SourceError, match="branch 'nope' does not exist"):
        branch_head(f"file://{origin}", "nope")


def test_credentials_never_appear_in_errors(tmp_path: Path) -> None:
    token = "ghp_" + "s3cr3t" * 5
    remote = Remote(url="https://user:pw@127.0.0.1:9/o/r.git", token=token)
    with pytest.raises(Unavailable) as caught:
        Mirrors(tmp_path / "c").ensure_commit("o/r", remote, "a" * 40)
    message = str(caught.value)
    assert token not in message and "pw@" not in message
    assert "https://***@127.0.0.1:9/o/r.git" in message
    assert token not in repr(remote)
    config = (tmp_path / "c" / "git").glob("*.git/config")
    assert all(token not in p.read_text() for p in config)


def test_scrub_removes_tokens_and_their_basic_auth_form() -> None:
    assert scrub("x https://a:b@h/p tok", "tok") == "x https://***@h/p ***"


def test_an_app_folder_that_is_a_file_at_that_commit_is_a_clear_error(
    origin: Path, tmp_path: Path
) -> None:
    """Only listing a folder that is not one asks git what it is: the same clear error."""
    commit(origin, {"apps/x": "not a folder\n"})
    sha = git(origin, "rev-parse", "HEAD")
    with (
        pytest.raises(SourceError, match=f"^apps/x does not exist at {sha}$"),
        Mirrors(tmp_path / "c").checkout("o/r", Remote(url=f"file://{origin}"), sha, "apps/x"),
    ):
        pass
