"""``webhook-deployer demo``: the whole loop on one machine, without GitHub or a cluster.

It starts a throwaway control plane (etcd, kube-apiserver, a scheduler, controller-manager
and kwok's fake node, from the tooling the tests build once and cache: ``scripts/
test-cluster``), a sample git repository (``sample.py``), a stand-in for GitHub's API that
prints what the deployer posts (``github.py``) and ``webhook-deployer serve`` against them.
Then it plays what GitHub would send: a first deploy, a pull request's preview, its merge, a
failing change and a manual approval, checks each outcome, and prints the page's URL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from webhook.demo import sample
from webhook.demo.github import GitHubStandIn

#: The cluster script lives in a source checkout, next to the package.
TEST_CLUSTER = Path(__file__).resolve().parents[2] / "scripts" / "test-cluster"
#: Seconds one step's jobs may take (a first sync waits for Pods on kwok's node).
STEP_TIMEOUT = 90.0
FINAL = ("succeeded", "failed", "superseded", "out_of_sync")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Demo:
    workdir: Path
    port: int
    kubeconfig: Path | None = None
    out: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(16)
        self.admin = secrets.token_hex(16)
        self.cluster_dir: Path | None = None
        self.serve: subprocess.Popen[bytes] | None = None
        self.github: GitHubStandIn | None = None

    def say(self, line: str) -> None:
        with self._lock:
            self.out(f"[{time.monotonic() - self.started:5.1f}s] {line}")

    # -- the parts ------------------------------------------------------------------

    def start(self) -> None:
        """The cluster boots while the rest starts: serve needs it only for its first job."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        booting = self._boot_cluster() if self.kubeconfig is None else None
        self.github = GitHubStandIn(lambda line: self.say(f"github: {line}"))
        self.repo = sample.Repo(self.workdir / "repo")
        config = self._config()
        env = {
            **os.environ,
            "GITHUB_WEBHOOK_SECRET": self.secret,
            "DEPLOYER_ADMIN_TOKEN": self.admin,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_TOKEN": "demo-token",
            "KUBECONFIG": str(self.kubeconfig),
            "DEPLOYER_DATABASE_URL": f"sqlite:///{self.workdir / 'deployer.db'}",
            "DEPLOYER_CACHE_DIR": str(self.workdir / "cache"),
            "DEPLOYER_LOG_FORMAT": "text",
            "DEPLOYER_LOG_LEVEL": "WARNING",
        }
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - the child keeps it
        command = [sys.executable, "-m", "webhook.cli", "serve", "--config", str(config)]
        self.serve = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()
        self.say(f"deployer: serving {self.url} (log: {self.workdir / 'serve.log'})")
        if booting is not None:
            self._cluster_ready(booting)

    def _boot_cluster(self) -> subprocess.Popen[str]:
        if not TEST_CLUSTER.exists():
            raise DemoError(
                f"{TEST_CLUSTER} not found: the demo's control plane needs a source checkout "
                "(or pass --kubeconfig to use a cluster you have)"
            )
        self.cluster_dir = self.workdir / "cluster"
        # ``up`` writes the kubeconfig here, so serve can be told before the cluster is up.
        self.kubeconfig = self.cluster_dir / "kubeconfig"
        self.say(
            "cluster: starting etcd, kube-apiserver and one kwok node (the first run "
            "builds the tools: minutes; later runs reuse them)"
        )
        with open(self.workdir / "cluster.log", "ab") as log:
            return subprocess.Popen(
                [str(TEST_CLUSTER), "up", str(self.cluster_dir), "--nodes", "1"],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def _cluster_ready(self, booting: subprocess.Popen[str]) -> None:
        out, _ = booting.communicate()
        if booting.returncode != 0 or not out.strip():
            raise DemoError(f"the control plane did not start; see {self.workdir / 'cluster.log'}")
        self.kubeconfig = Path(out.strip().splitlines()[-1])
        self.say(f"cluster: ready (kubeconfig {self.kubeconfig})")

    def _config(self) -> Path:
        apps = [
            {
                "name": name,
                "repo": sample.REPO,
                "branch": "main",
                "path": f"apps/{name}",
                "namespace": namespace,
                "auto_sync": name == "shop",
                "allowed_cluster_kinds": ["Namespace"],
                "health_timeout": 60,
            }
            for name, namespace in sample.NAMESPACES.items()
        ]
        config = {
            "apps": apps,
            "repos": {sample.REPO: {"clone_url": f"file://{self.repo.path}"}},
            "public_url": self.url,
            "resync_interval": 0,
        }
        path = self.workdir / "deployer.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _wait_ready(self) -> None:
        assert self.serve is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise DemoError(f"serve exited; see {self.workdir / 'serve.log'}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise DemoError(f"serve did not become ready; see {self.workdir / 'serve.log'}")

    def stop(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(10)
        if self.github is not None:
            self.github.close()
        if self.cluster_dir is not None:
            subprocess.run(
                [str(TEST_CLUSTER), "down", str(self.cluster_dir)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )

    # -- GitHub's side --------------------------------------------------------------

    def deliver(self, event: str, payload: Any) -> list[dict[str, Any]]:
        body, headers = sample.signed(event, payload, self.secret)
        answer = requests.post(
            f"{self.url}/webhooks/github", data=body, headers=headers, timeout=10
        )
        if answer.status_code >= 300:
            raise DemoError(f"the deployer refused a {event} delivery: {answer.text}")
        jobs: list[dict[str, Any]] = answer.json().get("jobs", [])
        return jobs

    def settle(self, jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each job's final record, by app, once its status has reached GitHub."""
        done: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + STEP_TIMEOUT
        for queued in jobs:
            while True:
                job: dict[str, Any] = requests.get(
                    f"{self.url}/api/jobs/{queued['id']}", timeout=10
                ).json()
                if job["state"] in FINAL or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            done[job["app"]] = job
            self._reported(job, deadline)
        return done

    def _reported(self, job: dict[str, Any], deadline: float) -> None:
        """Wait for the reporter's status of a final, reported job, so the printed story
        keeps its order (the reporter posts from the worker process, a moment later)."""
        if job["state"] not in FINAL or (job.get("result") or {}).get("untouched"):
            return
        preview = job["trigger"] == "preview"
        context = f"deploy{'-preview' if preview else ''}/{job['app']}"
        assert self.github is not None
        while time.monotonic() < deadline:
            status = self.github.latest(sample.REPO, job["commit"], context)
            waiting = job["state"] == "out_of_sync"  # its final status is a pending one
            said = str(status["description"]) if status is not None else ""
            settled = said not in ("queued", "") and "syncing" not in said
            if status is not None and (status["state"] != "pending" or waiting) and settled:
                return
            time.sleep(0.1)

    def expect(self, step: str, job: dict[str, Any] | None, state: str) -> None:
        if job is None:
            self.failures.append(f"{step}: no job")
            self.say(f"  ✗ {step}: no job was created")
            return
        mark = "✓" if job["state"] == state else "✗"
        if job["state"] != state:
            self.failures.append(f"{step}: {job['app']} is {job['state']}, expected {state}")
        self.say(
            f"  {mark} {job['app']} job #{job['id']} ({job['trigger']}) at {job['commit'][:7]}: "
            f"{job['state']}: {job['message']}"
        )

    # -- the story ------------------------------------------------------------------

    def play(self) -> None:
        repo = self.repo
        files = {**sample.app_files("shop"), **sample.app_files("billing")}
        first, changed = repo.commit(files, "Add the shop and billing apps")
        self.say("1/5 first deploy: push to main (shop syncs by itself; billing is manual)")
        jobs = self.settle(
            self.deliver(
                "push", sample.push_event(sample.REPO, "0" * 40, first, changed, "Add apps")
            )
        )
        self.expect("first deploy", jobs.get("shop"), "succeeded")
        self.expect("first deploy", jobs.get("billing"), "out_of_sync")

        self.say("2/5 pull request #1: scale the shop to two replicas (a preview, nothing applied)")
        repo.git("checkout", "--quiet", "-b", "feature")
        head, _ = repo.commit(sample.app_files("shop", replicas=2), "Scale the shop to 2")
        repo.git("update-ref", "refs/pull/1/head", head)
        opened = sample.pull_request_event(sample.REPO, "opened", 1, head, first)
        jobs = self.settle(self.deliver("pull_request", opened))
        self.expect("preview", jobs.get("shop"), "succeeded")

        self.say("3/5 merge pull request #1 (GitHub sends a push and a closed pull request)")
        repo.git("checkout", "--quiet", "main")
        repo.git("merge", "--quiet", "--no-ff", "-m", "Merge pull request #1", "feature")
        merged = repo.head()
        push = sample.push_event(sample.REPO, first, merged, ["apps/shop/app.yaml"], "Merge #1")
        jobs_list = self.deliver("push", push)
        closed = sample.pull_request_event(sample.REPO, "closed", 1, head, first, merge=merged)
        jobs_list += self.deliver("pull_request", closed)
        jobs = self.settle(jobs_list)
        self.expect("merge", jobs.get("shop"), "succeeded")

        self.say("4/5 a failing change: a container port out of range, pushed to main")
        broken = sample.app_files("shop", replicas=2)["apps/shop/app.yaml"].replace(
            "containerPort: 8080", "containerPort: 99999"
        )
        bad, changed = repo.commit({"apps/shop/app.yaml": broken}, "Use port 99999")
        jobs = self.settle(
            self.deliver(
                "push", sample.push_event(sample.REPO, merged, bad, changed, "Use port 99999")
            )
        )
        self.expect("failing change", jobs.get("shop"), "failed")

        self.say("5/5 manual approval of billing (as `webhook-deployer approve billing`)")
        answer = requests.post(
            f"{self.url}/api/apps/billing/sync",
            headers={"Authorization": f"Bearer {self.admin}"},
            json={},
            timeout=60,
        )
        if answer.status_code != 202:
            raise DemoError(f"the approval was refused: {answer.text}")
        jobs = self.settle([answer.json()["job"]])
        self.expect("approval", jobs.get("billing"), "succeeded")


class DemoError(Exception):
    """The demo could not run (no control plane, serve did not start): one line to print."""


def run(
    *,
    workdir: Path | None,
    port: int,
    kubeconfig: Path | None,
    exit_after: float | None,
    keep: bool,
    out: Callable[[str], None] = print,
) -> int:
    """Play the demo; 0 when every step ended as expected. With ``exit_after`` None it
    waits for Ctrl-C after the story, so the page can be explored."""
    made = workdir is None
    where = workdir or Path(tempfile.mkdtemp(prefix="webhook-deployer-demo-"))
    demo = Demo(where, port or _free_port(), kubeconfig, out=out)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        demo.start()
        demo.play()
        outcome = "every step ended as expected" if not demo.failures else "; ".join(demo.failures)
        demo.say(f"done: {outcome}")
        demo.say(f"the page: {demo.url}/   (API: {demo.url}/api/apps)")
        demo.say(
            f"try: DEPLOYER_SERVER={demo.url} DEPLOYER_TOKEN={demo.admin} webhook-deployer status"
        )
        if exit_after is None:
            demo.say("Ctrl-C stops the deployer, the GitHub stand-in and the cluster")
            while True:
                time.sleep(3600)
        time.sleep(exit_after)
    except KeyboardInterrupt:
        pass
    except DemoError as exc:
        out(f"error: {exc}")
        demo.failures.append(str(exc))
    finally:
        demo.stop()
        if made and not keep:
            shutil.rmtree(where, ignore_errors=True)
    return 1 if demo.failures else 0
