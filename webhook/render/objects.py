"""What rendering produces: plain-dict objects with their origin, and the render error.

Owns: ``Manifest``, ``ObjectRef``, ``Rendered``, ``RenderError``. Must not touch: files or tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: A Kubernetes object as plain JSON-compatible data.
Manifest = dict[str, Any]


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
