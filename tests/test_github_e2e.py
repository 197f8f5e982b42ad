"""End to end on the real control plane: a signed delivery through the Flask app, the worker
with the real engine, the reporter, and the local OpenAPI-validated GitHub server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from kubernetes import client as k8s

from tests import gitrepo
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer, client_for
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push, example, merged_pull_request
from webhook.engine import SyncEngine
from webhook.queue import SqlStore, sqlite_store
from webhook.reporter import Reporter
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig
from webhook.steps import worker_step
from webhook.web import create_app
from webhook.worker import Worker

REPO = "Codertocat/Hello-World"
CONTEXT = "deploy/shop"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cm(name: str, value: str = "1") -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}
    )


@dataclass
class Deployer:
    """Everything a delivery passes through, wired as ``webhook-deployer serve`` wires it."""

    origin: Path
    web: FlaskClient
    store: SqlStore
    worker: Worker
    reporter: Reporter
    github: GitHubApiServer
    clock: Clock

    def git(self, *args: str) -> str:
        return gitrepo.git(self.origin, *args)

    def commit(self, text: str) -> str:
        path = self.origin / "apps" / "shop" / "app.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", "change")
        return self.git("rev-parse", "HEAD")

    def deliver(self, event: str, payload: dict[str, Any]) -> None:
        delivery = Delivery(event, payload, SECRET)
        answer = self.web.post("/webhooks/github", data=delivery.body, headers=delivery.headers())
        assert answer.status_code == 202, answer.get_json()

    def merge(self, sha: str, head_sha: str) -> None:
        """A merge, as GitHub announces it: a push to the base branch and a closed PR."""
        push = branch_push()
        push.update(after=sha, created=False)
        push["commits"][0].update(id=sha, added=[], modified=["apps/shop/app.yaml"], removed=[])
        self.deliver("push", push)
        payload = merged_pull_request(sha)
        payload["pull_request"]["head"]["sha"] = head_sha
        self.deliver("pull_request", payload)

    def work(self) -> None:
        while self.worker.run_once() is not None:
            pass

    def report(self) -> None:
        for _ in range(20):
            if not self.reporter.deliver_pending():
                return


@pytest.fixture
def deployer(tmp_path: Path, kubeconfig: Path, namespace: str) -> Iterator[Deployer]:
    origin = tmp_path / "origin"
    origin.mkdir()
    github = GitHubApiServer()
    app = AppConfig(name="shop", repo=REPO, branch="master", path="apps/shop", namespace=namespace)
    config = DeployerConfig(
        apps=(app,),
        repos={REPO: RepoConfig(clone_url=f"file://{origin}")},
        public_url="https://deployer.example",
    )
    env = Environment(
        webhook_secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'deployer.db'}",
        github_token="ghs_e2e-token",
        github_api_url=github.url,
    )
    store = sqlite_store(tmp_path / "deployer.db")
    clock = Clock(store.clock())
    store.clock = clock  # type: ignore[method-assign]
    engine = SyncEngine(config, env, cache_dir=tmp_path / "cache", kubeconfig=kubeconfig)
    worker = Worker(store, worker_step(engine, store), lease_seconds=600)
    reporter = Reporter(store, config, client_for(github), clock=clock)
    web = create_app(config, env, store).test_client()
    deployer = Deployer(origin, web, store, worker, reporter, github, clock)
    deployer.git("init", "--quiet", "--initial-branch=master")
    yield deployer
    github.close()
    store.close()
    assert github.failures == []
    assert all("ghs_e2e-token" not in repr(call) for call in github.calls)


HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def test_a_merged_pull_request_is_pending_then_success_on_both_commits_with_one_comment(
    deployer: Deployer, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    sha = deployer.commit(cm("settings"))
    deployer.merge(sha, HEAD)
    deployer.report()
    deployer.work()
    deployer.report()
    for commit in (sha, HEAD):
        assert deployer.github.states(REPO, commit, CONTEXT) == ["pending", "success"]
    final = deployer.github.last_status(REPO, sha, CONTEXT)
    assert final is not None and final["description"].startswith("1 objects, 1 changed")
    [comment] = deployer.github.comments[(REPO.lower(), 2)]
    assert f"| shop | `{sha[:7]}` | ✅ deployed" in comment["body"]
    live = k8s.CoreV1Api(k8s_api_client).read_namespaced_config_map("settings", namespace)
    assert live.data == {"v": "1"}


def test_a_broken_manifest_is_a_failure_with_its_reason(deployer: Deployer) -> None:
    sha = deployer.commit("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [not, a, name]}\n")
    deployer.merge(sha, HEAD)
    deployer.work()
    deployer.report()
    status = deployer.github.last_status(REPO, HEAD, CONTEXT)
    assert status is not None and status["state"] == "failure"
    assert status["description"], "the first cause is shown"
    assert deployer.github.states(REPO, HEAD, CONTEXT) == ["failure"]


def test_a_burst_of_commits_leaves_every_superseded_commit_with_a_final_status(
    deployer: Deployer,
) -> None:
    shas = [deployer.commit(cm("settings", str(i))) for i in range(4)]
    for i, sha in enumerate(shas):
        deployer.merge(sha, f"{i + 1:x}" * 40)
    deployer.work()
    deployer.report()
    for sha, newer in itertools.pairwise(shas):
        status = deployer.github.last_status(REPO, sha, CONTEXT)
        assert status is not None and status["state"] == "success"
        assert f"superseded by {newer[:7]}" in status["description"]
    assert deployer.github.states(REPO, shas[-1], CONTEXT) == ["success"]
    assert all(s != "pending" for sha in shas for s in deployer.github.states(REPO, sha, CONTEXT))


def test_a_pull_request_gets_a_preview_and_the_cluster_is_not_changed(
    deployer: Deployer, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    deployer.commit(cm("settings"))
    deployer.git("checkout", "--quiet", "-b", "feature")
    head = deployer.commit(cm("settings") + "---\n" + cm("extra"))
    payload = example("pull_request", where={"action": "opened"})
    payload["pull_request"]["head"]["sha"] = head
    deployer.deliver("pull_request", payload)
    deployer.work()
    deployer.report()
    status = deployer.github.last_status(REPO, head, "deploy-preview/shop")
    assert status is not None
    assert (status["state"], status["description"]) == (
        "success",
        "2 to create, 0 to change, 0 to delete",
    )
    assert deployer.github.states(REPO, head, CONTEXT) == []
    [comment] = deployer.github.comments[(REPO.lower(), payload["number"])]
    assert "Preview of #" in comment["body"] and "<details>" in comment["body"]
    assert "name: extra" in comment["body"]
    maps = k8s.CoreV1Api(k8s_api_client).list_namespaced_config_map(namespace)
    assert [m.metadata.name for m in maps.items if m.metadata.name != "kube-root-ca.crt"] == []


def test_github_failing_for_a_while_delays_reports_but_loses_and_duplicates_none(
    deployer: Deployer,
) -> None:
    sha = deployer.commit(cm("settings"))
    deployer.merge(sha, HEAD)
    deployer.github.fail_next(3, status=503)
    deployer.github.fail_next(1, status=502, after_apply=True)
    deployer.report()
    deployer.work()
    for _ in range(8):
        deployer.report()
        deployer.clock.now += 700
    for commit in (sha, HEAD):
        assert deployer.github.states(REPO, commit, CONTEXT) == ["success"]
    assert len(deployer.github.comments[(REPO.lower(), 2)]) == 1
    assert deployer.store.pending_reports() == []
