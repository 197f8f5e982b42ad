"""GitOps repositories as Argo CD and Flux users keep them, deployed end to end: a signed
delivery through the Flask receiver, the worker with the real engine and store, the real
control plane. Overlays reach bases in other folders; a change to a base deploys every app
whose last render read it, and no other; hostile references apply nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from kubernetes.dynamic import DynamicClient

from tests import gitrepo
from tests.conftest import SECRET
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push, merged_pull_request
from tests.gitops import live
from webhook.engine import SyncEngine
from webhook.model import Job, JobState, PullRequestRef, Trigger
from webhook.queue import SqlStore, sqlite_store
from webhook.settings import AppConfig, DeployerConfig, Environment, HelmConfig, RepoConfig
from webhook.steps import run_job, worker_step
from webhook.web import create_app
from webhook.worker import Worker

REPO = "Codertocat/Hello-World"
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("tools")]


def cm(name: str, **data: str) -> str:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    return yaml.safe_dump(body)


def service(name: str) -> str:
    spec = {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}
    return yaml.safe_dump(body)


#: Flux's layout (flux2-kustomize-helm-example): ``apps/base/<app>`` and an environment
#: overlay ``apps/production`` that patches it; Argo CD's kustomize guestbook with its base
#: in a shared folder; and a plain app that reads nothing else.
TREE = {
    "apps/base/podinfo/kustomization.yaml": "resources: [configmap.yaml, service.yaml]\n",
    "apps/base/podinfo/configmap.yaml": cm("podinfo", level="info"),
    "apps/base/podinfo/service.yaml": service("podinfo"),
    "apps/production/kustomization.yaml": (
        "namePrefix: prod-\nresources: [../base/podinfo]\npatches:\n- path: podinfo-values.yaml\n"
    ),
    "apps/production/podinfo-values.yaml": cm("podinfo", level="warn"),
    "shared/guestbook/kustomization.yaml": "resources: [guestbook-ui-svc.yaml, ui.yaml]\n",
    "shared/guestbook/guestbook-ui-svc.yaml": service("guestbook-ui"),
    "shared/guestbook/ui.yaml": cm("guestbook-ui", title="Guestbook"),
    "kustomize-guestbook/kustomization.yaml": (
        "namePrefix: kustomize-\nresources: [../shared/guestbook]\n"
        "labels:\n- pairs:\n    app.kubernetes.io/part-of: guestbook\n"
    ),
    "apps/other/configmap.yaml": cm("other", v="1"),
    "README.md": "# fleet\n",
}


@dataclass
class Fleet:
    origin: Path
    web: FlaskClient
    store: SqlStore
    worker: Worker
    engine: SyncEngine
    namespace: str

    def commit(self, files: dict[str, str]) -> str:
        return gitrepo.commit(self.origin, files)

    def deliver(self, event: str, payload: dict[str, Any]) -> list[str]:
        """The apps the receiver queued a job for (none when it ignored the delivery)."""
        delivery = Delivery(event, payload, SECRET)
        answer = self.web.post("/webhooks/github", data=delivery.body, headers=delivery.headers())
        assert answer.status_code == 202, answer.get_json()
        return [job["app"] for job in answer.get_json().get("jobs", [])]

    def push(self, sha: str, changed: list[str], *, created: bool = False) -> list[str]:
        payload = branch_push()
        payload.update(after=sha, created=created)
        payload["commits"][0].update(id=sha, added=[], modified=changed, removed=[])
        return self.deliver("push", payload)

    def work(self) -> dict[str, Job]:
        done: dict[str, Job] = {}
        while (job := self.worker.run_once()) is not None:
            done[job.app] = job
        return done

    def data(self, dyn: DynamicClient, name: str) -> Any:
        found = live(dyn, "ConfigMap", name, self.namespace)
        return found and found["data"]


@pytest.fixture
def fleet(tmp_path: Path, kubeconfig: Path, namespace: str) -> Iterator[Fleet]:
    origin = gitrepo.init(tmp_path / "origin", branch="master")

    def app(name: str, path: str, **more: Any) -> AppConfig:
        return AppConfig(
            name=name, repo=REPO, branch="master", path=path, namespace=namespace, **more
        )

    config = DeployerConfig(
        apps=(
            app("production", "apps/production"),
            app("guestbook", "kustomize-guestbook"),
            app("other", "apps/other", paths=("config/other-*.env",)),
        ),
        repos={REPO: RepoConfig(clone_url=f"file://{origin}")},
    )
    env = Environment(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path / 'd.db'}")
    store = sqlite_store(tmp_path / "d.db")
    engine = SyncEngine(config, env, cache_dir=tmp_path / "cache", kubeconfig=kubeconfig)
    worker = Worker(store, worker_step(engine, store), lease_seconds=600)
    web = create_app(config, env, store).test_client()
    yield Fleet(origin, web, store, worker, engine, namespace)
    store.close()


def test_overlays_with_bases_elsewhere_deploy_and_a_base_change_deploys_its_readers(
    fleet: Fleet, dyn: DynamicClient
) -> None:
    first = fleet.commit(TREE)
    # Nothing rendered yet: every app's inputs are unknown, so every app of the branch syncs.
    assert fleet.push(first, ["README.md"]) == ["production", "guestbook", "other"]
    done = fleet.work()
    assert {name: job.state for name, job in done.items()} == dict.fromkeys(
        ("production", "guestbook", "other"), JobState.SUCCEEDED
    ), {name: job.message for name, job in done.items()}
    assert fleet.data(dyn, "prod-podinfo") == {"level": "warn"}  # base, patched by the overlay
    assert live(dyn, "Service", "prod-podinfo", fleet.namespace) is not None
    assert fleet.data(dyn, "kustomize-guestbook-ui") == {"title": "Guestbook"}
    assert live(dyn, "Service", "kustomize-guestbook-ui", fleet.namespace) is not None
    recorded = fleet.store.recorded_inputs(["production", "guestbook", "other"])
    assert "apps/base/podinfo/configmap.yaml" in recorded["production"].paths
    assert "shared/guestbook/ui.yaml" in recorded["guestbook"].paths
    assert recorded["other"].paths == ()

    # A push that changes only the Flux base: only the overlay that reads it deploys.
    base_change = fleet.commit({"apps/base/podinfo/service.yaml": service("podinfo-v2")})
    assert fleet.push(base_change, ["apps/base/podinfo/service.yaml"]) == ["production"]
    fleet.work()
    assert live(dyn, "Service", "prod-podinfo-v2", fleet.namespace) is not None

    # A merge names no files: the worker diffs it, and the same rule narrows it.
    shared_change = fleet.commit({"shared/guestbook/ui.yaml": cm("guestbook-ui", title="v2")})
    merged = merged_pull_request(shared_change)
    merged["pull_request"]["base"]["ref"] = "master"
    assert fleet.deliver("pull_request", merged) == ["production", "guestbook", "other"]
    done = fleet.work()
    assert done["guestbook"].state is JobState.SUCCEEDED
    assert done["production"].result == {"untouched": True}
    assert done["other"].result == {"untouched": True}
    assert fleet.data(dyn, "kustomize-guestbook-ui") == {"title": "v2"}

    # `paths:` adds a file the render does not read; an unrelated file touches nobody.
    env_change = fleet.commit({"config/other-extra.env": "X=1\n"})
    assert fleet.push(env_change, ["config/other-extra.env"]) == ["other"]
    fleet.work()
    readme = fleet.commit({"README.md": "# fleet, v2\n"})
    assert fleet.push(readme, ["README.md"]) == []  # ignored: no app's inputs changed


def test_a_failed_render_forgets_the_inputs_so_any_push_deploys_the_app(
    fleet: Fleet, dyn: DynamicClient
) -> None:
    first = fleet.commit(TREE)
    fleet.push(first, ["README.md"])
    fleet.work()
    broken = fleet.commit(
        {"apps/base/podinfo/kustomization.yaml": "resources: [configmap.yaml, missing.yaml]\n"}
    )
    assert fleet.push(broken, ["apps/base/podinfo/kustomization.yaml"]) == ["production"]
    done = fleet.work()
    assert done["production"].state is JobState.FAILED
    assert (done["production"].result or {}).get("error_kind") == "render"
    assert fleet.store.recorded_inputs(["production"]) == {}
    # The fix may come from any file: a push of an unrelated one deploys the app again.
    readme = fleet.commit({"README.md": "# fleet, v2\n"})
    assert fleet.push(readme, ["README.md"]) == ["production"]


@pytest.mark.parametrize(
    ("files", "app", "cause"),
    [
        (
            {"apps/base/podinfo/service.yaml": None},
            {},
            r"apps/base/podinfo/service\.yaml at [0-9a-f]{40} is a symlink leaving the repository",
        ),
        (
            {"apps/production/kustomization.yaml": "resources: [../../../etc/passwd]\n"},
            {},
            r"'\.\./\.\./\.\./etc/passwd' leaves the checkout",
        ),
        (
            {"apps/production/kustomization.yaml": "resources: [../base/podinfo, /etc]\n"},
            {},
            r"'/etc' leaves the checkout",
        ),
        (
            {"charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"},
            {"path": "charts/web", "helm": HelmConfig(values_files=("../../../values.yaml",))},
            r"values file '\.\./\.\./\.\./values\.yaml' is not a file in the checkout",
        ),
    ],
    ids=["symlink-in-base", "dot-dot-resource", "absolute-resource", "values-outside"],
)
def test_reaching_outside_the_tree_is_refused_and_nothing_is_applied(
    fleet: Fleet,
    dyn: DynamicClient,
    files: dict[str, str | None],
    app: dict[str, Any],
    cause: str,
) -> None:
    gitrepo.commit(fleet.origin, {**TREE, **{k: v for k, v in files.items() if v}})
    for rel in (rel for rel, text in files.items() if text is None):
        (fleet.origin / rel).unlink()  # a symlink out of the repository, as git holds it
        (fleet.origin / rel).symlink_to("../../../../../etc/passwd")
    sha = gitrepo.commit(fleet.origin, {})
    config = fleet.engine.config.app("production")
    assert config is not None
    result = fleet.engine.sync(config.model_copy(update=app), sha)
    assert result.error_kind in ("source", "render"), result
    assert result.error is not None and re.search(cause, result.error), result.error
    assert result.inputs is None
    assert live(dyn, "ConfigMap", "prod-podinfo", fleet.namespace) is None
    assert live(dyn, "Service", "prod-podinfo", fleet.namespace) is None


def test_a_preview_records_no_inputs_and_a_sync_does(fleet: Fleet) -> None:
    """A pull request's head is not the branch: what it reads must not steer the index."""
    sha = fleet.commit(TREE)
    app = fleet.engine.config.app("production")
    assert app is not None
    preview = Job(
        id=1,
        app="production",
        repo=REPO,
        commit=sha,
        ref="refs/pull/7/head",
        trigger=Trigger.PREVIEW,
        state=JobState.RUNNING,
        pull_requests=(PullRequestRef(number=7, head_sha=sha),),
    )
    assert run_job(fleet.engine, preview, fleet.store).state is JobState.SUCCEEDED
    assert fleet.store.recorded_inputs(["production"]) == {}
    pushed = replace(preview, trigger=Trigger.PUSH, ref="refs/heads/master", pull_requests=())
    assert run_job(fleet.engine, pushed, fleet.store).state is JobState.SUCCEEDED
    assert fleet.store.recorded_inputs(["production"])["production"].paths == (
        "apps/base/podinfo/",
        "apps/base/podinfo/Kustomization",
        "apps/base/podinfo/configmap.yaml",
        "apps/base/podinfo/kustomization.yaml",
        "apps/base/podinfo/kustomization.yml",
        "apps/base/podinfo/service.yaml",
        "apps/production/Kustomization",
        "apps/production/kustomization.yaml",
        "apps/production/kustomization.yml",
        "apps/production/podinfo-values.yaml",
    )
