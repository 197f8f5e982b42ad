"""The order of one sync's writes: PreSync hooks, waves, prune, PostSync hooks; SyncFail.

Owns: running a planned sync in the order its manifests ask for (``webhook.hooks`` reads
it): PreSync hooks; then each wave in ascending order, its members applied kind tier by kind
tier (``apply.KIND_ORDER``), its Sync hooks run, and every wave but the last waited on until
healthy before the next; then prune, the ApplySet parent's final inventory and the health
wait of every member; then PostSync hooks. When any of it fails, the SyncFail hooks run and
the failure stands. Also the dry run of the hooks, so that the all-or-nothing dry run that
comes before any write covers them too, and the record's fields per action. Hooks run only
when the sync has something to do (a member to create, change or prune, or hooks unlike those
of the last successful sync, whose digest the ApplySet parent keeps in ``HOOKS_DIGEST``), so a
no-op sync (a redelivery, a drift check's resync) writes nothing and reruns no migration.
Must not touch: rendering, git, the queue; planning and applying one tier (kube.apply),
pruning (kube.prune), running one hook (kube.hooks).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from webhook.hooks import Order, Phase
from webhook.kube import apply, diff, health, hooks as kube_hooks, prune
from webhook.kube.applyset import ApplySet, Inventory, Ownership
from webhook.kube.client import Cluster, KubeError
from webhook.objects import Action, Manifest, ObjectRef, defined_kinds, ref_of
from webhook.result import HookRun, ObjectError, ObjectHealth
from webhook.settings import AppConfig

#: What a plan decides for each object; the record keeps one tuple per action.
PLANNED = (Action.CREATED, Action.CONFIGURED, Action.UNCHANGED)
Orphans = list[tuple[ObjectRef, str]]
#: On the ApplySet parent: the digest of the hooks of the last successful sync.
HOOKS_DIGEST = "webhook-deployer.io/hooks-digest"


def hooks_digest(order: Order) -> str:
    """A digest of every hook as rendered ("" without hooks)."""
    bodies = sorted(json.dumps(h.body, sort_keys=True) for h in order.hooks)
    return hashlib.sha256("\n".join(bodies).encode()).hexdigest() if bodies else ""


def recorded_digest(parent: Manifest | None) -> str:
    notes = ((parent or {}).get("metadata") or {}).get("annotations") or {}
    return str(notes.get(HOOKS_DIGEST, ""))


def has_work(
    parent: Manifest | None,
    order: Order,
    the_plan: apply.Plan,
    prunes: bool,
    secrets_compared: bool = True,
) -> bool:
    """Whether a sync changes anything, so that its hooks run: a member to create or change,
    one to prune, or hooks unlike those of the last successful sync. ``secrets_compared``
    False (a preview): a live Secret counts as changed, as a preview counts it, so that the
    hooks it lists do not tell a PR author whether a guessed value is the live one."""
    if prunes or recorded_digest(parent) != hooks_digest(order):
        return True
    return any(
        p.action is not Action.UNCHANGED or (p.ref.kind == "Secret" and not secrets_compared)
        for p in the_plan.items
    )


def by_action(
    items: Iterable[apply.Planned | apply.Applied], actions: Iterable[Action]
) -> dict[str, Any]:
    """``{"created": ("ConfigMap ns/a", ...), ...}``: the record's fields, one per action."""
    listed = list(items)
    return {a.value: tuple(str(i.ref) for i in listed if i.action is a) for a in actions}


class Failed(Exception):
    """A step of the rollout failed; ``record`` holds what was done until then."""

    def __init__(
        self,
        kind: str,
        errors: list[str],
        failed: tuple[ObjectError, ...] = (),
        record: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(errors[0] if errors else kind)
        self.kind, self.errors, self.failed = kind, errors, failed
        self.record = record or {}


def plan_hooks(
    cluster: Cluster, order: Order, applyset_id: str, the_plan: apply.Plan
) -> tuple[HookRun, ...]:
    """Dry-run every hook (Failed on any error); hooks in a namespace or of a kind this same
    sync creates cannot be checked yet and are planned unchecked."""
    new_namespaces = {
        p.ref.name
        for p in the_plan.items
        if (p.ref.group, p.ref.kind) == ("", "Namespace") and p.live is None
    }
    new_kinds = defined_kinds(order.resources)
    errors = []
    for hook in order.hooks:
        ref = hook.ref
        if ref.namespace in new_namespaces or (ref.group, ref.kind) in new_kinds:
            continue
        if problem := kube_hooks.dry_run(cluster, hook, applyset_id):
            errors.append(problem)
    if errors:
        raise Failed("dry-run", errors)
    return tuple(
        HookRun(hook.label, phase.value, "planned")
        for phase in Phase
        for hook in order.hooks_in(phase, rank=apply.tier_of)
    )


def _carries(live: Manifest | None, body: Manifest) -> bool:
    """Whether the live parent already has every label and annotation ``body`` sets."""
    if live is None:
        return False
    have, want = live.get("metadata") or {}, body.get("metadata") or {}
    return all(
        (have.get(key) or {}).get(name) == value
        for key in ("labels", "annotations")
        for name, value in (want.get(key) or {}).items()
    )


#: Steps of a sync, for a person watching a terminal (``webhook.progress``).
progress = logging.getLogger("webhook.progress")


@dataclass
class Rollout:
    """One sync's writes after its dry run passed; ``run`` returns the record's fields."""

    cluster: Cluster
    app: AppConfig
    applyset: ApplySet
    ownership: Ownership
    order: Order
    #: The live ApplySet parent (None: not yet written).
    parent: Manifest | None
    #: Members that left git (protected kinds included), and those of them we may prune.
    orphans: Callable[[], Orphans]
    prunable: Callable[[Orphans], Orphans]
    ran: list[HookRun] = field(default_factory=list)
    #: Whether hooks run at all: not when the sync has nothing to do.
    hooks_on: bool = True
    #: The digest the parent carries: the last successful sync's, until this one succeeds.
    digest: str = ""
    #: Told each member as the apply left it, once every wave is applied (the engine's
    #: apply ledger: ``kube.live``).
    remember: Callable[[Iterable[tuple[ObjectRef, Manifest | None]]], None] | None = None
    #: The worker's lease check (fencing), run before each tier's writes, each hook phase
    #: and the prune: raises when this worker may no longer write for the job.
    before_tier: Callable[[str], None] | None = None
    #: Members as the API server last answered (apply results, live when unchanged):
    #: health starts from them instead of reading every object again.
    seen: dict[ObjectRef, Manifest] = field(default_factory=dict)

    def run(self, the_plan: apply.Plan) -> dict[str, Any]:
        try:
            return self._run(the_plan)
        except (Failed, KubeError) as exc:
            failure = exc if isinstance(exc, Failed) else Failed("kubernetes", [str(exc)])
            for problem in self._hooks(Phase.SYNC_FAIL):
                failure.errors.append(f"SyncFail hook: {problem}")
            failure.record["hooks"] = tuple(self.ran)
            raise failure from (None if failure is exc else exc)

    def _fence(self, step: str) -> None:
        if self.before_tier is not None:
            self.before_tier(step)

    def _hooks(self, phase: Phase, wave: int | None = None) -> list[str]:
        """Run the phase's hooks one by one; stop at the first failure (its message). The
        HookSucceeded deletions wait until all of them succeeded (kube_hooks.Succeeded)."""
        succeeded: list[kube_hooks.Succeeded] = []
        for hook in self.order.hooks_in(phase, wave, apply.tier_of) if self.hooks_on else []:
            self._fence(f"{phase.value} hook")
            run = kube_hooks.run(
                self.cluster,
                hook,
                phase,
                applyset_id=self.applyset.id,
                timeout=self.app.health_timeout,
                succeeded=succeeded,
            )
            self.ran.append(run)
            if run.status != "succeeded":
                return [run.message]
        for done in succeeded:
            if error := kube_hooks.delete_succeeded(self.cluster, done):
                return [error]
            name = str(done.ref)
            self.ran = [replace(r, deleted=True) if r.object == name else r for r in self.ran]
        return []

    def _phase(self, phase: Phase, record: dict[str, Any], wave: int | None = None) -> None:
        if errors := self._hooks(phase, wave):
            record["hooks"] = tuple(self.ran)
            failed = tuple(ObjectError(r.object, r.message) for r in self.ran[-1:])
            raise Failed("hook", errors, failed, record)

    def _write_parent(self, inventory: Inventory) -> None:
        body = self.applyset.parent(inventory)
        if self.digest:
            body["metadata"].setdefault("annotations", {})[HOOKS_DIGEST] = self.digest
        if _carries(self.parent, body):
            return  # labels and annotations already as they would be set: no request
        resource = self.cluster.resource("v1", "ConfigMap")
        # A new parent (none was read) needs no dry run to tell that it changes.
        result = (
            None
            if self.parent is None
            else self.cluster.apply(resource, body, dry_run=True, force=True)
        )
        if result is None or not diff.same(self.parent, result):
            self.parent = self.cluster.apply(resource, body, dry_run=False, force=True)

    def _run(self, the_plan: apply.Plan) -> dict[str, Any]:
        refs = [ref_of(o) for o in self.order.resources]
        recorded = self.applyset.recorded(self.parent)
        current = self.applyset.inventory_of(refs)
        record: dict[str, Any] = by_action([], (*PLANNED, Action.SKIPPED))
        self.digest, digest = recorded_digest(self.parent), hooks_digest(self.order)
        self.hooks_on = has_work(self.parent, self.order, the_plan, False) or (
            self.app.prune and bool(self.prunable(self.orphans()))
        )
        tiers = [apply.KIND_ORDER[apply.tier_of(p.ref)][0] for p in the_plan.changes()]

        def after_tier(name: str) -> None:
            if name in tiers:
                progress.debug("%s: applied %s: %d objects", self.app.name, name, tiers.count(name))
            # Before any member exists, the parent lists every group-kind we may own.
            if name == "namespaces":
                self._write_parent(recorded.union(current))

        outcome: list[apply.Applied] = []
        early: set[ObjectRef] = set()
        if self.hooks_on and self.order.hooks_in(Phase.PRE_SYNC):
            # The app's Namespaces before its PreSync hooks, which may run in one of them (as
            # Argo CD creates an app's namespaces before its hooks).
            early = {
                p.ref for p in the_plan.items if (p.ref.group, p.ref.kind) == ("", "Namespace")
            }
            outcome += self._execute(the_plan, early, after_tier, refs, record)
            record = by_action(outcome, (*PLANNED, Action.SKIPPED))
        self._phase(Phase.PRE_SYNC, record)

        waves = sorted({*self.order.waves, *(h.wave for h in self.order.hooks_in(Phase.SYNC))})
        for index, wave in enumerate(waves):
            members = {ref_of(b) for b in self.order.in_wave(wave)} - early
            try:
                outcome += apply.execute(
                    self.cluster,
                    apply.Plan([p for p in the_plan.items if p.ref in members]),
                    force=self.app.force_conflicts,
                    ownership=self.ownership,
                    after_tier=after_tier,
                    before_tier=self.before_tier,
                )
            except KubeError as exc:
                raise Failed("apply", [str(exc)], (), record) from exc
            record = by_action(outcome, (*PLANNED, Action.SKIPPED))
            self.seen.update((a.ref, a.result) for a in outcome if a.result is not None)
            failed = tuple(
                ObjectError(str(a.ref), a.error or "") for a in outcome if a.action is Action.FAILED
            )
            if failed:
                later = [p for p in the_plan.items if p.ref in set(refs) - members]
                record[Action.SKIPPED.value] += tuple(
                    str(p.ref) for p in later if str(p.ref) not in record[Action.SKIPPED.value]
                )
                raise Failed("apply", [f.error for f in failed], failed, record)
            self._phase(Phase.SYNC, record, wave)
            if index < len(waves) - 1:
                self._healthy([r for r in refs if r in members], record, f"wave {wave} ")
        if self.remember is not None:
            self.remember((a.ref, a.result) for a in outcome)
        record[Action.PRUNED.value] = ()
        self._fence("prune")
        if self.app.prune:
            orphans = self.orphans()
            targets = self.prunable(orphans)
            pruned = prune.prune(self.cluster, targets, self.applyset)
            record[Action.PRUNED.value] = tuple(str(p.ref) for p in pruned if p.error is None)
            failed = tuple(ObjectError(str(p.ref), p.error) for p in pruned if p.error)
            if failed:
                raise Failed("prune", [f.error for f in failed], failed, record)
            # Members left in place (protected kinds) stay in the parent's inventory.
            kept = [ref for ref, version in orphans if (ref, version) not in targets]
            final = current.union(self.applyset.inventory_of(kept))
        else:
            final = recorded.union(current)
        self._write_parent(final)
        self._healthy(refs, record)
        self._phase(Phase.POST_SYNC, record)
        self.digest = digest
        self._write_parent(final)
        record["hooks"] = tuple(self.ran)
        return record

    def _execute(
        self,
        the_plan: apply.Plan,
        members: set[ObjectRef],
        after_tier: Callable[[str], None],
        refs: list[ObjectRef],
        record: dict[str, Any],
    ) -> list[apply.Applied]:
        """Apply ``members`` of the plan; Failed("apply") naming every failure."""
        try:
            done = apply.execute(
                self.cluster,
                apply.Plan([p for p in the_plan.items if p.ref in members]),
                force=self.app.force_conflicts,
                ownership=self.ownership,
                after_tier=after_tier,
                before_tier=self.before_tier,
            )
        except KubeError as exc:
            raise Failed("apply", [str(exc)], (), record) from exc
        self.seen.update((a.ref, a.result) for a in done if a.result is not None)
        failed = tuple(
            ObjectError(str(a.ref), a.error or "") for a in done if a.action is Action.FAILED
        )
        if failed:
            record = by_action(done, (*PLANNED, Action.SKIPPED))
            record[Action.SKIPPED.value] += tuple(
                str(r)
                for r in refs
                if r not in members and str(r) not in record[Action.SKIPPED.value]
            )
            raise Failed("apply", [f.error for f in failed], failed, record)
        return done

    def _healthy(self, refs: list[ObjectRef], record: dict[str, Any], what: str = "") -> None:
        """Wait until ``refs`` are Current; Failed("health") when they are not."""
        progress.debug(
            "%s: %swaiting for %d objects to be healthy (up to %gs)",
            self.app.name,
            what,
            len(refs),
            self.app.health_timeout,
        )
        cluster = self.cluster
        versions = {ref_of(o): str(o["apiVersion"]) for o in self.order.resources}
        verdicts = health.wait_until_current(
            refs,
            lambda ref: cluster.get(
                cluster.resource(versions[ref], ref.kind), ref.name, ref.namespace
            ),
            timeout=self.app.health_timeout,
            checks=self.app.health_checks,
            known=self.seen,
            watch=lambda ref, seen, seconds: cluster.watch(
                cluster.resource(versions[ref], ref.kind),
                ref.name,
                ref.namespace,
                resource_version=((seen or {}).get("metadata") or {}).get("resourceVersion"),
                seconds=seconds,
            ),
        )
        record["health"] = tuple(
            ObjectHealth(str(ref), v.status.value, v.message) for ref, v in verdicts.items()
        )
        bad = [v for v in verdicts.values() if v.status is not health.Status.CURRENT]
        if bad:
            failing = [v for v in bad if v.status is health.Status.FAILED]
            if failing:
                errors = [f"{what}unhealthy: {v.message}" for v in failing]
            else:
                timeout = self.app.health_timeout
                errors = [f"{what}not healthy after {timeout:g}s: {v.message}" for v in bad]
            raise Failed("health", errors, (), record)
