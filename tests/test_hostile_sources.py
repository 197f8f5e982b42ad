"""Hostile repositories against the checkout: real git, crafted trees, real helm.

Each case ends in a SourceError naming the path, the commit and why, or, where the content is
legitimate, in exactly the bytes git holds. Crafted trees are built object by object
(``git hash-object --literally``, ``git commit-tree``), as an attacker would push them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from tests.gitrepo import commit, git, init
from webhook import render
from webhook.checkout import Limits
from webhook.errors import Unavailable
from webhook.render import RenderError
from webhook.sources import Mirrors, Remote, SourceError

#: Folders between the app folder and the link that climbs back out (the issue's d1/…/d15).
DEPTH = 15
CHART = {
    "apps/x/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "apps/x/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
        'data: {a: {{ .Files.Get "a" | quote }}}\n'
    ),
}


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return init(tmp_path / "origin")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file of the deployer's machine, outside any checkout, that no renderer may read."""
    path = tmp_path / "outside" / "token"
    path.parent.mkdir()
    path.write_text("deployer-secret-token\n")
    return path


def remote(origin: Path) -> Remote:
    return Remote(url=f"file://{origin}")


def refused(
    origin: Path, sha: str, match: str, *, path: str = "apps/x", tree: str | None = None
) -> None:
    """Checking ``path`` of ``sha`` out must fail with a SourceError matching ``match``."""
    mirrors = Mirrors(origin.parent / "cache")
    with (
        pytest.raises(SourceError, match=match) as caught,
        mirrors.checkout("o/r", remote(origin), sha, path, tree=tree),
    ):
        pass
    assert not isinstance(caught.value, Unavailable), "a content fault is not a retry"


def write_chain(root: Path, secret: Path) -> None:
    """The issue's chain: ``a`` stays inside as text and leaves once ``z`` is followed."""
    deep = root.joinpath(*[f"d{i}" for i in range(1, DEPTH + 1)])
    deep.mkdir(parents=True)
    (root / "e").mkdir()
    (root / "e/.keep").write_text("")
    (deep / "z").symlink_to("../" * DEPTH + "e")  # to ``root/e``: harmless as text
    climb = "../" * (DEPTH + 1)  # as text: from d1/…/d15/z back to ``root`` only
    (root / "a").symlink_to(f"{deep.relative_to(root)}/z/{climb}{secret.relative_to('/')}")


def test_the_symlink_chain_really_escapes_on_disk(tmp_path: Path, secret: Path) -> None:
    write_chain(tmp_path / "app", secret)
    assert (tmp_path / "app/a").read_text() == "deployer-secret-token\n"


def test_the_symlink_chain_from_the_issue_is_refused(origin: Path, secret: Path) -> None:
    commit(origin, {"apps/x/cm.yaml": "v\n"})
    write_chain(origin / "apps/x", secret)
    sha = commit(origin, {})
    refused(origin, sha, rf"^apps/x/a at {sha} is a symlink leaving apps/x: d1/d2/.* resolves")
    refused(origin, sha, rf"^apps/x/a at {sha} is a symlink leaving the repository", tree="")


@pytest.mark.usefixtures("tools")
def test_helm_reads_through_the_chain_unless_the_checkout_refuses_it(
    origin: Path, secret: Path, tmp_path: Path
) -> None:
    assert shutil.which("helm"), "the `tools` fixture puts helm on PATH"
    sha = commit(origin, CHART)
    write_chain(origin / "apps/x", secret)
    sha = commit(origin, {})
    # The threat is real: helm, given the folder as git would check it out, leaks the file.
    loose = tmp_path / "loose"
    shutil.copytree(origin / "apps/x", loose, symlinks=True)
    helm = subprocess.run(
        ["helm", "template", "r", str(loose)], capture_output=True, text=True, check=True
    )
    assert "deployer-secret-token" in helm.stdout
    # Both layers refuse it: the renderer on its own, and the checkout before it.
    with pytest.raises(RenderError, match="apps/x/a: symbolic link leads outside the checkout"):
        render.render(loose, "apps/x", release="r", namespace="n", values_files=[])
    mirrors = Mirrors(tmp_path / "cache")
    with (
        pytest.raises(SourceError, match=f"apps/x/a at {sha} is a symlink leaving apps/x"),
        mirrors.checkout("o/r", remote(origin), sha, "apps/x") as folder,
    ):
        render.render(folder, "apps/x", release="r", namespace="n", values_files=[])


@pytest.mark.usefixtures("tools")
def test_helm_reads_a_legitimate_in_tree_symlink(origin: Path, tmp_path: Path) -> None:
    commit(origin, {**CHART, "apps/x/files/real.txt": "in the chart\n"})
    (origin / "apps/x/a").symlink_to("files/real.txt")
    sha = commit(origin, {})
    with Mirrors(tmp_path / "cache").checkout("o/r", remote(origin), sha, "apps/x") as folder:
        out = render.render(folder, "apps/x", release="r", namespace="n", values_files=[])
    assert out[0].body["data"]["a"] == "in the chart\n"


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/etc/passwd", r"is a symlink to an absolute path \(/etc/passwd\)"),
        ("..", r"is a symlink leaving apps/x: \.\. resolves outside it"),
        ("../../outside", r"is a symlink leaving apps/x: \.\./\.\./outside resolves"),
        ("l", r"is a symlink loop \(l\)"),
        ("m", r"is a symlink loop \(m\)"),
    ],
    ids=["absolute", "parent", "grandparent-dangling", "self-loop", "two-link-loop"],
)
def test_a_symlink_that_leaves_or_loops_is_refused(origin: Path, target: str, why: str) -> None:
    commit(origin, {"apps/x/cm.yaml": "v\n"})
    (origin / "apps/x/l").symlink_to(target)
    (origin / "apps/x/m").symlink_to("l")
    sha = commit(origin, {})
    refused(origin, sha, rf"^apps/x/l at {sha} {why}")


def test_links_to_folders_and_dangling_links_inside_the_root_are_kept(
    origin: Path, tmp_path: Path
) -> None:
    commit(origin, {"apps/x/base/cm.yaml": "v\n", "apps/shared/s.yaml": "s\n"})
    (origin / "apps/x/dir").symlink_to("base")
    (origin / "apps/x/gone").symlink_to("base/missing.yaml")
    (origin / "apps/x/up").symlink_to("../shared/s.yaml")
    sha = commit(origin, {})
    mirrors = Mirrors(tmp_path / "cache")
    # The whole tree is the root: a link from the app folder to a sibling folder is inside it.
    with mirrors.checkout("o/r", remote(origin), sha, "apps/x", tree="") as folder:
        assert (folder / "dir/cm.yaml").read_text() == "v\n"
        assert os.readlink(folder / "gone") == "base/missing.yaml"
        assert not (folder / "gone").exists()
        assert (folder / "up").read_text() == "s\n"
    refused(origin, sha, rf"^apps/x/up at {sha} is a symlink leaving apps/x")


def test_gitattributes_change_nothing(origin: Path, tmp_path: Path) -> None:
    subst = "$Format:%H %B$\n" * 1000
    sha = commit(
        origin,
        {
            "apps/x/.gitattributes": "* export-subst\nignored.yaml export-ignore\n"
            "*.txt text eol=crlf\n",
            "apps/x/cm.yaml": subst,
            "apps/x/ignored.yaml": "kind: ConfigMap\n",
            "apps/x/lines.txt": "one\ntwo\n",
        },
        "message " * 100,
    )
    with Mirrors(tmp_path / "cache").checkout("o/r", remote(origin), sha, "apps/x") as folder:
        for name in ("cm.yaml", "ignored.yaml", "lines.txt", ".gitattributes"):
            blob = subprocess.run(
                ["git", "cat-file", "blob", f"{sha}:apps/x/{name}"],
                cwd=origin,
                capture_output=True,
                check=True,
            ).stdout
            assert (folder / name).read_bytes() == blob, name
        assert (folder / "cm.yaml").read_text() == subst


def test_a_blob_over_the_file_limit_is_refused_without_being_read(
    origin: Path, tmp_path: Path
) -> None:
    size = 6 * 1024 * 1024
    sha = commit(origin, {"apps/x/big.yaml": "x" * size})
    mirrors = Mirrors(tmp_path / "cache")
    mirrors.ensure_commit("o/r", remote(origin), sha)
    tracemalloc.start()
    try:
        refused(origin, sha, rf"^apps/x/big.yaml at {sha} is {size} bytes, over the 4194304 limit")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024


def test_a_large_blob_within_the_limits_is_streamed_not_held(origin: Path, tmp_path: Path) -> None:
    size = 12 * 1024 * 1024
    sha = commit(origin, {"apps/x/big.yaml": "y" * size})
    mirrors = Mirrors(tmp_path / "cache", Limits(file_bytes=size))
    mirrors.ensure_commit("o/r", remote(origin), sha)
    tracemalloc.start()
    try:
        with mirrors.checkout("o/r", remote(origin), sha, "apps/x") as folder:
            assert (folder / "big.yaml").stat().st_size == size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


@pytest.mark.parametrize(
    ("limits", "why"),
    [
        (Limits(files=3), r"^apps/x at [0-9a-f]{40} has more than 3 files$"),
        (Limits(total_bytes=250), r"^apps/x at [0-9a-f]{40} is over the 250 byte limit$"),
    ],
    ids=["file-count", "total-size"],
)
def test_too_many_files_or_bytes_are_refused(
    origin: Path, tmp_path: Path, limits: Limits, why: str
) -> None:
    sha = commit(origin, {f"apps/x/f{i}.yaml": "z" * 100 for i in range(4)})
    mirrors = Mirrors(tmp_path / "cache", limits)
    with (
        pytest.raises(SourceError, match=why),
        mirrors.checkout("o/r", remote(origin), sha, "apps/x"),
    ):
        pass
    with Mirrors(tmp_path / "c2", Limits(files=4, total_bytes=400)).checkout(
        "o/r", remote(origin), sha, "apps/x"
    ) as folder:
        assert len(list(folder.iterdir())) == 4


# -- crafted trees -----------------------------------------------------------------------------


def put(repo: Path, kind: str, data: bytes) -> str:
    """Write any object, however malformed, as a hostile client could push it."""
    argv = ["git", "hash-object", "-w", "--literally", "-t", kind, "--stdin"]
    out = subprocess.run(argv, cwd=repo, input=data, capture_output=True, check=True)
    return out.stdout.decode().strip()


def tree(repo: Path, *entries: tuple[str, str, bytes | str]) -> str:
    """A tree of ``(mode, name, content)``: bytes are a blob, a str is an object id."""
    raw = b""
    for mode, name, content in entries:
        oid = put(repo, "blob", content) if isinstance(content, bytes) else content
        raw += f"{mode} {name}".encode() + b"\0" + bytes.fromhex(oid)
    return put(repo, "tree", raw)


def crafted_commit(repo: Path, *entries: tuple[str, str, bytes | str]) -> str:
    """A commit whose tree holds ``apps/x`` made of ``entries``, next to ``apps/x``'s parent."""
    app = tree(repo, ("100644", "cm.yaml", b"v\n"), *entries)
    root = tree(repo, ("40000", "apps", tree(repo, ("40000", "x", app))))
    return git(repo, "commit-tree", root, "-m", "crafted")


def planted_mirror(origin: Path) -> Path:
    """A mirror already holding a benign commit; crafted objects planted in it skip fetch's fsck."""
    sha = commit(origin, {"apps/x/cm.yaml": "v\n"})
    return Mirrors(origin.parent / "cache").ensure_commit("o/r", remote(origin), sha)


HOSTILE = {
    "dotdot": (("100644", "..", b"x"),),
    "dot-git": (("40000", ".git", "hooks"),),
    "dot-git-upper": (("40000", ".GIT", "hooks"),),
    "slash-in-name": (("100644", "a/../../../escape", b"x"),),
    "absolute-name": (("100644", "/tmp/escape", b"x"),),
}
WHY = {
    "dotdot": r"apps/x/\.\. at .*: a file name that is empty, absolute, '\.' or '\.\.'",
    "dot-git": r"apps/x/\.git/config at .*: a tree entry named \.git is refused",
    "dot-git-upper": r"apps/x/\.GIT/config at .*: a tree entry named \.git is refused",
    "slash-in-name": r"apps/x/a/\.\./\.\./\.\./escape at .*: a file name that is empty",
    "absolute-name": r"apps/x//tmp/escape at .*: a file name that is empty, absolute",
}


def entries_of(repo: Path, case: str) -> tuple[tuple[str, str, bytes | str], ...]:
    hooks = tree(repo, ("100644", "config", b"[core]\n\tfsmonitor = touch /tmp/pwned\n"))
    return tuple((m, n, hooks if c == "hooks" else c) for m, n, c in HOSTILE[case])


@pytest.mark.parametrize("case", list(HOSTILE))
def test_crafted_tree_names_are_refused_by_fsck_on_fetch(origin: Path, case: str) -> None:
    sha = crafted_commit(origin, *entries_of(origin, case))
    git(origin, "update-ref", "refs/heads/main", sha)
    with pytest.raises(SourceError, match="git refused the repository's objects") as caught:
        Mirrors(origin.parent / "cache").ensure_commit("o/r", remote(origin), sha)
    assert not isinstance(caught.value, Unavailable)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_crafted_tree_names_already_in_a_mirror_are_refused(
    origin: Path, tmp_path: Path, case: str
) -> None:
    mirror = planted_mirror(origin)
    sha = crafted_commit(mirror, *entries_of(mirror, case))
    refused(origin, sha, WHY[case])
    assert not Path("/tmp/escape").exists() and not (tmp_path / "escape").exists()


def test_a_legacy_zero_padded_mode_still_fetches(origin: Path, tmp_path: Path) -> None:
    app = tree(origin, ("100644", "cm.yaml", b"v\n"))
    root = tree(origin, ("040000", "apps", tree(origin, ("040000", "x", app))))
    sha = git(origin, "commit-tree", root, "-m", "written by an old git")
    git(origin, "update-ref", "refs/heads/main", sha)
    with Mirrors(tmp_path / "cache").checkout("o/r", remote(origin), sha, "apps/x") as folder:
        assert (folder / "cm.yaml").read_text() == "v\n"


def test_a_crafted_tree_cannot_write_through_a_link_it_planted(
    origin: Path, tmp_path: Path
) -> None:
    mirror = planted_mirror(origin)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = os.path.relpath(outside, "/").encode()
    sha = crafted_commit(
        mirror,
        ("120000", "l", b"../" * 64 + link),
        ("40000", "l", tree(mirror, ("100644", "x", b"written outside\n"))),
    )
    refused(origin, sha, rf"^apps/x/l/x at {sha}: apps/x/l is not a folder$")
    assert list(outside.iterdir()) == []


def test_a_submodule_is_skipped(origin: Path, tmp_path: Path) -> None:
    mirror = planted_mirror(origin)
    sha = crafted_commit(mirror, ("160000", "sub", "1" * 40))
    with Mirrors(tmp_path / "cache").checkout("o/r", remote(origin), sha, "apps/x") as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["cm.yaml"]
