"""Which apps a change touches: one rule for the receiver's index and the worker's narrowing.

An app is touched by a set of changed repository paths when one of them is
- under the app's ``path`` (when its ``directory:`` options narrow a plain folder: a file
  there they select, or a kustomization or ``Chart.yaml`` that may turn a folder the
  options reach into a build);
- one of the app's recorded inputs (what its last render read: ``render.inputs_of``), a file
  exactly or anything under a recorded folder (``name/``);
- matched by one of the app's ``paths:`` entries (a file, a folder, or a glob pattern).
When the app's inputs are unknown (never rendered, the last render failed, the app's render
settings changed since, or a deploy of the app is still waiting to render), every change to
its branch touches it: syncing an untouched app is a harmless no-op, skipping one is not.

Pure functions over plain data, fast enough for the receiver (one pass over the changed
paths, then set lookups per app). Must not touch: git, the cluster, the queue.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from webhook.settings import AppConfig

#: Files that make an app folder a kustomize build or a chart, so its ``directory:`` options
#: no longer apply (render/kustomize.py's KUSTOMIZATION_FILES, and Chart.yaml).
FOLDER_KINDS = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml"})
#: Characters that make a ``paths:`` entry a glob pattern rather than a plain path.
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, kw_only=True)
class RecordedInputs:
    """What an app's last successful render read, as the store keeps it."""

    #: ``inputs_key`` of the app's settings at that render; another key: inputs unknown.
    key: str
    commit: str
    #: Repository-relative files, and folders ending in ``/``; ``""`` is the whole tree.
    paths: tuple[str, ...]


def inputs_key(app: AppConfig) -> str:
    """A digest of the settings that decide what the app's render reads: when they change
    (another path, values files, chart), recorded inputs no longer hold."""
    parts: tuple[str, ...] = (app.repo.lower(), app.branch, app.path, repr(app.helm))
    parts += (repr(app.kustomize),)
    if app.directory.filter.narrows:  # default options leave the keys recorded before them
        parts += (repr(app.directory),)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@lru_cache(maxsize=1024)
def _pattern(glob: str) -> re.Pattern[str]:
    """A ``paths:`` glob as a regex over whole repository paths: ``**`` spans folders (and
    ``**/`` may match none), ``*`` and ``?`` stay within one name, ``[...]`` is a class.
    Written here because Python 3.11's ``fnmatch`` lets ``*`` cross ``/``."""
    out, i = [], 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            body = glob[i + 1 : end]
            negate = body.startswith("!")
            chars = re.escape(body.removeprefix("!")).replace("\\-", "-")  # ranges stay
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def is_glob(entry: str) -> bool:
    return any(char in GLOB_CHARACTERS for char in entry)


class Changes:
    """Changed repository paths, with every folder that holds one, for set lookups."""

    def __init__(self, files: Iterable[str]) -> None:
        self.files = frozenset(name.strip("/") for name in files if name.strip("/"))
        folders = {""}
        for name in self.files:
            while "/" in name:
                name = name.rpartition("/")[0]
                folders.add(name)
        self.folders = frozenset(folders)
        #: Every name a recorded input may have that a change hits: a file, or a folder
        #: holding a changed file (with and without its ``/``).
        self.names = self.files | self.folders | {f"{folder}/" for folder in folders}

    def hit(self, entry: str) -> bool:
        """Whether ``entry`` (a file, or a folder with or without ``/``) changed."""
        name = entry.strip("/")
        return name in self.files or name in self.folders

    def matched(self, glob: str) -> bool:
        pattern = _pattern(glob.strip("/"))
        return any(pattern.fullmatch(name) for name in self.files)


def watches(
    app: AppConfig, recorded: RecordedInputs | None, changes: Changes, key: str | None = None
) -> bool:
    """Whether ``changes`` touch ``app`` (see the module doc); ``recorded`` as stored;
    ``key``: the app's ``inputs_key``, when the caller keeps it."""
    if recorded is None or recorded.key != (key or inputs_key(app)):
        return True
    if any(map(changes.names.__contains__, recorded.paths)):
        return True
    if app.path in changes.folders and _in_folder(app, changes):
        return True
    return any(
        changes.matched(entry) if is_glob(entry) else changes.hit(entry) for entry in app.paths
    )


def _in_folder(app: AppConfig, changes: Changes) -> bool:
    """Whether a change under the app's folder counts: any does, unless its ``directory:``
    options narrow it (a folder that is a build lists itself as an input: inputs.py)."""
    narrow = app.directory.filter
    if not narrow.narrows:
        return True
    prefix = f"{app.path}/"
    for name in (n.removeprefix(prefix) for n in changes.files if n.startswith(prefix)):
        builds = name.rpartition("/")[2] in FOLDER_KINDS and (narrow.recurse or "/" not in name)
        if builds or narrow.selects(name):
            return True
    return False


def touched(
    apps: Iterable[AppConfig],
    recorded: Mapping[str, RecordedInputs],
    files: Iterable[str],
    keys: Mapping[str, str] | None = None,
) -> list[AppConfig]:
    """The apps among ``apps`` that ``files`` touch, in their order; ``recorded`` by app name
    (an app missing from it has unknown inputs); ``keys``: ``inputs_key`` by app name."""
    changes = Changes(files)
    known = keys or {}
    return [
        app for app in apps if watches(app, recorded.get(app.name), changes, known.get(app.name))
    ]
