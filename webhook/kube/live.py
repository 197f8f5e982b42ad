"""The app's live objects read in bulk, and the ledger of what was proven applied.

Owns: reading the live state of many desired objects with one LIST per kind and namespace
(the app's members by their ApplySet label, then the names of everything else) instead of
one GET per object; and the ledger, a small file per app and cluster that remembers, per
object, the digest of the body last applied and the ``resourceVersion`` at which the live
object was known to equal it (the apply's answer, or a dry run that changed nothing).

A resync whose object has the same digest and the same ``resourceVersion`` needs no dry
run: the API server bumps ``resourceVersion`` on every write, so a hand edit, a controller's
change or a deletion is still seen, and that object is planned as before. The ledger is a
cache: a missing or stale file costs requests, never correctness.
Must not touch: applying, pruning, git, the queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from webhook.kube import fanout
from webhook.kube.applyset import PART_OF
from webhook.kube.client import Cluster, KubeError, UnknownKind
from webhook.objects import Manifest, ObjectRef, ref_of

log = logging.getLogger(__name__)

#: Groups smaller than this are read with a GET per object, as before: two LISTs would
#: cost as much and read more.
MIN_GROUP = 4
#: Groups read at once.
MAX_READERS = 8


@dataclass
class Snapshot:
    """What bulk reads proved: live objects by ref, and refs proven absent."""

    live: dict[ObjectRef, Manifest] = field(default_factory=dict)
    absent: set[ObjectRef] = field(default_factory=set)

    def knows(self, ref: ObjectRef) -> bool:
        return ref in self.live or ref in self.absent


#: A group of desired objects: (apiVersion, kind, namespace or None).
GroupKey = tuple[str, str, str | None]


class Prefetch:
    """The app's members in the groups its last sync read, LISTed by ApplySet label while
    this sync fetches and renders its commit: the bulk read's round trips leave the path.

    A group the render no longer has is ignored; one it newly has is read as before. The
    answer is as good as one taken a moment later: the plan compares with what the cluster
    held when it was read either way, and the apply's field ownership does the rest."""

    def __init__(self, cluster: Cluster, keys: Iterable[GroupKey], applyset_id: str) -> None:
        keys = list(keys)
        self._found: dict[GroupKey, Future[list[Manifest]]] = {}
        if not keys:
            return
        for key in keys:
            self._found[key] = fanout.pool().submit(_members, cluster, key, applyset_id)

    @property
    def keys(self) -> set[GroupKey]:
        return set(self._found)

    def members(self, key: GroupKey) -> list[Manifest] | None:
        """The group's members as LISTed, or None: not prefetched, or the read failed."""
        future = self._found.get(key)
        if future is None:
            return None
        try:
            return future.result()
        except (UnknownKind, KubeError) as exc:
            log.debug("prefetch of %s in %s failed: %s", key[1], key[2], exc)
            return None


def _members(cluster: Cluster, key: GroupKey, applyset_id: str) -> list[Manifest]:
    resource = cluster.resource(key[0], key[1])
    where = key[2] if resource.namespaced else None
    return cluster.list(resource, namespace=where, label_selector=f"{PART_OF}={applyset_id}")


def _groups(desired: Iterable[Manifest]) -> dict[GroupKey, list[Manifest]]:
    groups: dict[GroupKey, list[Manifest]] = {}
    for body in desired:
        namespace = (body.get("metadata") or {}).get("namespace")
        groups.setdefault((str(body["apiVersion"]), str(body["kind"]), namespace), []).append(body)
    return groups


def read(
    cluster: Cluster,
    desired: Sequence[Manifest],
    applyset_id: str,
    *,
    skip_namespaces: Iterable[str] = (),
    prefetched: Prefetch | None = None,
) -> Snapshot:
    """Bulk-read the live state of ``desired`` (objects in ``skip_namespaces``, which do not
    exist yet, are left out). Anything not proven here is simply not in the snapshot. The
    groups are read at the same time: their LISTs were a sync's one serial round trip per kind.
    A group ``prefetched`` holds is not LISTed again. ``groups(desired)`` are the keys read.
    """
    skipped = set(skip_namespaces)
    groups = [
        (key, bodies)
        for key, bodies in _groups(desired).items()
        if len(bodies) >= MIN_GROUP and (key[2] is None or key[2] not in skipped)
    ]

    # Waited for here, in the caller's thread: no task of the pool waits for another.
    listed = {key: prefetched.members(key) for key, _ in groups} if prefetched else {}

    def one(group: tuple[GroupKey, list[Manifest]]) -> Snapshot:
        return _read_group(cluster, group[0], group[1], applyset_id, listed.get(group[0]))

    snapshot = Snapshot()
    for part in fanout.run_all(one, groups, width=MAX_READERS):
        snapshot.live.update(part.live)
        snapshot.absent.update(part.absent)
    return snapshot


def groups(desired: Iterable[Manifest]) -> set[GroupKey]:
    """The groups ``read`` LISTs for ``desired`` (what a ``Prefetch`` of the next sync asks)."""
    return {key for key, bodies in _groups(desired).items() if len(bodies) >= MIN_GROUP}


def _read_group(
    cluster: Cluster,
    key: GroupKey,
    bodies: list[Manifest],
    applyset_id: str,
    listed: list[Manifest] | None = None,
) -> Snapshot:
    """One kind in one namespace: its members by label (``listed``: already LISTed), then,
    if some are missing, the names of everything else there. A kind or a read that fails
    proves nothing."""
    api_version, kind, namespace = key
    found = Snapshot()
    try:
        resource = cluster.resource(api_version, kind)
        where = namespace if resource.namespaced else None
        ours = listed if listed is not None else _members(cluster, key, applyset_id)
        by_name = {str((o.get("metadata") or {}).get("name")): o for o in ours}
        missing = [b for b in bodies if b["metadata"]["name"] not in by_name]
        names = cluster.names(resource, namespace=where) if missing else set()
    except UnknownKind:
        return found  # the plan says why, object by object
    except KubeError as exc:
        log.debug("bulk read of %s in %s failed, reading one by one: %s", kind, namespace, exc)
        return found
    for body in bodies:
        ref, name = ref_of(body), body["metadata"]["name"]
        if name in by_name:
            found.live[ref] = by_name[name]
        elif name not in names:
            found.absent.add(ref)
        # else: it exists without our label; the plan reads it and decides
    return found


def digest(body: Manifest, *, force: bool) -> str:
    """What decides an apply's outcome besides the live object: the body and ``force``."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{int(force)}\n{text}".encode()).hexdigest()


def version_of(obj: Manifest | None) -> str | None:
    value = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    return str(value) if value else None


class Ledger:
    """``{ref: (digest, resourceVersion)}`` for one app in one cluster, on local disk."""

    def __init__(self, folder: Path, key: str) -> None:
        self.path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def load(self) -> dict[str, tuple[str, str]]:
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {
            str(k): (str(v[0]), str(v[1]))
            for k, v in raw.items()
            if isinstance(v, list) and len(v) == 2
        }

    def save(self, entries: Mapping[str, tuple[str, str]]) -> None:
        """Replace the file atomically: a reader sees the old ledger or the new one."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
            with os.fdopen(fd, "w") as out:
                json.dump({k: list(v) for k, v in entries.items()}, out)
            os.replace(tmp, self.path)
        except OSError as exc:  # a cache: losing it costs requests only
            log.warning("could not write the apply ledger %s: %s", self.path, exc)
