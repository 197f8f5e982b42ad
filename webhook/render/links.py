"""No symbolic link in a checkout leads outside it: checked once per tree, not once per app.

helm and kustomize follow links (in bases and charts elsewhere in the tree too), so before
any renderer runs, every link under the checkout's boundary must resolve inside it. The
source step (``checkout.extract``) refuses such links already; this is the renderer's own
check, so that reading outside the checkout stays impossible whatever produced the tree.

A whole-tree checkout is shared by every app of one commit and never written
(``shared_trees``): walking it again for each app made each sync cost a walk of the whole
repository, O(apps) per sync and O(apps²) per merge (67 ms of CPU per sync at 1,000 app
folders). A tree found clean is remembered by its path and its directory's identity
(device, inode, change time), so a new tree at a reused path is walked again.

Must not touch: git, the cluster, the renderers' own work.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from webhook.render.output import RenderError

#: Clean trees remembered (most recently used); a fleet's merge uses one or a few.
REMEMBERED = 64

_clean: OrderedDict[tuple[str, int, int, int], None] = OrderedDict()
_lock = threading.Lock()


def _identity(boundary: Path) -> tuple[str, int, int, int]:
    info = os.stat(boundary)
    return (str(boundary), info.st_dev, info.st_ino, info.st_ctime_ns)


def _walk_links(folder: str) -> list[str]:
    """Every symbolic link under ``folder`` (not followed), found from directory entries
    alone: no ``stat`` per file."""
    links: list[str] = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    links.append(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return sorted(links)


def stay_inside(root: Path, boundary: Path, label: str) -> None:
    """Refuse a symlink anywhere under ``boundary`` that resolves (through other links)
    outside it; ``root`` (the app's folder) and ``label`` name it in the error."""
    try:
        key = _identity(boundary)
        with _lock:
            if key in _clean:
                _clean.move_to_end(key)
                return
        found = _walk_links(str(boundary))
    except OSError as exc:
        raise RenderError(f"{label}: cannot read the checkout ({exc.strerror})") from exc
    fence = boundary.resolve()
    for link in found:
        path = Path(link)
        if not path.resolve().is_relative_to(fence):
            if path.is_relative_to(root):
                shown = f"{label}/{path.relative_to(root).as_posix()}"
            else:
                shown = path.relative_to(boundary).as_posix()
            raise RenderError(f"{shown}: symbolic link leads outside the checkout")
    with _lock:
        _clean[key] = None
        while len(_clean) > REMEMBERED:
            _clean.popitem(last=False)
