"""Write one tree of one commit to a directory exactly as git holds it, within limits.

Owns: listing a tree (``git ls-tree``), streaming its blobs raw through one
``git cat-file --batch`` process, and refusing what a crafted tree or a hostile author can put
there: names that leave the root or name ``.git``, unknown modes, too many or too large files,
symlinks that resolve outside the root. Must not touch: remotes, credentials, rendering.

Why not ``git archive``: it applies ``.gitattributes`` (``export-subst`` rewrites committed
files and can blow a small blob up to gigabytes, ``export-ignore`` drops manifests) and its tar
is held whole in memory. Here no filter, attribute or smudge ever runs, and no blob is read
before its size is checked against the limits (sizes come from the object store).

Modes: regular and executable files, symlinks (written as symlinks), gitlinks (submodules) are
skipped, so their path is absent: a submodule is another repository, which is not fetched.
A symlink must resolve (through every other link) inside the extraction root; one that leaves
it, is absolute or loops is refused. A dangling link that stays inside the root is kept: it can
only fail to read, never read something else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from webhook.errors import Rejected

#: Any single file above this is refused: manifests are text, not artefacts.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: The whole extracted tree above this is refused.
MAX_TOTAL_BYTES = 64 * 1024 * 1024
#: More files than this are refused: a checkout is for manifests, and each file costs a write.
#: Sized for a whole repository of manifests, not only one app folder.
MAX_FILES = 20_000
#: A symlink target longer than this is refused (Linux's PATH_MAX less the NUL).
MAX_LINK_BYTES = 4095
#: Longest ``ls-tree`` record accepted (mode, type, id, size and a name up to PATH_MAX).
_MAX_RECORD = 4096 + 128
_CHUNK = 64 * 1024
_MODES = {"100644": 0o644, "100755": 0o755, "120000": 0, "160000": 0}


class TreeError(Rejected):
    """The tree cannot be written as it is; the message names the path, the commit and why."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Caps on what one extraction may write."""

    file_bytes: int = MAX_FILE_BYTES
    total_bytes: int = MAX_TOTAL_BYTES
    files: int = MAX_FILES


@dataclass(frozen=True)
class _Entry:
    mode: str
    oid: str
    size: int
    rel: str  # relative to the extraction root, "/"-separated


def show(name: str) -> str:
    """A repository-chosen name as it can be shown to a person: control characters escaped."""
    return name if name.isprintable() else repr(name)


def extract(
    mirror: Path,
    sha: str,
    prefix: str,
    dest: Path,
    *,
    limits: Limits = Limits(),
    env: Mapping[str, str] | None = None,
) -> None:
    """Write the tree at ``prefix`` of commit ``sha`` (``""``: the whole tree) into ``dest``.

    ``dest`` must be an empty directory owned by the caller; it is the root that symlinks must
    stay in. On ``TreeError`` part of the tree may have been written: discard ``dest``.
    """
    where = _Where(prefix, sha)
    if prefix:
        _check_name(prefix, _Where("", sha))
    entries = _checked_listing(mirror, where, limits, env)
    links = _write(mirror, entries, dest, where, env)
    _confine(dest, links, where)


@dataclass(frozen=True)
class _Where:
    """How refusals name places: repository paths and the commit."""

    prefix: str
    sha: str

    def path(self, rel: str) -> str:
        return show(f"{self.prefix}/{rel}" if self.prefix else rel)

    def at(self, rel: str) -> str:
        """``<path> at <commit>``, how every refusal about one entry starts."""
        return f"{self.path(rel)} at {self.sha}"

    @property
    def root(self) -> str:
        return show(self.prefix) if self.prefix else "the repository"


def _checked_listing(
    mirror: Path, where: _Where, limits: Limits, env: Mapping[str, str] | None
) -> list[_Entry]:
    """Every entry under the prefix, each checked (name, mode, sizes, count) before any read."""
    sha = where.sha
    argv = ["git", "ls-tree", "-r", "-z", "-l", f"{sha}:{where.prefix}"]
    entries: list[_Entry] = []
    total = 0
    with _running(argv, mirror, env) as proc:
        assert proc.stdout is not None
        for record in _records(proc.stdout, where):
            entry = _parse(record, where)
            if entry.mode == "160000":
                continue
            if len(entries) >= limits.files:
                raise TreeError(f"{where.root} at {sha} has more than {limits.files} files")
            limit = MAX_LINK_BYTES if entry.mode == "120000" else limits.file_bytes
            if entry.size > limit:
                raise TreeError(
                    f"{where.at(entry.rel)} is {entry.size} bytes, over the {limit} limit"
                )
            total += entry.size
            if total > limits.total_bytes:
                cap = limits.total_bytes
                raise TreeError(f"{where.root} at {sha} is over the {cap} byte limit")
            entries.append(entry)
    if proc.returncode != 0:
        # Asked only now, to save a git process per checkout: why could it not be listed?
        kind = subprocess.run(
            ["git", "cat-file", "-t", f"{sha}:{where.prefix}"],
            cwd=mirror,
            env=env,
            capture_output=True,
        )
        if kind.returncode != 0 or kind.stdout.strip() != b"tree":
            raise TreeError(f"{where.prefix or 'the repository root'} does not exist at {sha}")
        raise TreeError(f"{where.root} cannot be listed at {sha} (git ls-tree failed)")
    return entries


def _records(stream: IO[bytes], where: _Where) -> Iterator[bytes]:
    """NUL-terminated records from ``stream``, read in chunks, each of bounded length."""
    pending = b""
    while chunk := stream.read(_CHUNK):
        pending += chunk
        *done, pending = pending.split(b"\0")
        yield from done
        if len(pending) > _MAX_RECORD:
            raise TreeError(f"{where.root} at {where.sha} holds a file name over 4096 bytes")
    if pending:
        raise TreeError(f"{where.root} at {where.sha}: git ls-tree output was cut short")


def _parse(record: bytes, where: _Where) -> _Entry:
    info, tab, raw_name = record.partition(b"\t")
    fields = info.decode("ascii", "replace").split()
    if not tab or len(fields) != 4:
        raise TreeError(f"{where.root} at {where.sha}: unreadable git ls-tree record")
    mode, _type, oid, size = fields
    try:
        rel = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        shown = where.path(raw_name.decode("utf-8", "replace"))
        raise TreeError(f"{shown} at {where.sha}: the file name is not UTF-8") from None
    _check_name(rel, where)
    if mode not in _MODES:
        raise TreeError(
            f"{where.at(rel)} has git mode {mode}, which is neither a file, "
            "an executable, a symlink nor a submodule"
        )
    return _Entry(mode, oid, int(size) if size.isdigit() else 0, rel)


def _check_name(rel: str, where: _Where) -> None:
    """Refuse names a crafted tree can hold and git itself would never write."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise TreeError(
            f"{where.at(rel)}: a file name that is empty, absolute, "
            "'.' or '..' would be written outside its folder"
        )
    if any(p.lower() == ".git" for p in parts):
        raise TreeError(f"{where.at(rel)}: a tree entry named .git is refused")


def _write(
    mirror: Path, entries: list[_Entry], dest: Path, where: _Where, env: Mapping[str, str] | None
) -> list[str]:
    """Stream each blob from one ``git cat-file --batch`` into place; the links written."""
    written: set[str] = set()  # files and links: nothing may be created under them
    made: set[str] = set()  # directories this extraction created
    links: list[str] = []
    with _running(["git", "cat-file", "--batch"], mirror, env, stdin=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for entry in entries:
            _make_parents(dest, entry.rel, written, made, where)
            proc.stdin.write(f"{entry.oid}\n".encode("ascii"))
            proc.stdin.flush()
            header = proc.stdout.readline(256).split()
            if header[1:] != [b"blob", str(entry.size).encode()]:
                raise TreeError(f"{where.at(entry.rel)}: unreadable blob")
            target = dest / entry.rel
            try:
                if entry.mode == "120000":
                    _link(proc.stdout.read(entry.size), target, entry.rel, where)
                    links.append(entry.rel)
                else:
                    _copy(proc.stdout, entry.size, target, _MODES[entry.mode])
            except OSError as exc:
                raise TreeError(f"{where.at(entry.rel)} cannot be written: {exc.strerror}") from exc
            written.add(entry.rel)
            proc.stdout.read(1)  # the newline after each object
    return links


def _make_parents(dest: Path, rel: str, written: set[str], made: set[str], where: _Where) -> None:
    """Create ``rel``'s folders; none may be a file or a link written before (no write-through)."""
    parts = rel.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder in written:
            raise TreeError(f"{where.at(rel)}: {where.path(folder)} is not a folder")
        if folder not in made:
            try:
                os.mkdir(dest / folder, 0o755)
            except OSError as exc:
                raise TreeError(f"{where.at(rel)}: {exc.strerror}") from exc
            made.add(folder)


def _copy(stream: IO[bytes], size: int, target: Path, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, mode)
    with open(fd, "wb", closefd=True) as out:
        while size > 0:
            chunk = stream.read(min(size, _CHUNK))
            if not chunk:
                raise OSError(errno.EIO, "git cat-file output was cut short")
            out.write(chunk)
            size -= len(chunk)


def _link(raw: bytes, target: Path, rel: str, where: _Where) -> None:
    if not raw or b"\0" in raw:
        raise TreeError(f"{where.at(rel)} is a symlink with an unusable target")
    if raw.startswith(b"/"):
        raise TreeError(
            f"{where.at(rel)} is a symlink to an absolute path "
            f"({show(os.fsdecode(raw))}); links must stay inside {where.root}"
        )
    os.symlink(raw, os.fsencode(target))


def _confine(dest: Path, links: list[str], where: _Where) -> None:
    """Resolve every link as the kernel would, through other links; refuse any leaving ``dest``."""
    root = os.path.realpath(dest)
    for rel in links:
        path = os.path.join(dest, rel)
        text = show(os.readlink(path))
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise TreeError(f"{where.at(rel)} is a symlink loop ({text})") from exc
        resolved = os.path.realpath(path)
        if resolved != root and not resolved.startswith(root + os.sep):
            raise TreeError(
                f"{where.at(rel)} is a symlink leaving {where.root}: {text} resolves outside it"
            )


@contextlib.contextmanager
def _running(
    argv: list[str], cwd: Path, env: Mapping[str, str] | None, *, stdin: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """A git process whose output is streamed; killed, never waited on while blocked, on error."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    except BaseException:
        proc.kill()
        raise
    finally:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        proc.wait()
