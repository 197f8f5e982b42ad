"""A git repository of manifests and an engine syncing it, for tests on the real control plane.

Every sync test builds a real git repo served as a file:// URL, syncs it with ``SyncEngine``
and checks the cluster through an admin client. Nothing about Kubernetes is mocked. The
``gitops`` and ``dyn`` fixtures live in tests/plugins/gitops.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes.dynamic import DynamicClient

from tests import gitrepo
from webhook.engine import SyncEngine, SyncResult
from webhook.model import Job, JobState, StepOutcome, Trigger
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig
from webhook.steps import run_job


def cm(name: str, value: str = "1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": {"value": value},
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
        },
    }


def dump(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


@dataclass
class GitOps:
    """A git repo of manifests, an app pointing at it and an engine syncing it."""

    origin: Path
    kubeconfig: Path
    cache: Path
    namespace: str
    app: AppConfig = field(init=False)

    def __post_init__(self) -> None:
        self.app = AppConfig(
            name="shop", repo="acme/gitops", path="apps/shop", namespace=self.namespace
        )

    def git(self, *args: str) -> str:
        return gitrepo.git(self.origin, *args)

    def commit(self, files: dict[str, str], *, remove: tuple[str, ...] = ()) -> str:
        """Write files under the repo (paths relative to the root), remove others, commit."""
        return gitrepo.commit(self.origin, files, remove=remove)

    def engine(self, **app_changes: Any) -> SyncEngine:
        self.app = self.app.model_copy(update=app_changes)
        deployer = DeployerConfig(
            apps=(self.app,), repos={"acme/gitops": RepoConfig(clone_url=f"file://{self.origin}")}
        )
        env = Environment(webhook_secret=b"test")
        return SyncEngine(deployer, env, cache_dir=self.cache, kubeconfig=self.kubeconfig)

    def sync(self, sha: str, **app_changes: Any) -> SyncResult:
        engine = self.engine(**app_changes)
        return engine.sync(self.app, sha)


def sync_on_a_dead_cluster(tmp_path: Path, user: dict[str, Any]) -> StepOutcome:
    """One job of a one-ConfigMap app, through the real step, against a server nobody
    listens on (port 1) with ``user``'s credentials: the outcome."""
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
                "current-context": "dead",
            }
        )
    )
    ops = make_gitops(tmp_path, kubeconfig, "shop")
    sha = ops.commit({"apps/shop/a.yaml": dump(cm("a"))})
    return run_job(ops.engine(), job(sha))


def make_gitops(tmp_path: Path, kubeconfig: Path, namespace: str) -> GitOps:
    origin = tmp_path / "origin"
    origin.mkdir()
    ops = GitOps(origin, kubeconfig, tmp_path / "cache", namespace)
    ops.git("init", "--quiet", "--initial-branch=main")
    return ops


def live(dyn: DynamicClient, kind: str, name: str, namespace: str | None, api: str = "v1") -> Any:
    resource = dyn.resources.get(api_version=api, kind=kind)
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except Exception as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise


def job(sha: str, *, approved: bool = False) -> Job:
    return Job(
        id=1,
        app="shop",
        repo="acme/gitops",
        commit=sha,
        ref="refs/heads/main",
        trigger=Trigger.PUSH,
        state=JobState.RUNNING,
        approved=approved,
    )


def write_config(gitops: GitOps, path: Path) -> Path:
    config = path / "deployer.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apps": [
                    {
                        "name": "shop",
                        "repo": "acme/gitops",
                        "path": "apps/shop",
                        "namespace": gitops.namespace,
                    }
                ],
                "repos": {"acme/gitops": {"clone_url": f"file://{gitops.origin}"}},
            }
        )
    )
    return config


def widget_crd(group: str, spec_schema: dict[str, Any]) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition of kind ``Widget`` in ``group`` (v1 only)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", **spec_schema}},
                        }
                    },
                }
            ],
        },
    }
