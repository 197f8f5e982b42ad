"""The first half of a sync: from an app at a commit to the guarded manifests a plan needs.
Connect to the app's cluster (as its service account), get its git token, fetch and check
out the commit, render, guard, and take ``ignore_differences`` fields from the live objects.

Owns: ``Prepared`` and ``Preparing`` (the engine's steps up to the plan). A failure in the
commit ends in ``SyncError`` (source, render, guard); an unreachable cluster or a token
GitHub will not give raises ``errors.Unavailable``; ``sources.CommitMissing`` goes up
unchanged. Must not touch: the plan and the rollout (engine.py, phases.py), the queue,
GitHub's API.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from webhook import guard, hooks, render, sources
from webhook.errors import Unavailable
from webhook.kube import ignore, live
from webhook.kube.applyset import ApplySet
from webhook.kube.client import Cluster, KubeError, UnknownKind, service_account_user
from webhook.kube.connections import Connections
from webhook.objects import Manifest, ObjectRef, ref_of
from webhook.settings import AppConfig, DeployerConfig, Environment
from webhook.sync_error import SyncError

#: Steps of long work at DEBUG, for a terminal (the engine's ``progress`` logger).
progress = logging.getLogger("webhook.progress")


@dataclass(frozen=True)
class Prepared:
    """An app at a commit, ready to plan: its cluster, its ApplySet, its guarded manifests."""

    cluster: Cluster
    applyset: ApplySet
    desired: list[Manifest]
    #: The app's members LISTed while the commit was fetched and rendered.
    prefetched: live.Prefetch | None = None

    @property
    def key(self) -> str:
        """Names the app in its cluster, for what is kept between syncs."""
        return f"{self.cluster.identity}|{self.applyset.id}"

    @property
    def order(self) -> hooks.Order:
        """Members by wave apart from hooks (``desired`` holds both)."""
        return hooks.split(self.desired)


class Preparing:
    """Connect, fetch, render and guard for ``SyncEngine``, which sets these attributes."""

    config: DeployerConfig
    env: Environment
    cache_dir: Path
    token_for: Callable[[str], str | None]
    mirrors: sources.Mirrors
    connections: Connections
    #: Per app (``Prepared.key``), the groups its last plan read in bulk.
    _read_groups: dict[str, set[live.GroupKey]]

    def _remote(self, app: AppConfig) -> sources.Remote:
        """The app's git remote with its token; a token GitHub will not give is an
        infrastructure fault (the error is the provider's, which never holds a secret)."""
        try:
            token = self.token_for(app.repo)
        except Exception as exc:
            raise Unavailable(f"no git token for {app.repo}: {exc}") from exc
        return sources.Remote(url=self.config.clone_url(app.repo), token=token)

    @contextlib.contextmanager
    def _prepared(
        self, app: AppConfig, revision: str, record: dict[str, Any] | None = None
    ) -> Iterator[Prepared]:
        """Connect, fetch, render and guard; yield what an apply or a plan needs. The whole
        tree of the commit is checked out; the app renders from its folder and may read
        anything in the tree. What it read goes to ``record["inputs"]``."""
        cluster = self._connect(app)
        remote = self._remote(app)
        applyset = ApplySet(app.name, app.namespace)
        usual = self._read_groups.get(f"{cluster.identity}|{applyset.id}", set())
        prefetched = live.Prefetch(cluster, usual, applyset.id) if usual else None
        try:
            # One extraction per commit for all its apps; kustomize's Helm inflation
            # writes into the tree (charts/), so such an app gets its own.
            shared = not app.kustomize.enable_helm
            with self.mirrors.checkout(
                app.repo, remote, revision, app.path, tree="", shared=shared
            ) as folder:
                tree = folder.parents[len(PurePosixPath(app.path).parts) - 1]
                rendered = render.render(
                    folder,
                    app.path,
                    release=app.helm.release_name or app.name,
                    namespace=app.namespace,
                    values_files=app.helm.values_files,
                    allowed_remote_hosts=app.kustomize.allowed_remote_hosts,
                    enable_helm=app.kustomize.enable_helm,
                    checkout_root=tree,
                    helm=self._helm_options(app, cluster, folder),
                    directory=app.directory.filter,
                )
                if record is not None:
                    inputs = render.inputs_of(
                        folder,
                        app.path,
                        boundary=tree,
                        values_files=app.helm.values_files,
                        allowed_remote_hosts=app.kustomize.allowed_remote_hosts,
                        enable_helm=app.kustomize.enable_helm,
                        directory=app.directory.filter,
                    )
                    record["inputs"] = inputs
        except sources.CommitMissing:
            raise  # maybe not fetchable yet: the job step retries it (steps.py)
        except sources.SourceError as exc:
            raise SyncError("source", [str(exc)]) from exc
        except render.RenderError as exc:
            raise SyncError("render", [str(exc)]) from exc
        try:
            objects = guard.check(rendered, app, cluster.is_namespaced, self.env.own)
        except guard.GuardError as exc:
            raise SyncError("guard", exc.errors) from exc
        objects = self._respect_ignored(app, cluster, objects)
        progress.debug("%s: rendered %d objects at %s", app.name, len(objects), revision[:7])
        yield Prepared(cluster, applyset, [applyset.label(o) for o in objects], prefetched)

    def _helm_options(self, app: AppConfig, cluster: Cluster, folder: Path) -> render.HelmOptions:
        """Capabilities from the cluster's (cached) discovery, for charts only (the app's,
        or those kustomize inflates); the allowed repositories."""
        capabilities = None
        chart = app.helm.chart is not None or (folder / "Chart.yaml").is_file()
        if chart or app.kustomize.enable_helm:
            capabilities = render.Capabilities(*cluster.capabilities())
        return render.HelmOptions(
            capabilities=capabilities,
            repositories=self.config.helm_repositories,
            chart=app.helm.chart,
            cache_dir=self.cache_dir / "charts",
            skip_schema_validation=app.helm.skip_schema_validation,
        )

    def _respect_ignored(
        self, app: AppConfig, cluster: Cluster, objects: list[Manifest]
    ) -> list[Manifest]:
        """``ignore_differences``: matching objects take those fields from the live ones
        (none yet for a kind this sync's CRDs bring: such objects are created as written)."""
        out = []
        for obj in objects:
            rules = ignore.matching(ref_of(obj), app.ignore_differences)
            live = None
            if rules:
                with contextlib.suppress(UnknownKind):
                    live = self._get(cluster, ref_of(obj), str(obj["apiVersion"]))
            out.append(ignore.respect(obj, live, rules))
        return out

    def _connect(self, app: AppConfig) -> Cluster:
        """The app's view of its cluster: as its ``service_account``, else as the global
        ``default_service_account`` in its namespace, else as the deployer itself."""
        impersonate = None
        account = app.service_account or self.config.default_service_account
        if account:
            impersonate = service_account_user(account, app.namespace)
        try:
            return self.connections.cluster(app.cluster, impersonate)
        except KubeError as exc:
            raise Unavailable(str(exc)) from exc

    @staticmethod
    def _get(cluster: Cluster, ref: ObjectRef, api_version: str) -> Manifest | None:
        return cluster.get(cluster.resource(api_version, ref.kind), ref.name, ref.namespace)
