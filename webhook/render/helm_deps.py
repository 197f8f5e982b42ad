"""A chart's dependencies, as ``helm dependency build`` would lay them out, confined.

Each dependency named in ``Chart.yaml`` (or ``requirements.yaml``) is, in this order:
vendored in ``charts/`` (a folder or a packaged .tgz; when ``Chart.lock`` pins a version
the vendored one must be it); a ``file://`` chart inside the commit's tree (copied in); or a
chart in a repository listed in ``helm_repositories`` at the version ``Chart.lock`` pins
(or an exact version), fetched by digest (chart_fetch.py). Anything else is refused with
the reason. When something must be added, the chart is copied to a scratch folder first:
the checkout itself is never written.
Must not touch: the templating (helm.py), git, the cluster.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.app_options import HelmRepository
from webhook.render.chart_fetch import fetch_chart
from webhook.render.documents import decode, load_yaml_documents
from webhook.render.output import RenderError

#: Charts (the app's and its subcharts, all levels) read for one render.
MAX_CHARTS = 200
_EXACT = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
#: Helm's chart names; anything else (``../x``) would name a path, and is refused.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _mapping(path: Path, name: str) -> dict[str, Any]:
    documents = load_yaml_documents(decode(path.read_bytes(), name), name)
    data = documents[0][0] if documents else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RenderError(f"{name}: must be a mapping")
    return data


def _dependencies(chart: Path, shown: str) -> list[Any]:
    meta = _mapping(chart / "Chart.yaml", f"{shown}/Chart.yaml")
    deps = meta.get("dependencies") or []
    if (chart / "requirements.yaml").is_file():  # apiVersion v1 charts
        deps += (
            _mapping(chart / "requirements.yaml", f"{shown}/requirements.yaml").get("dependencies")
            or []
        )
    if not isinstance(deps, list):
        raise RenderError(f"{shown}/Chart.yaml: `dependencies` must be a list")
    return deps


def _locked(chart: Path, shown: str) -> dict[str, str]:
    """Chart.lock's (or requirements.lock's) pinned version per dependency name."""
    for name in ("Chart.lock", "requirements.lock"):
        if (chart / name).is_file():
            deps = _mapping(chart / name, f"{shown}/{name}").get("dependencies") or []
            return {
                str(d["name"]): str(d.get("version", ""))
                for d in deps
                if isinstance(d, dict) and "name" in d
            }
    return {}


def _vendored_version(chart: Path, name: str) -> str | None:
    """The version of ``name`` in ``charts/`` (folder or .tgz), or None when absent."""
    charts = chart / "charts"
    if not charts.is_dir():
        return None
    for entry in sorted(charts.iterdir()):
        if entry.is_file() and entry.name.startswith(f"{name}-") and entry.suffix == ".tgz":
            return entry.name.removeprefix(f"{name}-").removesuffix(".tgz")
        if (entry / "Chart.yaml").is_file():
            meta = _mapping(entry / "Chart.yaml", f"{entry.name}/Chart.yaml")
            if meta.get("name") == name:
                return str(meta.get("version", ""))
    return None


def _repository(reference: str, repositories: Sequence[HelmRepository]) -> HelmRepository | None:
    """The configured repository a dependency's ``repository:`` names (URL or ``@name``)."""
    if reference.startswith(("@", "alias:")):
        name = reference.removeprefix("@").removeprefix("alias:")
        return next((r for r in repositories if r.name == name), None)
    wanted = reference.rstrip("/")
    return next((r for r in repositories if r.url == wanted), None)


def _links_inside(folder: Path, fence: Path, shown: str) -> None:
    for where, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(where, name)
            if path.is_symlink() and not path.resolve().is_relative_to(fence):
                raise RenderError(f"{shown}: symbolic link {name!r} leads outside the checkout")


@dataclass
class _Work:
    boundary: Path
    repositories: Sequence[HelmRepository]
    cache: Path
    scratch: Path
    charts: int = 0
    copies: int = 0

    def count(self, label: str) -> None:
        self.charts += 1
        if self.charts > MAX_CHARTS:
            raise RenderError(f"{label}: more than {MAX_CHARTS} charts and subcharts")

    def copy(self, source: Path) -> Path:
        self.copies += 1
        target = self.scratch / f"copy-{self.copies}" / source.name
        shutil.copytree(source, target, symlinks=False)
        return target


def _prepare(
    work: _Work,
    folder: Path,
    origin: Path,
    shown: str,
    *,
    owned: bool,
    ancestors: frozenset[Path] = frozenset(),
) -> Path:
    """``folder`` (or a copy of it) with every dependency present in its ``charts/``.

    ``origin``: where the chart lives in the checkout (``file://`` paths are relative to
    it); ``owned``: ``folder`` is already a scratch copy that may be written.
    """
    work.count(shown)
    fence = work.boundary.resolve()
    ancestors = ancestors | {origin.resolve()}
    locked = _locked(folder, shown)
    missing: list[tuple[str, Path | tuple[HelmRepository, str]]] = []
    for dep in _dependencies(folder, shown):
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise RenderError(f"{shown}/Chart.yaml: a dependency needs a `name`")
        name, reference = dep["name"], str(dep.get("repository") or "")
        where = f"{shown}/Chart.yaml: dependency {name!r}"
        if not _NAME.match(name) or ".." in name:
            raise RenderError(f"{where}: not a chart name (letters, digits, '-', '_', '.')")
        pinned = locked.get(name)
        vendored = _vendored_version(folder, name)
        if reference.startswith("file://"):
            target = (origin / reference.removeprefix("file://")).resolve()
            if not target.is_relative_to(fence):
                raise RenderError(f"{where}: {reference!r} leaves the checkout")
            if target in ancestors:
                raise RenderError(f"{where}: {reference!r} depends on itself")
            if vendored is None:
                if not (target / "Chart.yaml").is_file():
                    raise RenderError(f"{where}: {reference!r} holds no Chart.yaml")
                _links_inside(target, fence, where)
                missing.append((name, target))
            continue
        if vendored is not None:
            if pinned and vendored.lstrip("v") != pinned.lstrip("v"):
                raise RenderError(
                    f"{where}: charts/ holds version {vendored} but Chart.lock pins {pinned} "
                    "(run `helm dependency build` and commit charts/)"
                )
            continue
        repository = _repository(reference, work.repositories) if reference else None
        if repository is None:
            allowed = [r.url for r in work.repositories]
            raise RenderError(
                f"{where} from {reference or 'no repository'} is not vendored in charts/ and "
                f"its repository is not in helm_repositories ({allowed or 'none configured'}): "
                "vendor it (`helm dependency build`, commit charts/) or list the repository"
            )
        version = pinned or str(dep.get("version") or "")
        if not _EXACT.match(version):
            raise RenderError(
                f"{where}: version {version!r} is a range and no Chart.lock pins it "
                "(run `helm dependency update` and commit Chart.lock)"
            )
        missing.append((name, (repository, version)))
    if missing and not owned:
        folder, owned = work.copy(folder), True
    charts = folder / "charts"
    for name, source in missing:
        charts.mkdir(exist_ok=True)
        if isinstance(source, Path):
            copied = work.copy(source)
            placed = charts / name
            shutil.move(copied, placed)
            _prepare(
                work, placed, source, f"{shown}/charts/{name}", owned=True, ancestors=ancestors
            )
        else:
            repository, version = source
            fetched = fetch_chart(repository, name, version, work.cache)
            shutil.copyfile(fetched, charts / f"{name}-{version}.tgz")
    placed_here = {n for n, source in missing if isinstance(source, Path)}
    names = sorted(p.parent.name for p in charts.glob("*/Chart.yaml")) if charts.is_dir() else []
    for sub_name in names:
        if sub_name in placed_here:
            continue  # prepared above
        sub_folder = folder / "charts" / sub_name  # in our copy once ``owned``
        if not owned and not sub_folder.resolve().is_relative_to(fence):
            raise RenderError(f"{shown}/charts/{sub_name}: leaves the checkout")
        prepared = _prepare(
            work,
            sub_folder,
            origin / "charts" / sub_name,
            f"{shown}/charts/{sub_name}",
            owned=owned,
            ancestors=ancestors,
        )
        if prepared != sub_folder:  # a vendored subchart needed something: use our copy
            folder, owned = work.copy(folder), True
            shutil.rmtree(folder / "charts" / sub_name)
            shutil.move(prepared, folder / "charts" / sub_name)
    return folder


def prepare_chart(
    root: Path,
    label: str,
    *,
    boundary: Path,
    repositories: Sequence[HelmRepository] = (),
    cache: Path,
    scratch: Path,
) -> Path:
    """The folder to template: ``root`` itself when everything is vendored, else a copy in
    ``scratch`` with ``file://`` and fetched dependencies added to ``charts/``."""
    work = _Work(boundary, repositories, cache, scratch)
    return _prepare(work, root, root, label, owned=False)
