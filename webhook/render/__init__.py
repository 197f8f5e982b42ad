"""Render an app folder into Kubernetes objects: plain YAML/JSON, Kustomize or Helm.

Owns: turning a checked-out folder into a list of ``Rendered`` objects (plain dicts with the
place they came from). The folder is untrusted (a pull request's author writes it), so:
documents hold JSON types only within bounds (documents.py, limits.py); kustomize and helm
run offline with a clean environment (tools.py), after their inputs were checked for remote
references, plugins and paths leaving the checkout (kustomize.py, helm.py, remote.py).
The checkout is the commit's whole tree: an app renders from its folder and may read any
file in the tree (bases, components, values files), none outside it; ``inputs_of`` lists
what it read (inputs.py).
Must not touch: git, the cluster, the queue. It knows nothing of namespaces or guardrails.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from webhook.directory_glob import DirectoryFilter
from webhook.render import limits, links, tools
from webhook.render.documents import (
    decode,
    load_json,
    load_yaml_documents,
    objects_of,
    parse_stream,
)
from webhook.render.helm import HELM_KUBE_VERSION, Capabilities, HelmOptions, render_helm
from webhook.render.inputs import inputs_of
from webhook.render.kustomize import (
    KUSTOMIZATION_FILES,
    check_builds,
    kustomization_in,
    render_kustomize,
)
from webhook.render.output import Rendered, RenderError
from webhook.render.plain import MANIFEST_SUFFIXES, plain_sources

__all__ = [
    "HELM_KUBE_VERSION",
    "KUSTOMIZATION_FILES",
    "MANIFEST_SUFFIXES",
    "Capabilities",
    "DirectoryFilter",
    "HelmOptions",
    "RenderError",
    "Rendered",
    "inputs_of",
    "load_json",
    "load_yaml_documents",
    "parse_stream",
    "plain_sources",
    "render",
    "render_plain",
]


@tools.render_deadline()
def render_plain(
    root: Path,
    label: str,
    *,
    boundary: Path | None = None,
    allowed_remote_hosts: Sequence[str] = (),
    enable_helm: bool = False,
    directory: DirectoryFilter | None = None,
    capabilities: Capabilities | None = None,
) -> list[Rendered]:
    """Every .yaml/.yml/.json file under ``root``, sorted by path, and the build of every
    subfolder with a kustomization (``plain_sources``, narrowed by ``directory``); ``label``
    prefixes names."""
    sources = plain_sources(root, directory)
    check_builds(
        [
            (path, f"{label}/{path.relative_to(root).as_posix()}")
            for path in sources
            if path.is_dir()
        ],
        label,
        boundary=boundary or root,
        allowed_remote_hosts=tuple(allowed_remote_hosts),
        enable_helm=enable_helm,
    )
    out: list[Rendered] = []
    for path in sources:
        name = f"{label}/{path.relative_to(root).as_posix()}"
        if path.is_dir():
            out += render_kustomize(
                path,
                name,
                boundary=boundary or root,
                allowed_remote_hosts=tuple(allowed_remote_hosts),
                enable_helm=enable_helm,
                capabilities=capabilities,
                checked=True,  # by check_builds above: each walk read every kustomization
            )
        else:
            out += _plain_file(path, name)
        if len(out) > limits.MAX_OBJECTS:
            raise RenderError(f"{label}: more than {limits.MAX_OBJECTS} objects")
    return out


#: A YAML file holding all three is a manifest: failing to read it is an error, not a skip.
_MANIFEST_MARKERS = ("apiVersion:", "kind:", "metadata:")
#: Argo CD's marker for a file of a directory app that is not to be read (a template).
SKIP_MARKER = "+argocd:skip-file-rendering"


def _plain_file(path: Path, name: str) -> list[Rendered]:
    """The objects of one file. A YAML file that is no Kubernetes manifest (a tool's
    configuration, a values file) is skipped as Argo CD skips it: it fails to read as
    objects with a kind, and lacks one of ``apiVersion:``, ``kind:``, ``metadata:``; so is a
    file holding Argo CD's ``+argocd:skip-file-rendering``."""
    if path.stat().st_size > limits.MAX_DOCUMENT_BYTES:
        raise RenderError(f"{name}: larger than {limits.MAX_DOCUMENT_BYTES} bytes")
    text = decode(path.read_bytes(), name)
    if SKIP_MARKER in text:
        return []
    if path.suffix.lower() == ".json":
        return list(objects_of(load_json(text, name), name))
    try:
        objects = parse_stream(text, name, unique_keys=True)
    except RenderError:
        if all(marker in text for marker in _MANIFEST_MARKERS):
            raise
        return []
    if any(not o.body.get("kind") for o in objects) and not all(
        marker in text for marker in _MANIFEST_MARKERS
    ):
        return []
    return objects


def render(
    root: Path,
    label: str,
    *,
    release: str,
    namespace: str,
    values_files: Sequence[str] = (),
    checkout_root: Path | None = None,
    allowed_remote_hosts: Sequence[str] = (),
    enable_helm: bool = False,
    helm: HelmOptions | None = None,
    directory: DirectoryFilter | None = None,
) -> list[Rendered]:
    """Render the folder ``root`` (shown to people as ``label``) the way its files ask.

    ``checkout_root``: nothing outside it is read (default: ``root``, the app folder); the
    engine passes the root of the commit's tree, so bases and values files elsewhere in the
    repository may be read. Helm ``values_files`` are relative to ``root``.
    ``allowed_remote_hosts``, ``enable_helm``: the app's ``kustomize:`` options.
    ``helm``: capabilities (for charts kustomize inflates too), repositories and a chart
    from a repository (helm.py).
    ``directory``: the app's ``directory:`` options, for a plain folder only (plain.py).
    Every tool run of the render shares ``limits.RENDER_TIMEOUT`` (``tools.render_deadline``).
    """
    with tools.render_deadline():
        return _render(
            root,
            label,
            release=release,
            namespace=namespace,
            values_files=values_files,
            boundary=checkout_root or root,
            allowed_remote_hosts=allowed_remote_hosts,
            enable_helm=enable_helm,
            helm=helm,
            directory=directory,
        )


def _render(
    root: Path,
    label: str,
    *,
    release: str,
    namespace: str,
    values_files: Sequence[str],
    boundary: Path,
    allowed_remote_hosts: Sequence[str],
    enable_helm: bool,
    helm: HelmOptions | None,
    directory: DirectoryFilter | None,
) -> list[Rendered]:
    links.stay_inside(root, boundary, label)
    if helm is not None and helm.chart is not None:  # the folder holds only values files
        out = render_helm(
            root,
            label,
            release=release,
            namespace=namespace,
            values_files=values_files,
            boundary=boundary,
            options=helm,
        )
    elif kustomization_in(root) is not None:
        out = render_kustomize(
            root,
            label,
            boundary=boundary,
            allowed_remote_hosts=tuple(allowed_remote_hosts),
            enable_helm=enable_helm,
            capabilities=helm.capabilities if helm else None,
        )
    elif (root / "Chart.yaml").is_file():
        out = render_helm(
            root,
            label,
            release=release,
            namespace=namespace,
            values_files=values_files,
            boundary=boundary,
            options=helm,
        )
    else:
        out = render_plain(
            root,
            label,
            boundary=boundary,
            allowed_remote_hosts=allowed_remote_hosts,
            enable_helm=enable_helm,
            directory=directory,
            capabilities=helm.capabilities if helm else None,
        )
    if len(out) > limits.MAX_OBJECTS:
        raise RenderError(f"{label}: renders more than {limits.MAX_OBJECTS} objects")
    return out
