"""Plan (server-side dry run) and apply an app's objects in a fixed, documented order.

Owns: the kind order table, the dry-run plan that decides create / configure / unchanged per
object, server-side apply tier by tier with a bounded pool, waiting for CRDs to be Established
and refreshing discovery. An object whose dry-run result equals the live object is not
written; a live object this app may not take over (see ``applyset.Ownership``) fails the
plan, so nothing is written. A change to an immutable field fails the plan with a message
that says so, unless the object asks to be recreated (``Replace=true``, Flux ``force``):
then the apply deletes it, waits until it is gone and creates it again. An existing object
git marks with Flux's ``ssa: IfNotPresent`` (or ``Ignore``) is left as it is: unchanged.
Fields a client-side ``kubectl apply`` left are moved to the deployer first (csa.py).
Must not touch: pruning (prune.py), health (health.py), git, rendering, the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import Any

from webhook.hooks import leaves_live, recreates
from webhook.kube import fanout
from webhook.kube.applyset import Ownership
from webhook.kube.client import FIELD_MANAGER, Cluster, KubeError, UnknownKind
from webhook.kube.csa import upgrade_patch
from webhook.kube.diff import same
from webhook.kube.live import Snapshot, digest, version_of
from webhook.kube.recreate import delete_and_wait, immutable_fields, immutable_message
from webhook.objects import CRD_GROUP, CRD_KIND, Action, Manifest, ObjectRef, defined_kinds, ref_of

#: Objects dry-run or applied concurrently within one tier. 16 rather than 8: a 500-object
#: app synced 3-13 % faster at 16 (BENCHMARKS.md, "A big app"), and a 20-object app's 10
#: changes go in one wave, not two. Many wide tiers at once may meet the API server's
#: in-flight limit: a 429 is sent again after its Retry-After (``kube/throttle.py``).
MAX_PARALLEL = 16
#: An object read as absent nowhere, in a namespace this sync created, existed at its apply:
#: someone wrote into the namespace within that moment (the read it skips races the same).
APPEARED = (
    "appeared in its namespace after this sync created the namespace, and this apply wrote "
    "onto it: check what else deploys into that namespace"
)
#: Seconds to wait for a new CRD to become Established before its resources are applied.
CRD_ESTABLISHED_TIMEOUT = 60.0

CRD = (CRD_GROUP, CRD_KIND)
RBAC = "rbac.authorization.k8s.io"

#: The apply order, after Helm's ``kind_sorter.go`` and gitops-engine's ``kindOrder``: what
#: others depend on comes first. Built-in kinds not listed go to "other"; kinds of groups
#: that are not built in (custom resources) go last, after their CRDs are Established.
KIND_ORDER: tuple[tuple[str, frozenset[tuple[str, str]]], ...] = (
    ("namespaces", frozenset({("", "Namespace")})),
    ("crds", frozenset({CRD})),
    ("cluster-rbac", frozenset({(RBAC, "ClusterRole"), (RBAC, "ClusterRoleBinding")})),
    ("service-accounts", frozenset({("", "ServiceAccount")})),
    ("rbac", frozenset({(RBAC, "Role"), (RBAC, "RoleBinding")})),
    ("config", frozenset({("", "Secret"), ("", "ConfigMap")})),
    (
        "storage",
        frozenset(
            {
                ("storage.k8s.io", "StorageClass"),
                ("", "PersistentVolume"),
                ("", "PersistentVolumeClaim"),
            }
        ),
    ),
    ("services", frozenset({("", "Service")})),
    (
        "workloads",
        frozenset(
            {
                ("", "Pod"),
                ("", "ReplicationController"),
                ("apps", "ReplicaSet"),
                ("apps", "Deployment"),
                ("apps", "StatefulSet"),
                ("apps", "DaemonSet"),
                ("batch", "Job"),
                ("batch", "CronJob"),
            }
        ),
    ),
    ("other", frozenset()),
    ("custom", frozenset()),
)
OTHER_TIER = len(KIND_ORDER) - 2
CUSTOM_TIER = len(KIND_ORDER) - 1
BUILTIN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy", "extensions"})


def tier_of(ref: ObjectRef) -> int:
    """Index into KIND_ORDER."""
    for index, (_, kinds) in enumerate(KIND_ORDER):
        if (ref.group, ref.kind) in kinds:
            return index
    builtin = ref.group in BUILTIN_GROUPS or ref.group.endswith(".k8s.io")
    return OTHER_TIER if builtin else CUSTOM_TIER


@dataclass(frozen=True)
class Planned:
    """One object's plan. ``result`` is the dry-run answer (None while ``deferred``)."""

    ref: ObjectRef
    body: Manifest
    live: Manifest | None = None
    result: Manifest | None = None
    action: Action = Action.CREATED
    #: Why the dry run had to wait (its namespace or CRD is created by this same sync).
    deferred: str | None = None
    error: str | None = None
    #: An immutable field changed and the object asks to be recreated (``Replace=true``).
    recreate: bool = False
    #: The live object holds fields of client-side ``kubectl apply`` (csa.py): they move to
    #: the deployer's manager before the apply, which then drops those git no longer has.
    csa: bool = False


@dataclass
class Plan:
    items: list[Planned] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [p.error for p in self.items if p.error]

    def changes(self) -> list[Planned]:
        return [p for p in self.items if p.action is not Action.UNCHANGED]


def _plan_one(
    cluster: Cluster,
    item: Planned,
    resource: Any,
    force: bool,
    ownership: Ownership,
    known: Snapshot,
    proven: Mapping[str, tuple[str, str]],
) -> Planned:
    meta = item.body["metadata"]
    try:
        if known.knows(item.ref):
            live = known.live.get(item.ref)
        else:
            live = cluster.get(resource, meta["name"], meta.get("namespace"))
        refusal = ownership.refusal(live)
        if refusal:
            return replace(item, live=live, error=f"{item.ref} {refusal}")
        if live is not None and leaves_live(item.body):  # Flux ssa: IfNotPresent / Ignore
            return replace(item, live=live, result=live, action=Action.UNCHANGED)
        if live is not None and upgrade_patch(live, FIELD_MANAGER) is not None:
            item = replace(item, csa=True)
        settled = live is not None and proven.get(str(item.ref)) == (
            digest(item.body, force=force),
            version_of(live),
        )
        if settled and not item.csa:
            # Applied at this very resourceVersion with this very body: no dry run needed.
            return replace(item, live=live, result=live, action=Action.UNCHANGED)
        result = cluster.apply(resource, item.body, dry_run=True, force=force)
    except KubeError as exc:
        fields = immutable_fields(exc)
        if fields and recreates(item.body):
            return replace(item, live=live, action=Action.CONFIGURED, recreate=True)
        if fields:
            return replace(item, error=immutable_message(item.ref, fields))
        return replace(item, error=str(exc))
    action = (
        Action.CREATED
        if live is None
        else (Action.UNCHANGED if same(live, result) and not item.csa else Action.CONFIGURED)
    )
    return replace(item, live=live, result=result, action=action)


def plan(
    cluster: Cluster,
    desired: Sequence[Manifest],
    *,
    force: bool,
    ownership: Ownership,
    known: Snapshot | None = None,
    proven: Mapping[str, tuple[str, str]] | None = None,
) -> Plan:
    """Dry-run every object; nothing is written. Errors are per object, in ``Plan.errors``:
    among them every live object ``ownership`` does not let this app take over.

    ``known``: live state already read in bulk (``live.read``), so those objects are not
    read again. ``proven``: the ledger; an object whose body digest and live
    ``resourceVersion`` match its entry is unchanged without a dry run."""
    known = known or Snapshot()
    proven = proven or {}
    items = sorted((Planned(ref_of(b), b) for b in desired), key=lambda p: tier_of(p.ref))
    new_kinds = defined_kinds(desired)
    out: list[Planned] = []
    new_namespaces: set[str] = set()
    for tier in range(len(KIND_ORDER)):
        batch = [p for p in items if tier_of(p.ref) == tier]
        todo: list[tuple[Planned, Any]] = []
        for item in batch:
            ref = item.ref
            if ref.namespace in new_namespaces:
                out.append(replace(item, deferred=f"namespace {ref.namespace} is new"))
                continue
            try:
                todo.append((item, cluster.resource(item.body["apiVersion"], ref.kind)))
            except UnknownKind as exc:
                if (ref.group, ref.kind) in new_kinds:
                    out.append(replace(item, deferred=f"CRD for {ref.group_kind} is new"))
                else:
                    out.append(replace(item, error=str(exc)))
        planned = fanout.run_all(
            lambda job: _plan_one(cluster, job[0], job[1], force, ownership, known, proven),
            todo,
            width=MAX_PARALLEL,
        )
        out.extend(planned)
        new_namespaces |= {
            p.ref.name for p in planned if p.ref.kind == "Namespace" and p.live is None
        }
    return Plan(out)


@dataclass(frozen=True)
class Applied:
    """What happened to one object."""

    ref: ObjectRef
    action: Action
    error: str | None = None
    #: The object as the API server answered the apply (the live object when unchanged):
    #: health starts from it instead of reading every object again.
    result: Manifest | None = None
    #: This apply created the object (the API server answered 201 Created).
    created: bool = False


def _apply_one(
    cluster: Cluster,
    item: Planned,
    force: bool,
    ownership: Ownership,
    created: Set[str] = frozenset(),
) -> Applied:
    """Apply one object. A deferred one is read first, for the ownership check, unless
    its namespace is in ``created`` (made by this very run: nothing in it can be older
    than this sync); then the apply itself must create it, or it fails, loudly."""
    meta = item.body["metadata"]
    unread = bool(item.deferred) and item.ref.namespace in created
    try:
        resource = cluster.resource(item.body["apiVersion"], item.ref.kind)
        live = item.live
        if item.deferred and not unread:
            live = cluster.get(resource, meta["name"], meta.get("namespace"))
            if refusal := ownership.refusal(live):
                return Applied(item.ref, Action.FAILED, f"{item.ref} {refusal}")
        if item.recreate and live is not None:
            delete_and_wait(cluster, resource, item.ref, str(live["metadata"]["uid"]))
        elif item.csa and live is not None and (ops := upgrade_patch(live, FIELD_MANAGER)):
            cluster.json_patch(resource, meta["name"], meta.get("namespace"), ops)
        result, made = cluster.applied(resource, item.body, dry_run=False, force=force)
    except KubeError as exc:
        return Applied(item.ref, Action.FAILED, str(exc))
    if unread and not made:
        return Applied(item.ref, Action.FAILED, f"{item.ref} {APPEARED}", result=result)
    return Applied(
        item.ref, Action.CREATED if live is None else item.action, result=result, created=made
    )


def wait_established(cluster: Cluster, names: Sequence[str], timeout: float) -> list[str]:
    """Wait for CRDs to be Established; return the names of those that are not."""
    resource = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending and time.monotonic() < deadline:
        still = []
        for name in pending:
            crd = cluster.get(resource, name, None) or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if not any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                still.append(name)
        pending = still
        if pending:
            time.sleep(0.5)
    return pending


def execute(
    cluster: Cluster,
    the_plan: Plan,
    *,
    force: bool,
    ownership: Ownership,
    after_tier: Callable[[str], None] | None = None,
    before_tier: Callable[[str], None] | None = None,
) -> list[Applied]:
    """Apply the plan's changes tier by tier; stop after a tier with failures.

    Unchanged objects are not written. ``after_tier(name)`` runs after each tier (the engine
    writes the ApplySet parent after the namespaces exist); ``before_tier(name)`` before each
    tier, and may raise to stop before its writes (the worker's lease fence).
    """
    results: list[Applied] = []
    failed = False
    # Namespaces this run created: the objects in them need no ownership read (_apply_one).
    created: set[str] = set()
    for tier, (tier_name, _) in enumerate(KIND_ORDER):
        batch = [p for p in the_plan.items if tier_of(p.ref) == tier]
        if failed:
            results += [Applied(p.ref, Action.SKIPPED, "an earlier object failed") for p in batch]
            continue
        results += [
            Applied(p.ref, Action.UNCHANGED, result=p.live)
            for p in batch
            if p.action is Action.UNCHANGED
        ]
        todo = [p for p in batch if p.action is not Action.UNCHANGED]
        if before_tier is not None:  # every tier: ``after_tier`` may write, even after none
            before_tier(tier_name)
        done = fanout.run_all(
            lambda p: _apply_one(cluster, p, force, ownership, created),
            todo,
            width=MAX_PARALLEL,
        )
        results += done
        created.update(a.ref.name for a in done if a.ref.kind == "Namespace" and a.created)
        failed = any(a.action is Action.FAILED for a in done)
        if tier_name == "crds" and not failed:
            new = [a.ref for a in done]
            if new:
                late = set(
                    wait_established(cluster, [r.name for r in new], CRD_ESTABLISHED_TIMEOUT)
                )
                error = f"not Established after {CRD_ESTABLISHED_TIMEOUT:.0f}s"
                results = [
                    Applied(a.ref, Action.FAILED, f"{a.ref}: {error}")
                    if a.ref in new and a.ref.name in late
                    else a
                    for a in results
                ]
                failed = bool(late)
                cluster.refresh_discovery()
        if after_tier is not None and not failed:
            after_tier(tier_name)
    return results
