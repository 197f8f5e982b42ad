"""The sync engine: one app at one commit -> objects applied, pruned, healthy, and a record.

Owns: the order source -> render -> guard -> dry run -> (plan, or apply -> prune -> health)
and the ``SyncResult`` record every caller stores and shows. A failure in the commit or in
the cluster's answers ends in the record (``error_kind`` names the step); an unreachable git
remote or cluster raises ``errors.Unavailable`` out of ``sync``/``diff``/``head``/
``touches``, for the job step (steps.py) to decide. Which jobs sync, plan or preview is not
the engine's business either: it does one app at one commit.
Must not touch: the queue, GitHub's API.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook import guard, render, sources
from webhook.errors import Rejected, Unavailable
from webhook.kube import apply, diff, health, prune
from webhook.kube.applyset import ApplySet, Inventory, Ownership
from webhook.kube.client import Cluster, KubeError, service_account_user
from webhook.objects import Action, Manifest, ObjectRef, ref_of
from webhook.result import ObjectDiff, ObjectError, ObjectHealth, SyncResult
from webhook.settings import AppConfig, DeployerConfig, Environment

log = logging.getLogger(__name__)
__all__ = [
    "ObjectDiff",
    "ObjectError",
    "ObjectHealth",
    "SyncEngine",
    "SyncError",
    "SyncResult",
]


@dataclass(frozen=True)
class _Prepared:
    cluster: Cluster
    applyset: ApplySet
    desired: list[Manifest]


class SyncError(Rejected):
    """A sync (or diff) failed for a reason in the commit or the cluster's answers.

    ``kind`` is the step (source, render, guard, dry-run, apply, prune, health); ``errors``
    holds every cause, first one first.
    """

    def __init__(
        self,
        kind: str,
        errors: list[str],
        failed: tuple[ObjectError, ...] = (),
        partial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(errors[0] if errors else kind)
        self.kind, self.errors, self.failed = kind, errors, failed
        #: What was already done when a failure came after writes.
        self.partial = partial or {}


#: What a plan decides for each object; the record keeps one tuple per action.
PLANNED = (Action.CREATED, Action.CONFIGURED, Action.UNCHANGED)


def _by_action(
    items: Iterable[apply.Planned | apply.Applied], actions: Iterable[Action]
) -> dict[str, Any]:
    """``{"created": ("ConfigMap ns/a", ...), ...}``: the record's fields, one per action."""
    listed = list(items)
    return {a.value: tuple(str(i.ref) for i in listed if i.action is a) for a in actions}


class SyncEngine:
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

    # -- public operations ---------------------------------------------------------------

    def sync(
        self,
        app: AppConfig,
        revision: str,
        *,
        dry_run: bool = False,
        before_tier: Callable[[str], None] | None = None,
    ) -> SyncResult:
        """One sync of ``app`` at commit ``revision``; ``dry_run`` writes nothing.
        ``before_tier(name)`` runs before each apply tier and before the prune, and stops the
        sync by raising (the worker's lease fence); its exception is not caught here."""
        start = time.monotonic()
        record: dict[str, Any] = {"app": app.name, "commit": revision, "dry_run": dry_run}
        try:
            with self._prepared(app, revision) as prepared:
                record.update(self._sync(app, prepared, dry_run=dry_run, before_tier=before_tier))
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

    def changes(self, app: AppConfig, revision: str) -> list[ObjectDiff]:
        """Every object a sync at ``revision`` would change, with its diff, live against
        desired: creates and changes in apply order, then prunes (when ``prune`` is on)."""
        with self._prepared(app, revision) as prepared:
            found = [
                ObjectDiff(
                    str(p.ref),
                    p.action,
                    diff.unified(p.ref, p.live, p.result if p.result is not None else p.body),
                )
                for p in self._plan(app, prepared).changes()
            ]
            if app.prune:
                for ref, api_version in self._prunable(app, self._orphans(app, prepared)):
                    live = self._get(prepared.cluster, ref, api_version)
                    found.append(ObjectDiff(str(ref), Action.PRUNED, diff.unified(ref, live, None)))
        return found

    def diff(self, app: AppConfig, revision: str) -> str:
        """Unified diffs, live against desired, for every object that would change."""
        return "".join(change.diff for change in self.changes(app, revision))

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

    def _remote(self, app: AppConfig) -> sources.Remote:
        """The app's git remote with its token; a token GitHub will not give is an
        infrastructure fault (the error is the provider's, which never holds a secret)."""
        try:
            token = self.token_for(app.repo)
        except Exception as exc:
            raise Unavailable(f"no git token for {app.repo}: {exc}") from exc
        return sources.Remote(url=self.config.clone_url(app.repo), token=token)

    def touches(self, app: AppConfig, revision: str, base: str) -> bool:
        """Whether the change from ``base`` to ``revision`` touches ``app``'s folder."""
        remote = self._remote(app)
        try:
            paths = self.mirrors.changed_paths(app.repo, remote, base, revision)
        except sources.SourceError as exc:
            raise SyncError("source", [str(exc)]) from exc
        prefix = app.path.rstrip("/") + "/"
        return any(path.startswith(prefix) for path in paths)

    # -- steps ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _prepared(self, app: AppConfig, revision: str) -> Iterator[_Prepared]:
        """Connect, fetch, render and guard; yield what an apply or a plan needs."""
        cluster = self._connect(app)
        try:
            remote = self._remote(app)
            try:
                with self.mirrors.checkout(app.repo, remote, revision, app.path) as folder:
                    rendered = render.render(
                        folder,
                        app.path,
                        release=app.helm.release_name or app.name,
                        namespace=app.namespace,
                        values_files=app.helm.values_files,
                        allowed_remote_hosts=app.kustomize.allowed_remote_hosts,
                        enable_helm=app.kustomize.enable_helm,
                    )
            except sources.SourceError as exc:
                raise SyncError("source", [str(exc)]) from exc
            except render.RenderError as exc:
                raise SyncError("render", [str(exc)]) from exc
            try:
                objects = guard.check(rendered, app, cluster.is_namespaced)
            except guard.GuardError as exc:
                raise SyncError("guard", exc.errors) from exc
            applyset = ApplySet(app.name, app.namespace)
            yield _Prepared(cluster, applyset, [applyset.label(o) for o in objects])
        finally:
            cluster.close()

    def _connect(self, app: AppConfig) -> Cluster:
        """The app's view of its cluster: as its ``service_account``, else as the global
        ``default_service_account`` in its namespace, else as the deployer itself."""
        impersonate = None
        account = app.service_account or self.config.default_service_account
        if account:
            impersonate = service_account_user(account, app.namespace)
        try:
            return Cluster(
                context=app.cluster,
                cache_dir=self.cache_dir,
                kubeconfig=self.kubeconfig,
                impersonate=impersonate,
            )
        except KubeError as exc:
            raise Unavailable(str(exc)) from exc

    def _plan(self, app: AppConfig, prepared: _Prepared) -> apply.Plan:
        the_plan = apply.plan(
            prepared.cluster,
            prepared.desired,
            force=app.force_conflicts,
            ownership=self._ownership(app, prepared),
        )
        if the_plan.errors:
            failed = tuple(ObjectError(str(p.ref), p.error) for p in the_plan.items if p.error)
            raise SyncError("dry-run", the_plan.errors, failed)
        return the_plan

    def _parent(self, app: AppConfig, prepared: _Prepared, step: str) -> Manifest | None:
        """The live ApplySet parent; a ConfigMap of its name that this app's parent is not
        fails ``step`` before any write (it is never taken over), and a plan reports it."""
        parent = self._get(prepared.cluster, prepared.applyset.ref, "v1")
        refused = self._ownership(app, prepared).parent_refusal(parent)
        if refused:
            raise SyncError(step, [f"{prepared.applyset.ref} {refused}"])
        return parent

    def _ownership(self, app: AppConfig, prepared: _Prepared) -> Ownership:
        apps = {ApplySet(a.name, a.namespace).id: a.name for a in self.config.apps}
        return Ownership(prepared.applyset.id, apps, adopt=app.adopt)

    @staticmethod
    def _get(cluster: Cluster, ref: ObjectRef, api_version: str) -> Manifest | None:
        return cluster.get(cluster.resource(api_version, ref.kind), ref.name, ref.namespace)

    def _orphans(self, app: AppConfig, prepared: _Prepared) -> list[tuple[ObjectRef, str]]:
        """Members that left git, protected kinds included (see ``prune.may_prune``)."""
        cluster, applyset = prepared.cluster, prepared.applyset
        refs = [ref_of(o) for o in prepared.desired]
        parent = self._get(cluster, applyset.ref, "v1")
        inventory = applyset.recorded(parent).union(applyset.inventory_of(refs))
        return prune.orphans(cluster, applyset, inventory, set(refs))

    @staticmethod
    def _prunable(
        app: AppConfig, orphans: list[tuple[ObjectRef, str]]
    ) -> list[tuple[ObjectRef, str]]:
        allowed = app.prune_cluster_scoped
        return [o for o in orphans if prune.may_prune(o[0], prune_cluster_scoped=allowed)]

    def _sync(
        self,
        app: AppConfig,
        prepared: _Prepared,
        *,
        dry_run: bool,
        before_tier: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        the_plan = self._plan(app, prepared)
        if dry_run:
            self._parent(app, prepared, "dry-run")
            orphans = self._prunable(app, self._orphans(app, prepared)) if app.prune else []
            record = _by_action(the_plan.items, PLANNED)
            record[Action.PRUNED.value] = tuple(str(ref) for ref, _ in orphans)
            return record
        return self._apply(app, prepared, the_plan, before_tier)

    def _apply(
        self,
        app: AppConfig,
        prepared: _Prepared,
        the_plan: apply.Plan,
        before_tier: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Apply in order, keep the ApplySet parent current, prune, wait for health."""
        cluster, applyset = prepared.cluster, prepared.applyset
        refs = [ref_of(o) for o in prepared.desired]
        api_versions = {ref_of(o): str(o["apiVersion"]) for o in prepared.desired}
        parent = self._parent(app, prepared, "apply")
        recorded = applyset.recorded(parent)
        current = applyset.inventory_of(refs)
        latest = {"parent": parent}

        def write_parent(inventory: Inventory) -> None:
            body = applyset.parent(inventory)
            resource = cluster.resource("v1", "ConfigMap")
            result = cluster.apply(resource, body, dry_run=True, force=True)
            if not diff.same(latest["parent"], result):
                latest["parent"] = cluster.apply(resource, body, dry_run=False, force=True)

        def after_tier(name: str) -> None:
            # Before any member exists, the parent lists every group-kind we may own.
            if name == "namespaces":
                write_parent(recorded.union(current))

        try:
            outcome = apply.execute(
                cluster,
                the_plan,
                force=app.force_conflicts,
                ownership=self._ownership(app, prepared),
                after_tier=after_tier,
                before_tier=before_tier,
            )
        except KubeError as exc:
            raise SyncError("apply", [str(exc)]) from exc
        record = _by_action(outcome, (*PLANNED, Action.SKIPPED))
        failed = tuple(
            ObjectError(str(a.ref), a.error or "") for a in outcome if a.action is Action.FAILED
        )
        if failed:
            raise SyncError("apply", [f.error for f in failed], failed, record)
        if before_tier is not None:
            before_tier("prune")
        if app.prune:
            orphans = self._orphans(app, prepared)
            targets = self._prunable(app, orphans)
            pruned = prune.prune(cluster, targets, applyset)
            record[Action.PRUNED.value] = tuple(str(p.ref) for p in pruned if p.error is None)
            failed = tuple(ObjectError(str(p.ref), p.error) for p in pruned if p.error)
            if failed:
                raise SyncError("prune", [f.error for f in failed], failed, record)
            # Members left in place (protected kinds) stay in the parent's inventory.
            kept = [ref for ref, version in orphans if (ref, version) not in targets]
            final = current.union(applyset.inventory_of(kept))
        else:
            final = recorded.union(current)
        write_parent(final)
        verdicts = health.wait_until_current(
            refs,
            lambda ref: self._get(cluster, ref, api_versions[ref]),
            timeout=app.health_timeout,
            watch=lambda ref, seen, seconds: cluster.watch(
                cluster.resource(api_versions[ref], ref.kind),
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
                errors = [f"unhealthy: {v.message}" for v in failing]
            else:
                errors = [f"not healthy after {app.health_timeout:g}s: {v.message}" for v in bad]
            raise SyncError("health", errors, (), record)
        return record
