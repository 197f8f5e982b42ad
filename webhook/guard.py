"""The app's guardrails, checked on rendered objects before anything reaches the cluster.

Owns: required fields, defaulting the namespace of namespaced objects, allowed namespaces,
allowed cluster-scoped kinds, duplicates. Every problem is collected, so one sync reports
all of them at once. Must not touch: the cluster (scope knowledge comes in as a callable),
git, the queue.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from webhook.render import Manifest, ObjectRef, Rendered, group_of, ref_of
from webhook.settings import AppConfig

#: ``(apiVersion, kind) -> True`` (namespaced), ``False`` (cluster-scoped), ``None`` (unknown).
ScopeLookup = Callable[[str, str], "bool | None"]

CRD_GROUP = "apiextensions.k8s.io"


class GuardError(Exception):
    """Objects break the app's guardrails; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _crd_scopes(objects: Sequence[Rendered]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, for CRDs in this same sync (their kinds are not served yet)."""
    scopes: dict[tuple[str, str], bool] = {}
    for item in objects:
        body = item.body
        if body.get("kind") != "CustomResourceDefinition":
            continue
        if group_of(str(body.get("apiVersion", ""))) != CRD_GROUP:
            continue
        spec = body.get("spec") or {}
        names = spec.get("names") or {}
        if isinstance(spec.get("group"), str) and isinstance(names.get("kind"), str):
            scopes[(spec["group"], names["kind"])] = spec.get("scope") != "Cluster"
    return scopes


def _cluster_kind_allowed(app: AppConfig, ref: ObjectRef) -> bool:
    return ref.kind in app.allowed_cluster_kinds or ref.group_kind in app.allowed_cluster_kinds


def check(
    objects: Sequence[Rendered], app: AppConfig, is_namespaced: ScopeLookup
) -> list[Manifest]:
    """Return the objects with namespaces defaulted, or raise GuardError listing every problem.

    A Namespace object is allowed when its name is one of the app's allowed namespaces;
    any other cluster-scoped kind must be listed in ``allowed_cluster_kinds``.
    """
    allowed = app.effective_allowed_namespaces
    crd_scopes = _crd_scopes(objects)
    errors: list[str] = []
    seen: dict[ObjectRef, str] = {}
    out: list[Manifest] = []
    for item in objects:
        body = copy.deepcopy(item.body)
        api_version, kind = body.get("apiVersion"), body.get("kind")
        meta = body.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        missing = [
            field
            for field, value in (
                ("apiVersion", api_version),
                ("kind", kind),
                ("metadata.name", name),
            )
            if not isinstance(value, str) or not value
        ]
        if missing:
            errors.append(f"{item.source}: object without {', '.join(missing)}")
            continue
        assert isinstance(api_version, str) and isinstance(kind, str) and isinstance(meta, dict)
        label = f"{item.source}: {kind} {name}"
        namespaced = is_namespaced(api_version, kind)
        if namespaced is None:
            namespaced = crd_scopes.get((group_of(api_version), kind))
        if namespaced is None:
            errors.append(
                f"{label}: the cluster does not serve {kind} in {api_version}, "
                "and no CustomResourceDefinition in this app defines it"
            )
            continue
        if namespaced:
            namespace = meta.get("namespace") or app.namespace
            meta["namespace"] = namespace
            if namespace not in allowed:
                errors.append(
                    f"{label}: namespace {namespace!r} is not allowed for app {app.name} "
                    f"(allowed: {', '.join(allowed)})"
                )
        else:
            meta.pop("namespace", None)
            ref = ref_of(body)
            if ref.group == "" and kind == "Namespace":
                if name not in allowed and not _cluster_kind_allowed(app, ref):
                    errors.append(
                        f"{label}: namespace {name!r} is not in the allowed namespaces of "
                        f"app {app.name}"
                    )
            elif not _cluster_kind_allowed(app, ref):
                errors.append(
                    f"{label}: cluster-scoped kind {ref.group_kind} is not in "
                    f"allowed_cluster_kinds of app {app.name}"
                )
        ref = ref_of(body)
        if ref in seen:
            errors.append(f"{label}: {ref} is defined twice (also at {seen[ref]})")
            continue
        seen[ref] = item.source
        out.append(body)
    if errors:
        raise GuardError(errors)
    return out
