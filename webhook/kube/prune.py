"""Prune: delete the app's objects that left git, found through its ApplySet labels.

Owns: listing the ApplySet's members across the group-kinds and namespaces its parent records
(plus the current ones), choosing those not desired any more, and deleting them in reverse
apply order. Only objects labelled ``applyset.kubernetes.io/part-of=<our id>`` are ever
considered; Namespaces and CRDs only with ``prune_cluster_scoped``; never an object annotated
``argocd.argoproj.io/sync-options: Prune=false``, ``kustomize.toolkit.fluxcd.io/prune:
disabled`` or ``helm.sh/resource-policy: keep`` (it is left in place, out of the prune
set). Each object is read again just before its deletion, and deleted only if it still
carries our label, with the uid and resourceVersion of that read as preconditions: an object
someone took over in between stays.
Must not touch: applying, health, git, rendering.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from webhook.hooks import keeps_on_prune
from webhook.kube.apply import CRD, tier_of
from webhook.kube.applyset import PART_OF, ApplySet, Inventory, labels_of, split_group_kind
from webhook.kube.client import ApiError, Cluster, KubeError
from webhook.objects import ObjectRef, group_of

#: Losing one of these loses data: pruned only with ``prune_cluster_scoped``.
PROTECTED = frozenset({("", "Namespace"), CRD})
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    ref: ObjectRef
    error: str | None = None


def orphans(
    cluster: Cluster,
    applyset: ApplySet,
    inventory: Inventory,
    desired: Collection[ObjectRef],
) -> list[tuple[ObjectRef, str]]:
    """Live members of the ApplySet that are not desired: (ref, apiVersion), in delete order.

    Protected kinds are included: ``may_prune`` decides, and the parent keeps recording
    the group-kinds of members left in place.
    """
    selector = f"{PART_OF}={applyset.id}"
    namespaces = sorted({applyset.namespace, *inventory.namespaces})
    found: dict[ObjectRef, str] = {}
    for group_kind in sorted(inventory.group_kinds):
        group, kind = split_group_kind(group_kind)
        resource = cluster.preferred(group, kind)
        if resource is None:
            continue  # the kind is gone (its CRD was removed): nothing left to prune
        for namespace in namespaces if resource.namespaced else [None]:
            for item in cluster.list(resource, namespace=namespace, label_selector=selector):
                meta = item.get("metadata") or {}
                if (meta.get("labels") or {}).get(PART_OF) != applyset.id:
                    continue  # never touch what is not ours, whatever the server matched
                ref = ObjectRef(
                    group_of(str(item.get("apiVersion", ""))),
                    str(item.get("kind") or kind),
                    meta.get("namespace") or None,
                    str(meta.get("name", "")),
                )
                if keeps_on_prune(item):
                    continue  # Prune=false: left in place
                if ref not in desired and not meta.get("deletionTimestamp"):
                    found[ref] = str(item.get("apiVersion"))
    ordered = sorted(found, key=lambda r: (tier_of(r), str(r)), reverse=True)
    return [(ref, found[ref]) for ref in ordered]


def may_prune(ref: ObjectRef, *, prune_cluster_scoped: bool) -> bool:
    """Namespaces and CRDs only with ``prune_cluster_scoped``: losing them loses data."""
    return prune_cluster_scoped or (ref.group, ref.kind) not in PROTECTED


#: Reads and deletes per object when it keeps changing between the two (409 Conflict).
DELETE_ATTEMPTS = 3


def _delete_if_ours(cluster: Cluster, resource: Any, ref: ObjectRef, applyset: ApplySet) -> bool:
    """Delete the object if it is still ours; False when it is not (left in place)."""
    for _ in range(DELETE_ATTEMPTS):
        live = cluster.get(resource, ref.name, ref.namespace)
        if live is None:
            return True
        meta = live.get("metadata") or {}
        if labels_of(live).get(PART_OF) != applyset.id:
            log.warning("%s no longer carries ApplySet %s: not pruned", ref, applyset.id)
            return False
        if meta.get("deletionTimestamp"):
            return True
        if keeps_on_prune(live):
            log.info("%s is annotated Prune=false since it was listed: not pruned", ref)
            return False
        preconditions = {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
        try:
            cluster.delete(
                resource,
                ref.name,
                ref.namespace,
                preconditions={k: str(v) for k, v in preconditions.items() if v},
            )
        except ApiError as exc:
            if exc.status == 409:
                continue  # changed since the read: read again
            raise
        return True
    raise KubeError(f"{ref}: changed while being pruned, {DELETE_ATTEMPTS} times; left in place")


def prune(
    cluster: Cluster, targets: list[tuple[ObjectRef, str]], applyset: ApplySet
) -> list[Pruned]:
    """Delete each target that is still ours; record failures per object. Targets that
    stopped carrying our label are left alone and not reported as pruned."""
    out: list[Pruned] = []
    for ref, api_version in targets:
        try:
            resource = cluster.resource(api_version, ref.kind)
            if not _delete_if_ours(cluster, resource, ref, applyset):
                continue
        except KubeError as exc:
            out.append(Pruned(ref, str(exc)))
            continue
        out.append(Pruned(ref))
    return out
