"""The sync engine: one app at one commit -> objects applied, pruned, healthy, and a record.

Owns: the order source -> render -> guard (the first half, in ``prepare``) -> dry run
(members and hooks) -> (plan, or the rollout of ``phases``: hooks, waves, prune, health)
and the ``SyncResult`` record every caller stores and shows. A failure in the commit or in
the cluster's answers ends in the record (``error_kind`` names the step); an unreachable git
remote or cluster raises ``errors.Unavailable`` out of ``sync``/``diff``/``head``/
``touches``, and a commit the remote lacks ``sources.CommitMissing`` out of ``sync``/``diff``,
for the job step (steps.py) to decide. Which jobs sync, plan or preview is not
the engine's business either: it does one app at one commit.
Must not touch: the queue, GitHub's API.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from pathlib import Path
from typing import Any

from webhook import affected, phases, sources
from webhook.kube import apply, diff, fanout, live, prune
from webhook.kube.applyset import PART_OF, ApplySet, Ownership, labels_of
from webhook.kube.client import Cluster, KubeError
from webhook.kube.connections import Connections
from webhook.objects import Action, Manifest, ObjectRef, ref_of
from webhook.prepare import Prepared, Preparing
from webhook.result import ObjectDiff, ObjectError, ObjectHealth, SyncResult
from webhook.settings import AppConfig, DeployerConfig, Environment
from webhook.sync_error import SyncError

log = logging.getLogger(__name__)
#: Steps of long work (tiers applied, health waits) at DEBUG, for a terminal: the CLI's
#: ``webhook.progress`` handler shows them; a server logs them only at DEBUG.
progress = logging.getLogger("webhook.progress")
__all__ = [
    "ObjectDiff",
    "ObjectError",
    "ObjectHealth",
    "SyncEngine",
    "SyncError",
    "SyncResult",
]


PLANNED = phases.PLANNED
_by_action = phases.by_action


class SyncEngine(Preparing):
    """Runs syncs for the apps in ``config``; mirrors and discovery caches live in cache_dir."""

    def __init__(
        self,
        config: DeployerConfig,
        env: Environment,
        *,
        cache_dir: Path,
        kubeconfig: Path | None = None,
        token_for: Callable[[str], str | None] | None = None,
    ) -> None:
        """``kubeconfig``: None reads ``$KUBECONFIG`` (else ~/.kube/config) at each sync.
        ``token_for(repo)``: the git token per repo (a GitHub App installation token);
        default: the environment's ``GITHUB_TOKEN``."""
        self.config = config
        self.env = env
        self.cache_dir = cache_dir
        self.kubeconfig = kubeconfig
        self.token_for = token_for or (lambda repo: env.github_token)
        self.mirrors = sources.Mirrors(cache_dir)
        self.connections = Connections(cache_dir, kubeconfig)
        #: Per app (``Prepared.key``), the groups its last plan read in bulk: the next
        #: sync LISTs them while it fetches and renders (``live.Prefetch``).
        self._read_groups: dict[str, set[live.GroupKey]] = {}

    # -- public operations ---------------------------------------------------------------

    def sync(
        self,
        app: AppConfig,
        revision: str,
        *,
        dry_run: bool = False,
        before_tier: Callable[[str], None] | None = None,
        secrets_compared: bool = True,
    ) -> SyncResult:
        """One sync of ``app`` at commit ``revision``; ``dry_run`` writes nothing.
        ``before_tier(name)`` runs before each apply tier and before the prune, and stops the
        sync by raising (the worker's lease fence); its exception is not caught here.
        ``secrets_compared=False`` (a preview): a live Secret is dry-run with its live values
        and counts as work for the hooks, so that nothing tells a guessed value."""
        start = time.monotonic()
        record: dict[str, Any] = {"app": app.name, "commit": revision, "dry_run": dry_run}
        try:
            with self._prepared(app, revision, record) as prepared:
                record.update(self._sync(app, prepared, dry_run, before_tier, secrets_compared))
        except SyncError as failure:
            record.update(
                error=failure.errors[0] if failure.errors else failure.kind,
                errors=tuple(failure.errors),
                error_kind=failure.kind,
            )
            record.update(failure.partial)
            if failure.failed:
                record["failed"] = failure.failed
        except KubeError as exc:
            record.update(error=str(exc), errors=(str(exc),), error_kind="kubernetes")
        record["duration"] = round(time.monotonic() - start, 3)
        result = SyncResult(**record)
        log.info(
            "%s at %s%s: %s", app.name, revision[:12], " (dry run)" * dry_run, result.summary()
        )
        return result

    def changes(self, app: AppConfig, revision: str, *, preview: bool = False) -> list[ObjectDiff]:
        """Every object a sync at ``revision`` would change, with its diff, live against
        desired: creates and changes in apply order, then prunes (when ``prune`` is on).
        ``preview`` (an unmerged commit): an object nobody applied, which ``adopt`` would take
        over, shows only what the commit writes, never its live state (a PR author's read)."""
        with self._prepared(app, revision) as prepared:
            found = []
            for p in self._plan(app, prepared, preview=preview).changes():
                live, desired = p.live, p.result if p.result is not None else p.body
                if preview and live and labels_of(live).get(PART_OF) != prepared.applyset.id:
                    live, desired = None, p.body
                found.append(ObjectDiff(str(p.ref), p.action, diff.unified(p.ref, live, desired)))
            if app.prune:
                for ref, api_version in self._prunable(app, self._orphans(app, prepared)):
                    live = self._get(prepared.cluster, ref, api_version)
                    found.append(ObjectDiff(str(ref), Action.PRUNED, diff.unified(ref, live, None)))
        return found

    def diff(self, app: AppConfig, revision: str, *, preview: bool = False) -> str:
        """Unified diffs, live against desired, for every object that would change."""
        return "".join(change.diff for change in self.changes(app, revision, preview=preview))

    def head(self, app: AppConfig) -> str:
        """The branch head on the remote (``git ls-remote``), for drift checks."""
        try:
            return sources.branch_head(
                self.config.clone_url(app.repo), app.branch, self._remote(app).token
            )
        except sources.SourceError as exc:
            raise SyncError("source", [str(exc)]) from exc

    def live_drift(self, app: AppConfig, revision: str) -> bool:
        """Whether the live state differs from the commit (a failing plan counts as drift)."""
        result = self.sync(app, revision, dry_run=True)
        return not result.ok or result.changed > 0

    def touches(
        self, app: AppConfig, revision: str, base: str, recorded: affected.RecordedInputs | None
    ) -> bool:
        """Whether the change from ``base`` to ``revision`` touches ``app``: its folder, its
        ``recorded`` inputs (None: unknown, so touched) or its ``paths:`` (``affected``)."""
        remote = self._remote(app)
        try:
            paths = self.mirrors.changed_paths(app.repo, remote, base, revision)
        except sources.SourceError as exc:
            raise SyncError("source", [str(exc)]) from exc
        return affected.watches(app, recorded, affected.Changes(paths))

    # -- steps ---------------------------------------------------------------------------

    def _ledger(self, prepared: Prepared) -> live.Ledger:
        return live.Ledger(self.cache_dir / "applied", prepared.key)

    def _remember(
        self,
        app: AppConfig,
        prepared: Prepared,
        items: Iterable[tuple[ObjectRef, Manifest | None]],
    ) -> None:
        """Record, per object, the resourceVersion at which it was proven to equal its body
        (see ``live``): the next resync skips its dry run while nothing has changed."""
        bodies = {ref_of(o): o for o in prepared.order.resources}
        entries = {}
        for ref, seen in items:
            version = live.version_of(seen)
            if version and ref in bodies:
                entries[str(ref)] = (live.digest(bodies[ref], force=app.force_conflicts), version)
        self._ledger(prepared).save(entries)

    def _plan(self, app: AppConfig, prepared: Prepared, *, preview: bool = False) -> apply.Plan:
        """``preview``: live Secrets are dry-run with their live values (``with_live_values``)."""
        resources = prepared.order.resources
        if preview:
            resources = [self._with_live_values(prepared.cluster, b) for b in resources]
        known = live.read(
            prepared.cluster, resources, prepared.applyset.id, prefetched=prepared.prefetched
        )
        self._read_groups[prepared.key] = live.groups(resources)
        the_plan = apply.plan(
            prepared.cluster,
            resources,
            force=app.force_conflicts,
            ownership=self._ownership(app, prepared),
            known=known,
            proven=self._ledger(prepared).load(),
        )
        if the_plan.errors:
            failed = tuple(ObjectError(str(p.ref), p.error) for p in the_plan.items if p.error)
            raise SyncError("dry-run", the_plan.errors, failed)
        progress.debug(
            "%s: compared with the cluster: %d of %d objects to change",
            app.name,
            len(the_plan.changes()),
            len(the_plan.items),
        )
        return the_plan

    def _parent(
        self, app: AppConfig, prepared: Prepared, step: str, parent: Manifest | None
    ) -> Manifest | None:
        """``parent``, the live ApplySet parent read beside the plan; a ConfigMap of its name
        that this app's parent is not fails ``step`` before any write (it is never taken
        over), and a plan reports it."""
        refused = self._ownership(app, prepared).parent_refusal(parent)
        if refused:
            raise SyncError(step, [f"{prepared.applyset.ref} {refused}"])
        return parent

    def _ownership(self, app: AppConfig, prepared: Prepared) -> Ownership:
        return Ownership(prepared.applyset.id, self._applysets, adopt=app.adopt)

    @functools.cached_property
    def _applysets(self) -> dict[str, str]:
        """Every app's ApplySet id, to its name: made once (6 ms per sync at 1,000 apps)."""
        return {ApplySet(a.name, a.namespace).id: a.name for a in self.config.apps}

    def _orphans(self, app: AppConfig, prepared: Prepared) -> list[tuple[ObjectRef, str]]:
        """Members that left git, protected kinds included (see ``prune.may_prune``)."""
        cluster, applyset = prepared.cluster, prepared.applyset
        refs = [ref_of(o) for o in prepared.order.resources]
        parent = self._get(cluster, applyset.ref, "v1")
        inventory = applyset.recorded(parent).union(applyset.inventory_of(refs))
        return prune.orphans(cluster, applyset, inventory, set(refs))

    @staticmethod
    def _prunable(
        app: AppConfig, orphans: list[tuple[ObjectRef, str]]
    ) -> list[tuple[ObjectRef, str]]:
        allowed = app.prune_cluster_scoped
        return [o for o in orphans if prune.may_prune(o[0], prune_cluster_scoped=allowed)]

    def _with_live_values(self, cluster: Cluster, body: Manifest) -> Manifest:
        if (body.get("apiVersion"), body.get("kind")) != ("v1", "Secret"):
            return body
        return diff.with_live_values(body, self._get(cluster, ref_of(body), "v1"))

    def _sync(
        self,
        app: AppConfig,
        prepared: Prepared,
        dry_run: bool,
        before_tier: Callable[[str], None] | None = None,
        secrets_compared: bool = True,
    ) -> dict[str, Any]:
        # Its GET needs nothing the plan finds: one round trip less in a row.
        reading = fanout.pool().submit(self._get, prepared.cluster, prepared.applyset.ref, "v1")
        try:
            # Live values stand in for a Secret's only in a dry run: never applied.
            the_plan = self._plan(app, prepared, preview=dry_run and not secrets_compared)
        finally:
            futures.wait([reading])  # no read of this sync outlives it
        live_parent = reading.result()
        try:
            planned_hooks = phases.plan_hooks(
                prepared.cluster, prepared.order, prepared.applyset.id, the_plan
            )
        except phases.Failed as failure:
            raise SyncError(failure.kind, failure.errors) from None
        if dry_run:
            parent = self._parent(app, prepared, "dry-run", live_parent)
            orphans = self._prunable(app, self._orphans(app, prepared)) if app.prune else []
            record = _by_action(the_plan.items, PLANNED)
            record[Action.PRUNED.value] = tuple(str(ref) for ref, _ in orphans)
            # Hooks a sync would run: none when it has nothing to do.
            work = phases.has_work(
                parent, prepared.order, the_plan, bool(orphans), secrets_compared
            )
            record["hooks"] = planned_hooks if work else ()
            if secrets_compared:  # a preview's Secrets ran with live values: proof of nothing
                self._remember(
                    app,
                    prepared,
                    ((p.ref, p.live) for p in the_plan.items if p.action is Action.UNCHANGED),
                )
            return record
        return self._apply(app, prepared, the_plan, live_parent, before_tier)

    def _apply(
        self,
        app: AppConfig,
        prepared: Prepared,
        the_plan: apply.Plan,
        live_parent: Manifest | None,
        before_tier: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Hooks, waves, prune and health in the order the manifests ask (``phases``);
        ``before_tier`` (the worker's lease check) runs before every tier's writes."""
        rollout = phases.Rollout(
            cluster=prepared.cluster,
            app=app,
            applyset=prepared.applyset,
            ownership=self._ownership(app, prepared),
            order=prepared.order,
            parent=self._parent(app, prepared, "apply", live_parent),
            orphans=lambda: self._orphans(app, prepared),
            prunable=lambda orphans: self._prunable(app, orphans),
            remember=lambda seen: self._remember(app, prepared, seen),
            before_tier=before_tier,
        )
        try:
            return rollout.run(the_plan)
        except phases.Failed as failure:
            raise SyncError(failure.kind, failure.errors, failure.failed, failure.record) from None
