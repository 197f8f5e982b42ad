"""Whole-tree checkouts shared by every app of one commit, extracted once.

A fleet in one repository gets one job per app from one merge, and each job renders from the
whole tree of the same commit (bases and values files elsewhere in the repository may be
read). Extracting that tree per job cost every job a write of every file of the repository:
at 1,000 app folders, 1,000 jobs wrote a million files and a job spent most of its time
there (see BENCHMARKS.md, "Fleet"). Here the tree of one (repository, commit) is written
once, by the first job that needs it, while the others wait for it; then it is handed out
to every job of that commit at once, and the last few trees stay after their last user
(``KEEP``), for jobs of the same merge still queued.

Read-only by contract: a user must not write into the tree. The renderers copy before they
write (Helm dependencies are laid out in a scratch copy); an app whose render would write
(kustomize's Helm inflation downloads into ``charts/``) takes a private checkout instead
(the engine decides). Must not touch: git, remotes, rendering.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Trees kept after their last user left (the most recently used).
KEEP = 4


@dataclass
class _Tree:
    root: Path
    users: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class SharedTrees:
    """Trees by (repository, commit); ``checkout`` yields the root of one, extracting it
    with ``extract(root)`` the first time."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._trees: OrderedDict[tuple[str, str], _Tree] = OrderedDict()
        #: Extractions done (what a test or a benchmark reads).
        self.extractions = 0
        atexit.register(self.clear)

    @contextlib.contextmanager
    def checkout(self, repo: str, sha: str, extract: Callable[[Path], None]) -> Iterator[Path]:
        key = (repo.lower(), sha)
        with self._lock:
            tree = self._trees.get(key)
            first = tree is None
            if tree is None:
                tree = _Tree(root=Path(tempfile.mkdtemp(prefix="webhook-deployer-tree-")))
                self._trees[key] = tree
                self.extractions += 1
            tree.users += 1
            self._trees.move_to_end(key)
        try:
            if first:
                try:
                    extract(tree.root)
                except BaseException as exc:
                    tree.error = exc
                    raise
                finally:
                    tree.ready.set()
            else:
                tree.ready.wait()
                if tree.error is not None:
                    raise tree.error
            yield tree.root
        finally:
            self._release(key, tree)

    def _release(self, key: tuple[str, str], tree: _Tree) -> None:
        gone: list[Path] = []
        with self._lock:
            tree.users -= 1
            if tree.error is not None and tree.users == 0 and self._trees.get(key) is tree:
                del self._trees[key]  # a failed extraction is tried afresh next time
                gone.append(tree.root)
            idle = [k for k, t in self._trees.items() if t.users == 0]
            for old in idle[: max(0, len(idle) - self.keep)]:
                gone.append(self._trees.pop(old).root)
        for root in gone:
            shutil.rmtree(root, ignore_errors=True)

    def clear(self) -> None:
        """Remove every tree nobody uses (at exit, every tree)."""
        with self._lock:
            idle = [k for k, t in self._trees.items() if t.users == 0]
            roots = [self._trees.pop(k).root for k in idle]
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
