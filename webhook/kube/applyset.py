"""The app's inventory as a KEP-3659 ApplySet, so ``kubectl`` understands what we own.

Owns: the parent object (a ConfigMap ``applyset-<app>`` in the app's namespace), its id label
computed as kubectl does, its tooling / contains-group-kinds / additional-namespaces
annotations, the ``applyset.kubernetes.io/part-of`` label on members, and who owns a live
object (``Ownership``): an app writes only objects that carry its own label, never another
app's, and objects of nobody only when it adopts them explicitly; its parent only when it
is absent or carries its own id label.
Must not touch: applying or deleting members (apply.py and prune.py do that).
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from webhook.objects import Manifest, ObjectRef

PART_OF = "applyset.kubernetes.io/part-of"
ID_LABEL = "applyset.kubernetes.io/id"
TOOLING = "applyset.kubernetes.io/tooling"
GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
PARENT_KIND = "ConfigMap"


@functools.cache
def _version() -> str:
    """This package's version (read once: the metadata look-up took 75 ms a sync)."""
    try:
        return metadata.version("webhook-deployer")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def applyset_id(name: str, namespace: str, kind: str = PARENT_KIND, group: str = "") -> str:
    """``applyset-<base64url-nopad(sha256("<name>.<namespace>.<kind>.<group>"))>-v1``."""
    digest = hashlib.sha256(f"{name}.{namespace}.{kind}.{group}".encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


@dataclass(frozen=True)
class Inventory:
    """What a parent records: group-kinds (``Kind.group``) and namespaces of its members."""

    group_kinds: frozenset[str]
    namespaces: frozenset[str]

    def union(self, other: Inventory) -> Inventory:
        return Inventory(self.group_kinds | other.group_kinds, self.namespaces | other.namespaces)


def split_group_kind(group_kind: str) -> tuple[str, str]:
    """``Deployment.apps`` -> (``apps``, ``Deployment``); ``ConfigMap`` -> (``""``, ...)."""
    kind, _, group = group_kind.partition(".")
    return group, kind


@dataclass(frozen=True)
class ApplySet:
    """One app's ApplySet."""

    app: str
    namespace: str

    @property
    def name(self) -> str:
        return f"applyset-{self.app}"

    @property
    def id(self) -> str:
        return applyset_id(self.name, self.namespace)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("", PARENT_KIND, self.namespace, self.name)

    def label(self, body: Manifest) -> Manifest:
        """A copy of a member with the part-of label set."""
        out = copy.deepcopy(body)
        meta = out.setdefault("metadata", {})
        labels = meta.get("labels") or {}
        meta["labels"] = {**labels, PART_OF: self.id}
        return out

    def inventory_of(self, refs: Iterable[ObjectRef]) -> Inventory:
        refs = list(refs)
        namespaces = {r.namespace for r in refs if r.namespace and r.namespace != self.namespace}
        return Inventory(frozenset(r.group_kind for r in refs), frozenset(namespaces))

    def recorded(self, parent: Manifest | None) -> Inventory:
        """The inventory a live parent records (empty when there is none yet)."""
        annotations = ((parent or {}).get("metadata") or {}).get("annotations") or {}

        def items(key: str) -> frozenset[str]:
            return frozenset(p for p in str(annotations.get(key, "")).split(",") if p)

        return Inventory(items(GROUP_KINDS), items(NAMESPACES))

    def parent(self, inventory: Inventory) -> Manifest:
        """The parent object recording ``inventory``."""
        return {
            "apiVersion": "v1",
            "kind": PARENT_KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {ID_LABEL: self.id},
                "annotations": {
                    TOOLING: f"webhook-deployer/v{_version()}",
                    GROUP_KINDS: ",".join(sorted(inventory.group_kinds)),
                    NAMESPACES: ",".join(sorted(inventory.namespaces)),
                },
            },
        }


def labels_of(live: Manifest) -> Mapping[str, object]:
    labels = (live.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


@dataclass(frozen=True)
class Ownership:
    """Which live objects an app may write: its own; with ``adopt``, also those no
    configured app owns. Server-side apply with force would otherwise put our label on
    anyone's object, and a later prune would delete it."""

    id: str
    #: ApplySet id -> app name, for every configured app (to name an object's owner).
    apps: Mapping[str, str] = field(default_factory=dict)
    adopt: bool = False

    def _owner(self, applyset: str) -> str:
        app = self.apps.get(applyset)
        return f"app {app}" if app else f"ApplySet {applyset} (no configured app)"

    def refusal(self, live: Manifest | None) -> str | None:
        """Why this app may not write ``live`` (None: it may)."""
        if live is None:
            return None
        labels = labels_of(live)
        parent, part_of = labels.get(ID_LABEL), labels.get(PART_OF)
        if isinstance(parent, str) and parent:
            return f"is the ApplySet parent of {self._owner(parent)}: never taken over"
        if part_of == self.id:
            return None
        hint = "; set adopt: true on this app to take it over"
        if not isinstance(part_of, str) or not part_of:
            return (
                None if self.adopt else f"exists and was not applied by this app (no owner){hint}"
            )
        if part_of in self.apps:
            return f"belongs to {self._owner(part_of)}: never taken over"
        return None if self.adopt else f"belongs to {self._owner(part_of)}{hint}"

    def parent_refusal(self, live: Manifest | None) -> str | None:
        """Why this app may not write ``live`` as its ApplySet parent (None: it may).

        The parent is written with force, so a ConfigMap of the same name that this deployer
        did not create for this app (someone's data, another app's object) would be taken
        over, and its data would then describe our inventory."""
        labels = labels_of(live or {})
        if live is None or labels.get(ID_LABEL) == self.id:
            return None
        part_of = labels.get(PART_OF)
        owner = (
            f"; it belongs to {self._owner(part_of)}"
            if isinstance(part_of, str) and part_of
            else ""
        )
        return (
            f"exists and is not this app's ApplySet parent (no {ID_LABEL}={self.id} label"
            f"{owner}): never taken over; remove or rename it"
        )
