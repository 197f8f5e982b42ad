"""``kustomize build`` of an app folder, after every kustomization it reaches has been read.

Kustomize fetches remote bases (git, http, ``github.com/...``) and runs KRM functions and
``helm`` when a kustomization asks; a pull request's author writes those kustomizations.
So before kustomize runs, every kustomization reachable from the app folder is read and any
remote reference (unless its host is allowed), any path leaving the checkout, any KRM
function and any Helm inflation (unless enabled) is a RenderError naming the file, as are
chart fields helm would read as flags or paths, and chart schemas naming files or URLs.
Kustomize itself runs with ``LoadRestrictionsRootOnly``, no plugins and a clean environment.
The same walk tells which files and folders the build reads (``check_kustomizations``
returns them), so a change to a shared base can be traced to every app that reads it.
Must not touch: git, the cluster.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webhook.render import chart_schema, limits, remote, tools
from webhook.render.documents import decode, load_yaml_documents, parse_stream
from webhook.render.helm import Capabilities
from webhook.render.output import Rendered, RenderError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: Annotations that make kustomize run a KRM function (a container or an executable).
FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
#: Fields that hold a list of files (or inline text) kustomize reads.
_FILE_LISTS = ("crds", "configurations", "patchesStrategicMerge")
#: Fields that hold a list of mappings, each with an optional ``path``.
_PATH_ITEMS = ("patches", "patchesJson6902", "replacements")
#: Fields that hold bases: kustomization folders, remote repositories or resource files.
_BASES = ("resources", "bases", "components")
#: Fields that hold plugin configurations: files, folders or inline YAML.
_PLUGINS = ("generators", "transformers", "validators")
_HELM_FIELDS = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")
#: Helm's rule for release names (``chartutil.ValidateReleaseName``), at most 53 characters.
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: A chart name: one path segment (kustomize joins it to chartHome, and writes beside it).
_CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def kustomization_in(folder: Path) -> Path | None:
    """The kustomization file of ``folder``, if it has one."""
    return next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)


@dataclass
class _Walk:
    """The pre-check's state: the checkout, what the app allows, and folders still to read."""

    boundary: Path
    label: str
    root: Path
    allowed_hosts: tuple[str, ...]
    enable_helm: bool
    pending: deque[Path] = field(default_factory=deque)
    seen: set[Path] = field(default_factory=set)
    #: Folders named by generators/transformers/validators: what they build configures plugins.
    plugin_folders: set[Path] = field(default_factory=set)
    #: Folder -> the folders it names, once per mention (kustomize builds each every time).
    edges: dict[Path, list[Path]] = field(default_factory=dict)

    def builds(self, folder: Path, counted: dict[Path, int], stack: frozenset[Path]) -> int:
        """How many kustomization builds ``folder`` costs, its bases' included (at most
        one more than the limit: the count of a diamond of bases doubles per level)."""
        if folder in counted:
            return counted[folder]
        total = 1
        for child in self.edges.get(folder, ()):
            if child not in stack:  # a cycle: kustomize names it itself
                total += self.builds(child, counted, stack | {child})
            if total > limits.MAX_KUSTOMIZE_BUILDS:
                break
        counted[folder] = total
        return total

    #: Every file and folder the build reads, as named and as resolved through links.
    read: set[Path] = field(default_factory=set)

    def shown(self, path: Path) -> str:
        """A path as people know it: the app label, then the path under the app folder."""
        try:
            return f"{self.label}/{path.relative_to(self.root).as_posix()}".rstrip("/.")
        except ValueError:
            return f"{self.label} (outside the app folder: {path.name})"

    def reference(self, entry: Any, here: Path, where: str, *, folders: bool) -> Path | None:
        """A local path (inside the checkout) for ``entry``, None for an allowed remote."""
        if not isinstance(entry, str) or not entry.strip() or "\x00" in entry:
            raise RenderError(f"{where}: expected a path, got {entry!r}")
        named = Path(os.path.normpath(here / entry.strip()))
        target = named.resolve()
        inside = target.is_relative_to(self.boundary)
        host = remote.remote_host(entry, exists_as_file=inside and target.is_file())
        if host is not None:
            if host and host in self.allowed_hosts:
                return None
            raise RenderError(f"{where}: {remote.describe(entry, host, self.allowed_hosts)}")
        if not inside:
            raise RenderError(f"{where}: {entry!r} leaves the checkout")
        self.read.update((named, target))
        if folders and target.is_dir():
            self.edges.setdefault(here.resolve(), []).append(target)
            self.queue(target, where)
        elif folders and not target.is_file():  # kustomize would try it as a remote
            raise RenderError(f"{where}: {entry!r} is neither a file nor a folder in the checkout")
        return target

    def queue(self, folder: Path, where: str) -> None:
        if folder in self.seen:
            return
        if len(self.seen) >= limits.MAX_KUSTOMIZATIONS:
            raise RenderError(f"{where}: more than {limits.MAX_KUSTOMIZATIONS} kustomizations")
        self.seen.add(folder)
        self.pending.append(folder)
        # Kustomize looks for each of these names; adding one is a change to the build.
        self.read.update(folder / name for name in KUSTOMIZATION_FILES)


def _entries(data: dict[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderError(f"{where}: `{key}` must be a list")
    return value


def _refuse_functions(documents: list[tuple[Any, int]], where: str) -> None:
    for data, line in documents:
        annotations = ((data or {}).get("metadata") or {}) if isinstance(data, dict) else {}
        found = (annotations.get("annotations") or {}) if isinstance(annotations, dict) else {}
        for name in FUNCTION_ANNOTATIONS:
            if isinstance(found, dict) and name in found:
                raise RenderError(
                    f"{where}:{line}: KRM functions ({name}) are not allowed: the deployer "
                    "runs no plugins, containers or executables from a repository"
                )


def _check_plugin(walk: _Walk, entry: Any, here: Path, where: str) -> None:
    """A ``generators``/``transformers``/``validators`` entry: inline, a file or a folder
    whose kustomization's resources are plugin configurations in turn."""
    if isinstance(entry, str) and "\n" in entry:  # an inline configuration
        _check_plugin_configs(walk, load_yaml_documents(entry, where), here, where)
        return
    target = walk.reference(entry, here, where, folders=True)
    if target is None:
        return
    if target.is_file():
        _check_plugin_file(walk, target, here)
    elif target not in walk.plugin_folders:
        walk.plugin_folders.add(target)
        if target not in walk.pending:  # read already as an ordinary folder: read it again
            walk.seen.discard(target)
            walk.queue(target, where)


def _check_plugin_file(walk: _Walk, file: Path, here: Path) -> None:
    shown = walk.shown(file)
    text = decode(file.read_bytes(), shown)
    _check_plugin_configs(walk, load_yaml_documents(text, shown), here, shown)


def _check_plugin_configs(
    walk: _Walk, documents: list[tuple[Any, int]], here: Path, where: str
) -> None:
    """Plugin configurations: no KRM functions; a builtin plugin (``apiVersion: builtin``)
    is checked like the kustomization field it stands for, as kustomize reads its files
    and URLs (``files``, ``envs``, ``path``, ``paths``, a Helm chart's ``repo``) alike."""
    _refuse_functions(documents, where)
    for data, line in documents:
        if not isinstance(data, dict):
            continue
        at = f"{where}:{line}"
        if data.get("kind") == "HelmChartInflationGenerator":
            if not walk.enable_helm:
                raise RenderError(
                    f"{at}: HelmChartInflationGenerator inflates Helm charts, which this app "
                    "does not enable (kustomize.enable_helm)"
                )
            _check_chart_item(walk, data, here, at)
            if not data.get("chartHome") and (here / "charts").is_dir():
                chart_schema.check_chart(here / "charts", walk.shown(here / "charts"))
        paths = [*_generator_files(data), data.get("path")]
        paths += _entries(data, "paths", at)
        paths += [r.get("path") for r in _entries(data, "replacements", at) if isinstance(r, dict)]
        for entry in filter(None, paths):
            walk.reference(entry, here, at, folders=False)


def _generator_files(item: dict[str, Any]) -> Iterator[Any]:
    for key in ("files", "envs"):
        for entry in item.get(key) or []:
            yield entry.split("=", 1)[-1] if isinstance(entry, str) else entry
    if item.get("env"):
        yield item["env"]


def _check_chart_arguments(item: dict[str, Any], where: str) -> None:
    """Refuse chart fields kustomize would pass to helm as flags or join into paths.

    Kustomize puts ``releaseName`` (and ``name`` for ``helm pull``) on helm's command line
    as they are, so ``--post-renderer=./x.sh`` runs a program of the repository; it joins
    ``name`` and ``version`` to chartHome and its scratch folder, so ``../..`` reads a chart
    outside the checkout and writes a values file wherever it points.
    """
    for key, value in item.items():
        values = value if isinstance(value, list) else [value]
        for text in (v for v in values if isinstance(v, str)):
            if text.startswith("-"):
                raise RenderError(
                    f"{where}: `{key}` {text!r} starts with '-', which helm would read as a flag"
                )
    release = item.get("releaseName")
    if release is not None and not (
        isinstance(release, str) and len(release) <= 53 and _RELEASE.match(release)
    ):
        raise RenderError(
            f"{where}: releaseName {release!r} is not a Helm release name "
            "(lowercase letters, digits, '-' and '.', at most 53 characters)"
        )
    name = item.get("name", item.get("chartName"))  # chartName: the legacy generator's
    if name is not None and not (
        isinstance(name, str) and _CHART_NAME.match(name) and ".." not in name
    ):
        raise RenderError(
            f"{where}: chart name {name!r} is not a chart name "
            "(letters, digits, '-', '_', '.'; no path)"
        )
    version = item.get("version", item.get("chartVersion"))
    if version is not None and (not isinstance(version, str) or "/" in version or "\\" in version):
        raise RenderError(f"{where}: chart version {version!r} is not a version")


def _check_helm(walk: _Walk, data: dict[str, Any], here: Path, where: str) -> None:
    used = [key for key in _HELM_FIELDS if data.get(key)]
    if not used:
        return
    if not walk.enable_helm:
        raise RenderError(
            f"{where}: `{used[0]}` inflates Helm charts, which this app does not enable "
            "(kustomize.enable_helm)"
        )
    globals_ = data.get("helmGlobals") or {}
    if not (isinstance(globals_, dict) and globals_.get("chartHome")):
        walk.read.add(here / "charts")  # kustomize's default chart home
        if (here / "charts").is_dir():
            chart_schema.check_chart(here / "charts", walk.shown(here / "charts"))
    charts = _entries(data, "helmCharts", where) + _entries(
        data, "helmChartInflationGenerator", where
    )
    for item in [globals_, *charts]:
        if not isinstance(item, dict):
            raise RenderError(f"{where}: a Helm chart entry must be a mapping")
        _check_chart_item(walk, item, here, where)


def _check_chart_item(walk: _Walk, item: dict[str, Any], here: Path, where: str) -> None:
    """One ``helmCharts`` entry, ``helmGlobals`` or HelmChartInflationGenerator config."""
    _check_chart_arguments(item, where)
    for key in ("repo", "chartRepoUrl"):
        if item.get(key):
            repo = str(item[key])
            host = remote.remote_host(repo) or ""
            if host not in walk.allowed_hosts:
                raise RenderError(f"{where}: {remote.describe(repo, host, walk.allowed_hosts)}")
    for key in ("chartHome", "configHome", "helmHome", "valuesFile", "values"):
        if isinstance(item.get(key), str):
            target = walk.reference(item[key], here, where, folders=False)
            if key == "chartHome" and target is not None and target.is_dir():
                chart_schema.check_chart(target, walk.shown(target))
    for entry in item.get("additionalValuesFiles") or []:
        walk.reference(entry, here, where, folders=False)


def _check_kustomization(walk: _Walk, folder: Path) -> None:
    file = kustomization_in(folder)
    if file is None:
        return  # kustomize names a folder without one itself
    where = walk.shown(file)
    documents = load_yaml_documents(decode(file.read_bytes(), where), where)
    data = documents[0][0] if documents else None
    if data is None:
        return
    if not isinstance(data, dict):
        raise RenderError(f"{where}: a kustomization must be a mapping")
    configurations = folder in walk.plugin_folders  # its resources configure plugins
    for key in _BASES:
        for entry in _entries(data, key, where):
            if configurations and key != "components":
                _check_plugin(walk, entry, folder, f"{where}: {key}")
            else:
                walk.reference(entry, folder, f"{where}: {key}", folders=True)
    for key in _PLUGINS:
        for entry in _entries(data, key, where):
            _check_plugin(walk, entry, folder, f"{where}: {key}")
    for key in _FILE_LISTS:
        for entry in _entries(data, key, where):
            if not (isinstance(entry, str) and "\n" in entry):  # inline patches read nothing
                walk.reference(entry, folder, f"{where}: {key}", folders=False)
    for key in (*_PATH_ITEMS, "configMapGenerator", "secretGenerator"):
        for item in _entries(data, key, where):
            if not isinstance(item, dict):
                continue  # kustomize names a malformed entry itself
            paths = [item.get("path")] if key in _PATH_ITEMS else list(_generator_files(item))
            for entry in filter(None, paths):
                walk.reference(entry, folder, f"{where}: {key}", folders=False)
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and openapi.get("path"):
        walk.reference(openapi["path"], folder, f"{where}: openapi", folders=False)
    _check_helm(walk, data, folder, where)


def check_kustomizations(
    root: Path,
    label: str,
    *,
    boundary: Path,
    allowed_remote_hosts: tuple[str, ...] = (),
    enable_helm: bool = False,
) -> frozenset[Path]:
    """Read every kustomization reachable from ``root``; RenderError on anything refused.

    Returns the files and folders the build reads (absolute, inside ``boundary``)."""
    walk, builds = _walked(root, label, boundary, allowed_remote_hosts, enable_helm)
    if builds > limits.MAX_KUSTOMIZE_BUILDS:
        raise RenderError(
            f"{label}: kustomize would build more than {limits.MAX_KUSTOMIZE_BUILDS} "
            "kustomizations: bases named again and again through other bases (each mention "
            "is built anew, so a few levels of them multiply)"
        )
    return frozenset(walk.read)


def _walked(
    root: Path, label: str, boundary: Path, hosts: tuple[str, ...], enable_helm: bool
) -> tuple[_Walk, int]:
    """The checked walk from ``root`` and the kustomization builds it costs."""
    top = root.resolve()
    walk = _Walk(boundary.resolve(), label, top, tuple(h.lower() for h in hosts), enable_helm)
    walk.queue(top, label)
    while walk.pending:
        _check_kustomization(walk, walk.pending.popleft())
    return walk, walk.builds(top, {}, frozenset({top}))


def check_builds(
    folders: list[tuple[Path, str]],
    label: str,
    *,
    boundary: Path,
    allowed_remote_hosts: tuple[str, ...] = (),
    enable_helm: bool = False,
) -> None:
    """Check every kustomization folder of one render before any is built, and refuse
    when their builds together pass ``MAX_KUSTOMIZE_BUILDS``: a plain folder builds each of
    its kustomization subfolders apart, so thousands of them, each within the bound, held
    a worker for as long as kustomize took over all of them. ``folders``: each with the
    name its errors show."""
    total = 0
    for folder, name in folders:
        total += _walked(folder, name, boundary, allowed_remote_hosts, enable_helm)[1]
        if total > limits.MAX_KUSTOMIZE_BUILDS:
            raise RenderError(
                f"{label}: its {len(folders)} kustomization folders would build more than "
                f"{limits.MAX_KUSTOMIZE_BUILDS} kustomizations together; split the app, or "
                "build them from one kustomization"
            )


def render_kustomize(
    root: Path,
    label: str,
    *,
    boundary: Path,
    allowed_remote_hosts: tuple[str, ...] = (),
    enable_helm: bool = False,
    capabilities: Capabilities | None = None,
    checked: bool = False,
) -> list[Rendered]:
    """``kustomize build`` restricted to the folder, after ``check_kustomizations``
    (``checked``: ``check_builds`` did it already, with these very options).

    ``capabilities``: the target cluster's, for charts kustomize inflates, as Argo CD
    passes them (``--helm-kube-version``, one ``--helm-api-versions`` per version), so a
    chart's ``.Capabilities`` are the cluster's as with a chart of its own (helm.py)."""
    if not checked:
        check_kustomizations(
            root,
            label,
            boundary=boundary,
            allowed_remote_hosts=allowed_remote_hosts,
            enable_helm=enable_helm,
        )
    argv = ["kustomize", "build", "--load-restrictor", "LoadRestrictionsRootOnly"]
    if enable_helm:
        argv += ["--enable-helm", "--helm-command", tools.which("helm", label)]
        if capabilities is not None:
            argv += ["--helm-kube-version", capabilities.kube_version]
            for version in capabilities.api_versions:
                argv += ["--helm-api-versions", version]
    text = tools.run_tool([*argv, "."], root, label)
    return parse_stream(text, f"kustomize build {label}")
