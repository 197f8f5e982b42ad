"""What an app's render reads: its inputs, as paths relative to the repository root.

A change to any of them may change what the app deploys, so the receiver's app index and the
worker's narrowing look for them in a push (``webhook.affected``). The app's own folder is
always an input and is not listed; listed are the files and folders outside it (or inside it,
when named) that Kustomize or Helm read:
- Kustomize: every file and folder the kustomization graph names (resources, components,
  bases, patches, generators' files, replacements, crds, configurations, openapi, plugin
  configurations, Helm inflation's chart homes and values files) and the kustomization
  files of each folder it visits, found by the same walk that checks them
  (``kustomize.check_kustomizations``);
- Helm: the values files and every ``file://`` dependency's folder;
- plain folders: the kustomization graph of each subfolder that has a kustomization.
With ``directory`` options that narrow a plain folder (``directory_glob``), what they leave
out is no input: the receiver then matches changes in the app folder against the same
options instead of counting the whole folder, and links count only where a read file is
one. A folder with a kustomization or chart ignores the options and lists itself.
A folder ends in ``/`` (everything under it counts); a file does not.
Must not touch: git, the cluster, the queue.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from webhook.directory_glob import DirectoryFilter
from webhook.render.documents import decode, load_yaml_documents
from webhook.render.kustomize import check_kustomizations, kustomization_in
from webhook.render.output import RenderError
from webhook.render.plain import plain_sources

#: More inputs than this are not recorded one by one: the app's whole repository counts.
MAX_INPUTS = 2000


def _relative(paths: Iterable[Path], boundary: Path) -> tuple[str, ...]:
    """Repository-relative names, folders ending in ``/``; paths outside are dropped."""
    fence = boundary.resolve()
    names: set[str] = set()
    for named in paths:
        for path in {Path(os.path.normpath(named)), named.resolve()}:
            if not path.is_relative_to(fence) or path == fence:
                continue
            name = path.relative_to(fence).as_posix()
            names.add(f"{name}/" if path.is_dir() else name)
    if len(names) > MAX_INPUTS:
        return ("",)  # the whole tree: every change counts
    return tuple(sorted(names))


def _local_dependencies(chart: Path, label: str) -> Iterator[str]:
    """The ``file://`` repositories ``Chart.yaml`` (or v1's ``requirements.yaml``) names."""
    for name in ("Chart.yaml", "requirements.yaml"):
        if not (chart / name).is_file():
            continue
        text = decode((chart / name).read_bytes(), f"{label}/{name}")
        documents = load_yaml_documents(text, f"{label}/{name}")
        data: Any = documents[0][0] if documents else None
        deps = data.get("dependencies") if isinstance(data, dict) else None
        for dep in deps if isinstance(deps, list) else ():
            repository = str(dep.get("repository") or "") if isinstance(dep, dict) else ""
            if repository.startswith("file://"):
                yield repository.removeprefix("file://")


def _chart_inputs(root: Path, values_files: Sequence[str], label: str) -> list[Path]:
    found = [root / values for values in values_files]
    pending, seen = [root.resolve()], {root.resolve()}
    while pending and len(seen) < MAX_INPUTS:
        chart = pending.pop()
        for repository in _local_dependencies(chart, label):
            folder = (chart / repository).resolve()
            found.append(folder)
            if folder not in seen and (folder / "Chart.yaml").is_file():
                seen.add(folder)
                pending.append(folder)
    return found


def inputs_of(
    root: Path,
    label: str,
    *,
    boundary: Path,
    values_files: Sequence[str] = (),
    allowed_remote_hosts: Sequence[str] = (),
    enable_helm: bool = False,
    directory: DirectoryFilter | None = None,
) -> tuple[str, ...]:
    """The inputs of the app folder ``root``, relative to ``boundary`` (the repository root).

    Call it after ``render`` succeeded with the same arguments: it reads the same files and
    refuses the same things (RenderError), but runs no tool. ``("",)``: too many to list.
    """
    # Plain files and charts read their whole folder, links included: where links lead counts.
    narrow = directory is not None and directory.narrows
    read = set(_link_targets(root))
    if narrow and (kustomization_in(root) is not None or (root / "Chart.yaml").is_file()):
        read.add(root)  # the options do not apply: every change in the folder counts
    if kustomization_in(root) is not None:
        read |= check_kustomizations(
            root,
            label,
            boundary=boundary,
            allowed_remote_hosts=tuple(allowed_remote_hosts),
            enable_helm=enable_helm,
        )
    elif (root / "Chart.yaml").is_file():
        try:
            read.update(_chart_inputs(root, values_files, label))
        except (OSError, RecursionError) as exc:
            raise RenderError(f"{label}: cannot list the chart's inputs: {exc}") from exc
    else:  # plain files, and the kustomizations of subfolders that have one
        sources = plain_sources(root, directory)
        if narrow:
            read = {link.resolve() for link in _links_read(sources)}
        for source in (s for s in sources if s.is_dir()):
            read |= check_kustomizations(
                source,
                f"{label}/{source.relative_to(root).as_posix()}",
                boundary=boundary,
                allowed_remote_hosts=tuple(allowed_remote_hosts),
                enable_helm=enable_helm,
            )
    return _relative(read, boundary)


def _link_targets(root: Path) -> Iterator[Path]:
    """Where the symlinks under the app folder lead (the checkout keeps them in the tree)."""
    return (path.resolve() for path in _links_under(root))


def _links_read(sources: Sequence[Path]) -> Iterator[Path]:
    """The symlinks among the files read and under the kustomization folders read."""
    for source in sources:
        if source.is_symlink():
            yield source
        elif source.is_dir():
            yield from _links_under(source)


def _links_under(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder, name)
            if path.is_symlink():
                yield path
