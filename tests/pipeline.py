"""The whole pipeline, wired as ``webhook-deployer serve`` wires it, for end-to-end tests: a
signed delivery through the Flask app, the worker with the real engine, the reporter, and the
local OpenAPI-validated GitHub server. The ``deployer`` fixture is in tests/plugins/pipeline.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from flask.testing import FlaskClient

from tests import gitrepo
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push, merged_pull_request
from webhook.queue import SqlStore
from webhook.reporter import Reporter
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

    def commit_apps(self, texts: dict[str, str], message: str = "change") -> str:
        """Write ``apps/<name>/app.yaml`` for each app named in ``texts``; commit; the SHA."""
        for name, text in texts.items():
            path = self.origin / "apps" / name / "app.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
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
