"""What a folder without a kustomization or a chart is made of, as Argo CD and Flux read it.

Owns: which files of such a folder are manifests, which subfolders are kustomize builds of
their own (Flux's generated kustomization names them), and what Flux leaves out by default;
which files Argo CD's ``directory`` options (recurse, include, exclude) leave out.
Must not touch: parsing (documents.py), tools (kustomize.py runs the builds).
"""

from __future__ import annotations

import os
from pathlib import Path

from webhook.directory_glob import DirectoryFilter
from webhook.render.kustomize import kustomization_in

#: The files a folder without a kustomization or chart is made of.
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: What Flux leaves out of every source by default (fluxcd/pkg sourceignore: ExcludeCI and
#: ExcludeExtra): CI and tool configurations, YAML that is no Kubernetes object.
IGNORED_FOLDERS = frozenset({".github", ".circleci"})
IGNORED_FILES = frozenset(
    {
        ".travis.yml",
        ".gitlab-ci.yml",
        "appveyor.yml",
        ".drone.yml",
        "cloudbuild.yaml",
        "codeship-services.yml",
        "codeship-steps.yml",
        ".goreleaser.yml",
        ".goreleaser.brew.yml",
        ".sops.yaml",
        ".flux.yaml",
        ".golangci.yaml",
    }
)


def plain_sources(root: Path, directory: DirectoryFilter | None = None) -> list[Path]:
    """What a folder without a kustomization or chart holds, sorted by path: manifest files,
    and subfolders that have a kustomization file, which are built by kustomize and not
    descended into (as Flux builds such a folder: its generated kustomization names them).
    CI and tool configurations Flux ignores by default are left out too. ``directory``
    (Argo CD's options): no subfolders unless ``recurse``; a file is read when ``include``
    and not ``exclude`` match its path relative to ``root``, a kustomization folder when
    they match its kustomization file's."""
    narrow = directory or DirectoryFilter()
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):  # links to folders are not followed
        here = Path(folder)
        if here != root and (kustomization := kustomization_in(here)) is not None:
            if narrow.selects(kustomization.relative_to(root).as_posix()):
                found.append(here)
            dirs.clear()
            continue
        dirs[:] = [d for d in dirs if d not in IGNORED_FOLDERS] if narrow.recurse else []
        found += [
            here / n
            for n in files
            if Path(n).suffix.lower() in MANIFEST_SUFFIXES
            and n not in IGNORED_FILES
            and (here / n).is_file()
            and narrow.selects((here / n).relative_to(root).as_posix())
        ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
