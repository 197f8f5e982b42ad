"""The plain types every layer shares about Kubernetes objects.

Owns: ``Manifest`` (an object as JSON-compatible data), ``ObjectRef`` (its identity), the
CustomResourceDefinitions a set of objects defines, and ``Action``, the one vocabulary for
what happened (or would happen) to an object, used by apply, results, comments and the page.
Must not touch: anything with effects; this module imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: A Kubernetes object as plain JSON-compatible data.
Manifest = dict[str, Any]

CRD_GROUP = "apiextensions.k8s.io"
CRD_KIND = "CustomResourceDefinition"


class Action(StrEnum):
    """What a sync did to an object (a dry run: what it would do)."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    FAILED = "failed"
    SKIPPED = "skipped"


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

    @property
    def is_crd(self) -> bool:
        return (self.group, self.kind) == (CRD_GROUP, CRD_KIND)

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


def defined_kinds(bodies: Iterable[object]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, for the CRDs among ``bodies`` (their kinds are served only
    once the CRD is Established, so a plan or a guard cannot ask the cluster about them yet).
    Tolerates any shape: ``bodies`` may not have been checked yet."""
    kinds: dict[tuple[str, str], bool] = {}
    for body in bodies:
        if not isinstance(body, dict) or body.get("kind") != CRD_KIND:
            continue
        if group_of(str(body.get("apiVersion", ""))) != CRD_GROUP:
            continue
        spec = body.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        names = spec.get("names")
        names = names if isinstance(names, dict) else {}
        if isinstance(spec.get("group"), str) and isinstance(names.get("kind"), str):
            kinds[(spec["group"], names["kind"])] = spec.get("scope") != "Cluster"
    return kinds
