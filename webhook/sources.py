"""Fetch an exact commit of a repo and hand out one of its folders as a temporary directory.

Owns: one bare mirror per repo under a cache directory, fetching only what is missing (with
``fetch.fsckObjects``, so malformed objects and crafted trees never enter a mirror; a ref to
the last commit fetched, so the remote sends only what is new since), handing
one folder of one commit to ``webhook.checkout`` to be written exactly as git holds it, the
paths a change touched (as written, never C-quoted; bounded), and ``git ls-remote`` for
branch heads. Credentials travel only in the subprocess environment,
never on disk, and are scrubbed from every error.
Must not touch: rendering, the cluster, the queue, GitHub's API.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from webhook.checkout import Limits, TreeError, extract, show
from webhook.errors import Rejected, Unavailable
from webhook.git_probe import CommitProbes
from webhook.shared_trees import SharedTrees
from webhook.text import is_commit_sha

#: Seconds a git network operation may take before the remote counts as unreachable.
GIT_TIMEOUT = 300.0
#: The mirror's ref to the commit fetched last: what the next fetch tells the remote it has
#: (with the branches of a fallback fetch), so only the new objects are sent.
FETCHED = "refs/deployer/fetched"

#: A diff naming more paths than this is not listed (``ChangeTooLarge``): a checkout holds at
#: most ``checkout.MAX_FILES`` files, and a pull request could name millions (held in memory).
MAX_CHANGED_PATHS = 100_000
#: Longest path git may print (Linux's PATH_MAX); a longer run without a NUL is no path.
_MAX_PATH_BYTES = 4096

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
#: What git prints when ``fetch.fsckObjects`` rejects a pack: the repository's content is bad,
#: not the network, so a retry cannot help.
_FSCK_REFUSED = re.compile(r"^error: object [0-9a-f]+: .*$", re.MULTILINE)


class SourceError(Rejected):
    """The commit cannot be used as it is (missing folder, hostile content, unknown commit)."""


class ChangeTooLarge(SourceError):
    """A diff names more than ``MAX_CHANGED_PATHS`` paths: too many to list (see ``_paths``)."""


class CommitMissing(SourceError):
    """The remote answered, and does not hold the commit: not pushed there (yet: GitHub may
    announce a commit before it can be fetched), or removed by a force-push. Refused at once
    where a person named the commit (an approval, the CLI); a job retries it (steps.py).
    The message names the commit and the remote, never a credential."""

    def __init__(self, repo: str, url: str, sha: str) -> None:
        self.sha, self.url = sha, scrub(url)
        super().__init__(f"{repo}: commit {sha} does not exist in {self.url}")


@dataclass(frozen=True, kw_only=True)
class Remote:
    """Where to fetch from. ``repr`` never shows the token."""

    url: str
    token: str | None = None

    def __repr__(self) -> str:
        return f"Remote(url={scrub(self.url)!r})"


def scrub(text: str, *secrets: str | None) -> str:
    """Remove credentials in URLs and any given secret (and its basic-auth form) from text."""
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(_basic(secret), "***")
    return text


#: The one ``GIT_*`` variable of the deployer's environment that git sees.
KEPT_GIT_ENV = frozenset({"GIT_SSL_CAINFO"})


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")


def _git_env(remote: Remote | None) -> dict[str, str]:
    # GIT_SSL_CAINFO alone is kept: the CA bundle of a git host with a private CA.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in KEPT_GIT_ENV}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", GIT_CONFIG_NOSYSTEM="1")
    # Config through the environment: visible to this one process, never written to disk.
    # fsck on fetch refuses malformed objects and trees naming "..", ".git" or "/" at the door;
    # zero-padded modes (old git wrote "040000") are harmless and common in old histories.
    config = {"fetch.fsckObjects": "true", "fetch.fsck.zeroPaddedFilemode": "ignore"}
    if remote is not None and remote.token and remote.url.lower().startswith("https://"):
        config["http.extraHeader"] = f"Authorization: Basic {_basic(remote.token)}"
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config.items()):
        env.update({f"GIT_CONFIG_KEY_{i}": key, f"GIT_CONFIG_VALUE_{i}": value})
    return env


def _git(
    args: list[str], *, cwd: Path | None = None, remote: Remote | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=_git_env(remote),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        url = scrub(remote.url) if remote else "git"
        raise Unavailable(f"{url}: git {args[0]} took longer than {timeout:.0f}s") from exc


def _failure(proc: subprocess.CompletedProcess[bytes], remote: Remote | None) -> str:
    text = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
    return scrub(text, remote.token if remote else None)[-1500:]


def branch_head(url: str, branch: str, token: str | None = None) -> str:
    """The commit at the tip of ``branch`` on the remote, via ``git ls-remote``."""
    remote = Remote(url=url, token=token)
    proc = _git(
        ["ls-remote", "--", url, f"refs/heads/{branch}"], remote=remote, timeout=GIT_TIMEOUT
    )
    if proc.returncode != 0:
        raise Unavailable(f"{scrub(url)}: git ls-remote failed: {_failure(proc, remote)}")
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    raise SourceError(f"{scrub(url)}: branch {branch!r} does not exist")


class Mirrors:
    """Bare mirrors, one per repo, under ``cache_dir``; safe across threads and processes."""

    def __init__(self, cache_dir: Path, limits: Limits | None = None) -> None:
        self.root = cache_dir / "git"
        self.limits = limits or Limits()
        self.root.mkdir(parents=True, exist_ok=True)
        #: Whole trees shared by the jobs of one commit (``checkout(..., shared=True)``).
        self.trees = SharedTrees()
        #: Long-lived ``cat-file --batch-check`` processes that answer ``_has_commit``.
        self.probes = CommitProbes(lambda: _git_env(None))
        self._maintaining: set[Path] = set()
        self._maintaining_lock = threading.Lock()

    def _mirror(self, repo: str) -> Path:
        digest = hashlib.sha256(repo.encode()).hexdigest()[:12]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", repo)
        return self.root / f"{safe}-{digest}.git"

    @contextlib.contextmanager
    def _locked(self, mirror: Path) -> Iterator[None]:
        with open(f"{mirror}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _has_commit(self, mirror: Path, sha: str) -> bool:
        return self.probes.has_commit(mirror, sha)

    def ensure_commit(self, repo: str, remote: Remote, sha: str) -> Path:
        """Make sure the mirror of ``repo`` holds ``sha``; fetch only when it does not."""
        if not is_commit_sha(sha):
            raise SourceError(f"{repo}: {sha!r} is not a full commit SHA")
        mirror = self._mirror(repo)
        with self._locked(mirror):
            if not (mirror / "HEAD").exists():
                proc = _git(["init", "--bare", "--quiet", str(mirror)])
                if proc.returncode != 0:
                    raise SourceError(f"{repo}: cannot create mirror: {_failure(proc, None)}")
            if self._has_commit(mirror, sha):
                return mirror
            # Ask for exactly this commit; servers that refuse a SHA want the branches instead.
            # The commit is kept under FETCHED: a mirror without refs has nothing to offer in
            # the negotiation, and every fetch would download the whole history again.
            # Git's own housekeeping after a fetch (``maintenance run --auto``) is a process on
            # the way to the sync: run it beside the next steps instead (``_maintain``). Nobody
            # reads FETCH_HEAD or whether an update was forced (a walk of the history, slow on
            # big repositories: git's documentation of fetch.showForcedUpdates).
            fetch = [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-auto-maintenance",
                "--no-write-fetch-head",
                "--no-show-forced-updates",
                "--",
                remote.url,
            ]
            proc = _git(
                [*fetch, f"+{sha}:{FETCHED}"], cwd=mirror, remote=remote, timeout=GIT_TIMEOUT
            )
            found = proc.returncode == 0 and self._has_commit(mirror, sha)
            if not found:
                _refuse_malformed(repo, proc)
                proc = _git(
                    [*fetch, "+refs/heads/*:refs/heads/*"],
                    cwd=mirror,
                    remote=remote,
                    timeout=GIT_TIMEOUT,
                )
                _refuse_malformed(repo, proc)
                if proc.returncode != 0:
                    raise Unavailable(
                        f"{scrub(remote.url)}: git fetch failed: {_failure(proc, remote)}"
                    )
                found = self._has_commit(mirror, sha)
            self._maintain(mirror)
            if not found:
                raise CommitMissing(repo, remote.url, sha)
        return mirror

    def _maintain(self, mirror: Path) -> None:
        """``git maintenance run --auto`` in the background, at most one per mirror at a
        time: it packs and prunes once enough objects have come (git's own thresholds), and
        is safe beside fetches and reads (git locks what it rewrites)."""
        with self._maintaining_lock:
            if mirror in self._maintaining:
                return
            self._maintaining.add(mirror)

        def run() -> None:
            try:
                _git(["maintenance", "run", "--auto", "--quiet"], cwd=mirror, timeout=GIT_TIMEOUT)
            except Unavailable:
                pass  # housekeeping: the next fetch tries again
            finally:
                with self._maintaining_lock:
                    self._maintaining.discard(mirror)

        threading.Thread(target=run, name="git-maintenance", daemon=True).start()

    def reaches(self, repo: str, remote: Remote, head: str, sha: str) -> bool:
        """Whether commit ``head`` has ``sha`` in its history (``sha`` is ``head`` or an
        ancestor); both are fetched into the mirror first. A missing commit is CommitMissing."""
        mirror = self.ensure_commit(repo, remote, head)
        self.ensure_commit(repo, remote, sha)
        proc = _git(["merge-base", "--is-ancestor", sha, head], cwd=mirror, timeout=GIT_TIMEOUT)
        if proc.returncode not in (0, 1):
            raise SourceError(f"{repo}: cannot compare {sha} with {head}: {_failure(proc, None)}")
        return proc.returncode == 0

    def changed_paths(self, repo: str, remote: Remote, base: str, sha: str) -> list[str]:
        """Paths changed on the way from ``base`` to ``sha``.

        ``base`` is a commit SHA (the diff starts where ``sha``'s history left it, as in
        ``git diff base...sha``) or ``parent`` (``sha``'s first parent; a root commit changed
        everything it holds). Renames count as both paths.
        """
        mirror = self.ensure_commit(repo, remote, sha)
        if base == "parent":
            if not self._has_commit(mirror, f"{sha}^1"):
                args = ["ls-tree", "-r", "-z", "--name-only", "--full-tree", sha]
            else:
                args = ["diff", "--name-only", "-z", "--no-renames", f"{sha}^1", sha]
        else:
            self.ensure_commit(repo, remote, base)
            args = ["diff", "--name-only", "-z", "--no-renames", f"{base}...{sha}"]
        return _paths(repo, mirror, args, f"cannot diff {base} and {sha}")

    @contextlib.contextmanager
    def checkout(
        self,
        repo: str,
        remote: Remote,
        sha: str,
        path: str,
        *,
        tree: str | None = None,
        shared: bool = False,
    ) -> Iterator[Path]:
        """Yield a temporary directory holding ``path`` of commit ``sha``; removed afterwards.

        ``tree`` is the folder written to disk (``path`` by default, ``""`` for the whole
        repository; it must contain ``path``): symlinks are confined to it, so rendering from
        ``path`` may read anything in ``tree`` and nothing outside. The yielded directory sits
        at ``path`` under a temporary root, so names relative to the repository still hold.
        ``shared`` (whole trees only): the tree is extracted once per commit and handed to
        every caller of that commit at once (``webhook.shared_trees``): the caller must not
        write into it.
        """
        path = _folder(repo, path)
        tree = path if tree is None else _folder(repo, tree)
        if tree and path != tree and not path.startswith(tree + "/"):
            raise SourceError(f"{repo}: {show(path)} is not inside {show(tree)}")
        mirror = self.ensure_commit(repo, remote, sha)
        if shared and not tree:

            def whole(root: Path) -> None:
                try:
                    extract(mirror, sha, "", root, limits=self.limits, env=_git_env(None))
                except TreeError as exc:
                    raise SourceError(str(exc)) from exc

            with self.trees.checkout(repo, sha, whole) as root:
                folder = Path(root, path)
                if not folder.is_dir():
                    raise SourceError(f"{show(path)} does not exist at {sha}")
                yield folder
            return
        with tempfile.TemporaryDirectory(prefix="webhook-deployer-") as tmp:
            root = Path(tmp, tree)
            root.mkdir(parents=True, exist_ok=True)
            try:
                extract(mirror, sha, tree, root, limits=self.limits, env=_git_env(None))
            except TreeError as exc:
                raise SourceError(str(exc)) from exc
            folder = Path(tmp, path)
            if not folder.is_dir():
                raise SourceError(f"{show(path)} does not exist at {sha}")
            yield folder


def _paths(repo: str, mirror: Path, args: list[str], doing: str) -> list[str]:
    """The NUL-separated paths git prints for ``args``, as Python names them (UTF-8, any
    other byte kept by ``os.fsdecode``), at most ``MAX_CHANGED_PATHS``: read as a stream.

    Never git's default output: with ``core.quotePath`` it writes a name holding a byte
    over 0x7f, a quote, a backslash or a control character in C quotes
    (``"apps/web/caf\\303\\251.yaml"``), which no app folder matches, so a change to such
    a file touched no app: its preview said nothing changed, and a merge's deployment was
    skipped (and the push of that merge, finding the merge's job, queued nothing again).
    A change naming more paths than the bound is ``ChangeTooLarge``: narrowing then counts
    every app as touched, which is harmless, while holding millions of names is not."""
    with subprocess.Popen(
        ["git", *args],
        cwd=mirror,
        env=_git_env(None),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        # Read as a stream, so ``timeout`` cannot bound it: a git that hangs is killed.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        watchdog = threading.Timer(GIT_TIMEOUT, expire)
        watchdog.start()
        try:
            paths: list[str] = []
            tail = b""
            while chunk := proc.stdout.read(64 * 1024):
                *names, tail = (tail + chunk).split(b"\0")
                paths.extend(os.fsdecode(name) for name in names if name)
                if len(paths) > MAX_CHANGED_PATHS or len(tail) > _MAX_PATH_BYTES:
                    proc.kill()
                    raise ChangeTooLarge(
                        f"{repo}: {doing}: more than {MAX_CHANGED_PATHS} paths changed"
                    )
            errors = proc.stderr.read()
            code = proc.wait()
        finally:
            watchdog.cancel()
        if expired.is_set():
            raise Unavailable(f"{repo}: {doing}: git took longer than {GIT_TIMEOUT:.0f}s")
    if code != 0:
        text = errors.decode("utf-8", "replace").strip() or f"exit status {code}"
        raise SourceError(f"{repo}: {doing}: {scrub(text)[-1500:]}")
    if tail:
        paths.append(os.fsdecode(tail))
    return paths


def _folder(repo: str, path: str) -> str:
    """``path`` as a clean repository-relative folder (``""`` for the root); never outside."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SourceError(f"{repo}: folder {show(path)} leaves the repository")
    return "/".join(parts)


def _refuse_malformed(repo: str, proc: subprocess.CompletedProcess[bytes]) -> None:
    """A fetch that fsck rejected is the repository's fault: a SourceError naming the object."""
    found = _FSCK_REFUSED.search(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0 and found:
        raise SourceError(
            f"{repo}: git refused the repository's objects as malformed or hostile "
            f"({show(found.group(0).removeprefix('error: '))})"
        )
