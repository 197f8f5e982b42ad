"""``status``, ``history``, ``approve``, ``rollback`` and ``resume`` against a real ``serve``
(gunicorn and workers, SQLite), a real git repository and the real control plane; GitHub is
the local API server, which records the statuses the deployer posts.

The drift poller runs every second, so the rollback must survive several drift rounds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner, Result
from kubernetes import client

from tests.github.api_server import GitHubApiServer
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.gitops import GitOps, cm, dump
from tests.processes import free_port, spawn, wait_ready
from tests.webhook_receiver import Receiver
from webhook.cli import main

SECRET = b"cli remote secret"
TOKEN = "cli-remote-admin-token"


class Deployer:
    """``webhook-deployer serve`` for the gitops repo, reporting to ``github``."""

    def __init__(
        self, gitops: GitOps, tmp: Path, kubeconfig: Path, github: str, notify: str
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "deployer.yaml"
        app = {"name": "shop", "repo": "acme/gitops", "branch": "main", "path": "apps/shop"}
        self.config.write_text(
            yaml.safe_dump(
                {
                    "resync_interval": 1,
                    "notifications": [{"url_env": "DEPLOY_NOTIFY_URL", "kind": "json"}],
                    "apps": [{**app, "namespace": gitops.namespace}],
                    "repos": {"acme/gitops": {"clone_url": f"file://{gitops.origin}"}},
                }
            )
        )
        self.env = {
            "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
            "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp / 'deployer.db'}",
            "DEPLOYER_ADMIN_TOKEN": TOKEN,
            "DEPLOYER_CACHE_DIR": str(tmp / "cache"),
            "KUBECONFIG": str(kubeconfig),
            "GITHUB_API_URL": github,
            "GITHUB_TOKEN": "ghp_cli-remote-test",
            "DEPLOY_NOTIFY_URL": notify,
        }
        self.log_path = tmp / "serve.log"
        with open(self.log_path, "ab") as log:
            self.proc: subprocess.Popen[bytes] = spawn(
                "serve", self.config, self.port, self.env, log=log, new_session=True
            )
        wait_ready(self.url, self.proc, self.log_path)

    def cli(self, *args: str, token: str | None = TOKEN) -> Result:
        env = {"DEPLOYER_SERVER": self.url, "DEPLOYER_TOKEN": token}
        return CliRunner().invoke(main, list(args), env=env)

    def jobs(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/apps/shop/jobs?limit=500", timeout=10)
        jobs: list[dict[str, Any]] = answer.json()["jobs"]
        return jobs

    def push(self, sha: str) -> requests.Response:
        payload = branch_push()
        payload["ref"], payload["after"] = "refs/heads/main", sha
        payload["repository"]["full_name"] = "acme/gitops"
        for commit in [*payload["commits"], payload["head_commit"]]:
            commit.update(id=sha, added=[], removed=[], modified=["apps/shop/app.yaml"])
        delivery = Delivery("push", payload, SECRET)
        return requests.post(
            f"{self.url}/webhooks/github",
            data=delivery.body,
            headers=delivery.headers(),
            timeout=10,
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def deployer(
    gitops: GitOps,
    tmp_path: Path,
    kubeconfig: Path,
    github_api: GitHubApiServer,
    receiver: Receiver,
) -> Iterator[Deployer]:
    srv = Deployer(gitops, tmp_path, kubeconfig, github_api.url, receiver.url)
    yield srv
    if srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(30)


def _eventual_status(
    github: GitHubApiServer, sha: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The latest ``deploy/shop`` status on ``sha`` once ``done`` holds (the reporter posts
    from the worker, a moment after the job changed)."""
    deadline = time.monotonic() + 20
    while True:
        status = github.last_status("acme/gitops", sha, "deploy/shop")
        if status is not None and done(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def _value(core: client.CoreV1Api, ns: str) -> str:
    return str(core.read_namespaced_config_map("settings", ns).data["value"])


def test_rollback_pauses_pushes_and_drift_until_resume(
    deployer: Deployer,
    gitops: GitOps,
    k8s_api_client: client.ApiClient,
    github_api: GitHubApiServer,
    receiver: Receiver,
) -> None:
    core, ns = client.CoreV1Api(k8s_api_client), gitops.namespace
    v1 = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})
    first = deployer.cli("approve", "shop", "--revision", v1, "--wait", "60")
    assert first.exit_code == 0, first.output
    v2 = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v2"))})
    second = deployer.cli("approve", "shop", "--wait", "60", "-o", "json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["job"]["commit"] == v2
    assert _value(core, ns) == "v2"

    rolled = deployer.cli("rollback", "shop", "--wait", "60", "-o", "json")
    assert rolled.exit_code == 0, rolled.output
    answer = json.loads(rolled.output)
    assert answer["job"]["commit"] == v1 and answer["job"]["state"] == "succeeded"
    assert answer["paused"]["description"] == f"paused: rolled back to {v1[:7]} by token:admin"
    assert _value(core, ns) == "v1"
    rollback_id = answer["job"]["id"]
    # GitHub shows the pause on the commit rolled back to.
    rolled_back = _eventual_status(github_api, v1, lambda s: "paused" in s["description"])
    assert rolled_back["state"] == "success"
    assert rolled_back["description"].startswith(
        f"paused: rolled back to {v1[:7]} by token:admin; "
    )
    # The worker's notifier tells the configured webhook of the rollback's result.
    deadline = time.monotonic() + 20
    while not any(r["body"]["job"] == rollback_id for r in receiver.received):
        assert time.monotonic() < deadline, "the rollback was never notified"
        time.sleep(0.1)

    # Several drift rounds (every second) pass: the head is v2, the cluster v1, and neither
    # a drift job nor a repair happens while the app is paused.
    core.patch_namespaced_config_map("settings", ns, {"data": {"value": "by-hand"}})
    time.sleep(4)
    assert _value(core, ns) == "by-hand"
    later = [j for j in deployer.jobs() if j["id"] > rollback_id]
    assert later == []

    # A push is recorded, not deployed, and GitHub shows why on the pushed commit.
    v3 = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v3"))})
    pushed = deployer.push(v3)
    assert pushed.status_code == 202, pushed.text
    skipped = pushed.json()["jobs"][0]
    job = requests.get(f"{deployer.url}/api/jobs/{skipped['id']}", timeout=10).json()
    assert job["state"] == "out_of_sync" and "paused: rolled back to" in job["message"]
    status = _eventual_status(github_api, v3, lambda s: s["state"] == "pending")
    assert status["description"].startswith(f"paused: rolled back to {v1[:7]} by token:admin")

    shown = deployer.cli("status", "shop")
    assert shown.exit_code == 0 and f"paused: rolled back to {v1[:7]}" in shown.output
    listed = deployer.cli("status", "-o", "yaml")
    apps = yaml.safe_load(listed.output)["apps"]
    assert apps[0]["paused"]["commit"] == v1
    page = requests.get(deployer.url, timeout=10).text
    assert f"paused: rolled back to {v1[:7]} by token:admin" in page

    resumed = deployer.cli("resume", "shop", "--wait", "60")
    assert resumed.exit_code == 0, resumed.output
    assert _value(core, ns) == "v3"
    after = deployer.cli("status", "shop", "-o", "json")
    assert json.loads(after.output)["paused"] is None


def test_remote_commands_exit_codes_and_formats(deployer: Deployer, gitops: GitOps) -> None:
    v1 = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})
    assert deployer.cli("approve", "shop", "--wait", "60").exit_code == 0

    table = deployer.cli("status")
    assert table.exit_code == 0
    header, row = table.output.splitlines()
    assert header.split() == ["APP", "MODE", "STATE", "COMMIT", "JOB", "MESSAGE"]
    assert row.split()[:4] == ["shop", "auto", "succeeded", v1[:7]]

    history = deployer.cli("history", "shop", "-o", "json")
    jobs = json.loads(history.output)["jobs"]
    assert history.exit_code == 0 and jobs[0]["commit"] == v1
    text = deployer.cli("history", "shop")
    assert text.output.split()[:4] == ["JOB", "TRIGGER", "STATE", "COMMIT"]

    # Refused by the deployer: 1, with its reason.
    unknown = deployer.cli("status", "nope")
    assert unknown.exit_code == 1 and "no app named 'nope'" in unknown.output
    no_token = deployer.cli("approve", "shop", token=None)
    assert no_token.exit_code == 1 and "DEPLOYER_TOKEN" in no_token.output
    nothing = deployer.cli("rollback", "shop")
    assert nothing.exit_code == 1 and "no successful commit deployed before" in nothing.output
    not_ours = deployer.cli("rollback", "shop", "--to", "0" * 40)
    assert not_ours.exit_code == 1 and "not a commit this app deployed" in not_ours.output
    assert deployer.cli("status", "shop", "-o", "json").exit_code == 0

    # The deployer cannot be asked: 2.
    away = CliRunner().invoke(
        main, ["status"], env={"DEPLOYER_SERVER": f"http://127.0.0.1:{free_port()}"}
    )
    assert away.exit_code == 2 and "cannot reach the deployer" in away.output
