"""Render an app folder into Kubernetes objects: plain YAML/JSON, Kustomize or Helm.

Owns: turning a checked-out folder into a list of ``Rendered`` objects (plain dicts with the
place they came from), bounded YAML loading, and running ``kustomize``/``helm`` from PATH.
Must not touch: git, the cluster, the queue. It knows nothing of namespaces or guardrails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: A Kubernetes object as plain JSON-compatible data.
Manifest = dict[str, Any]

#: One rendered document may expand to at most this many YAML nodes, counting every alias
#: expansion: a "billion laughs" document fails here instead of exhausting memory.
MAX_EXPANDED_NODES = 200_000
#: A single manifest file (or tool output) above this is refused before parsing.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
#: Seconds a ``kustomize build`` or ``helm template`` may take.
TOOL_TIMEOUT = 120.0
#: The Kubernetes version helm templates against (helm alone assumes v1.20).
HELM_KUBE_VERSION = "1.34"

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class RenderError(Exception):
    """The app's manifests cannot be rendered; the message names the file (and line)."""


@dataclass(frozen=True)
class ObjectRef:
    """Identity of an object: group, kind, namespace (None: cluster-scoped or unset), name."""

    group: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group_kind(self) -> str:
        """``Kind`` for the core group, else ``Kind.group`` (as ApplySet annotations spell it)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def group_of(api_version: str) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` -> ``""``."""
    return api_version.rpartition("/")[0]


def ref_of(body: Manifest) -> ObjectRef:
    """The identity of a (guarded) object."""
    meta = body.get("metadata") or {}
    return ObjectRef(
        group=group_of(str(body.get("apiVersion", ""))),
        kind=str(body.get("kind", "")),
        namespace=meta.get("namespace") or None,
        name=str(meta.get("name", "")),
    )


@dataclass(frozen=True)
class Rendered:
    """One object and where it came from (``path:line`` or the tool's source comment)."""

    body: Manifest
    source: str


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts nodes including alias expansions, per document."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}

    def compose_document(self) -> yaml.Node | None:
        self._sizes = {}
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        node = super().compose_node(parent, index)
        if node is None or id(node) in self._sizes:
            return node
        size = 1
        if isinstance(node, yaml.MappingNode):
            size += sum(
                self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
            )
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes.get(id(c), 1) for c in node.value)
        if size > MAX_EXPANDED_NODES:
            raise yaml.MarkedYAMLError(
                problem=f"document expands to more than {MAX_EXPANDED_NODES} nodes "
                "(alias bomb or oversized document)",
                problem_mark=node.start_mark,
            )
        self._sizes[id(node)] = size
        return node


def _yaml_error(name: str, exc: yaml.YAMLError) -> RenderError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{name}:{mark.line + 1}" if mark is not None else name
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return RenderError(f"{where}: invalid YAML: {detail}")


def load_yaml_documents(text: str, name: str) -> list[tuple[Any, int]]:
    """Parse a multi-document YAML text with bounds; return (data, 1-based line) pairs."""
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise RenderError(f"{name}: larger than {MAX_DOCUMENT_BYTES} bytes")
    loader = _BoundedLoader(text)
    documents: list[tuple[Any, int]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            documents.append((loader.construct_document(node), line))
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc) from exc
    finally:
        loader.dispose()
    return documents


def _objects(data: Any, source: str) -> Iterator[Rendered]:
    """Validate one parsed document; expand ``kind: List``; skip empty documents."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise RenderError(f"{source}: a document must be a mapping, not {type(data).__name__}")
    if data.get("kind") == "List" and isinstance(data.get("items"), list):
        for index, item in enumerate(data["items"]):
            yield from _objects(item, f"{source} (items[{index}])")
        return
    yield Rendered(body=data, source=source)


def parse_stream(text: str, name: str) -> list[Rendered]:
    """Objects from a multi-document YAML (or JSON, a YAML subset) text named ``name``."""
    out: list[Rendered] = []
    for data, line in load_yaml_documents(text, name):
        out.extend(_objects(data, f"{name}:{line}"))
    return out


def _manifest_files(root: Path) -> list[Path]:
    top = root.resolve()
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES and p.resolve().is_relative_to(top)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def render_plain(root: Path, label: str) -> list[Rendered]:
    """Every .yaml/.yml/.json file under ``root``, sorted by path; ``label`` prefixes names."""
    out: list[Rendered] = []
    for path in _manifest_files(root):
        name = f"{label}/{path.relative_to(root).as_posix()}"
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise RenderError(f"{name}: larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise RenderError(f"{name}: not UTF-8 text") from exc
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RenderError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
            out.extend(_objects(data, name))
        else:
            out.extend(parse_stream(text, name))
    return out


def _run_tool(argv: Sequence[str], cwd: Path, label: str) -> str:
    tool = argv[0]
    binary = shutil.which(tool)
    if binary is None:
        raise RenderError(f"{label}: rendering needs `{tool}`, which is not on PATH")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    env.setdefault("HOME", str(cwd))
    try:
        proc = subprocess.run(
            [binary, *argv[1:]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"{label}: `{tool}` took longer than {TOOL_TIMEOUT:.0f}s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().replace(str(cwd), label)
        raise RenderError(f"{label}: `{tool}` failed: {detail[-2000:]}")
    if len(proc.stdout.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise RenderError(f"{label}: `{tool}` output larger than {MAX_DOCUMENT_BYTES} bytes")
    return proc.stdout


def render_kustomize(root: Path, label: str) -> list[Rendered]:
    """``kustomize build`` restricted to the folder, without exec or alpha plugins."""
    argv = ["kustomize", "build", "--load-restrictor", "LoadRestrictionsRootOnly", "."]
    return parse_stream(_run_tool(argv, root, label), f"kustomize build {label}")


_HELM_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def render_helm(
    root: Path, label: str, *, release: str, namespace: str, values_files: Sequence[str]
) -> list[Rendered]:
    """``helm template`` with the app's release name, namespace and values files."""
    argv = ["helm", "template", release, ".", "--namespace", namespace]
    argv += ["--kube-version", HELM_KUBE_VERSION]
    for values in values_files:
        resolved = (root / values).resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
            raise RenderError(f"{label}: values file {values!r} is not a file in the app folder")
        argv += ["-f", str(resolved)]
    text = _run_tool(argv, root, label)
    out: list[Rendered] = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        found = _HELM_SOURCE.search(chunk)
        name = f"helm {found.group(1)}" if found else f"helm template {label}"
        out.extend(Rendered(r.body, name) for r in parse_stream(chunk, name))
    return out


def render(
    root: Path,
    label: str,
    *,
    release: str,
    namespace: str,
    values_files: Sequence[str] = (),
) -> list[Rendered]:
    """Render the folder ``root`` (shown to people as ``label``) the way its files ask."""
    if any((root / name).is_file() for name in KUSTOMIZATION_FILES):
        return render_kustomize(root, label)
    if (root / "Chart.yaml").is_file():
        return render_helm(
            root, label, release=release, namespace=namespace, values_files=values_files
        )
    return render_plain(root, label)
