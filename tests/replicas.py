"""Worker replicas as real processes on one PostgreSQL store, applying to the test cluster.

Helpers for the fault tests with several workers (tests/test_replicas.py): an app of many
ConfigMaps in a local git origin, ``webhook-deployer worker`` processes with their own
database URL and kubeconfig (through a ``tests.relay.Relay`` when a test breaks a link),
and reads of the store and the API server's audit log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests import gitrepo
from tests.audit import WRITE_VERBS
from tests.github.api_server import GitHubApiServer
from webhook.model import Job, JobState, SyncRequest, Trigger
from webhook.queue import SqlStore

REPO = "octo-org/replicas"
APP = "shop"
#: Enough objects that an apply takes a while: a kill lands in the middle of it.
OBJECTS = 80


def origin_with_app(origin: Path, namespace: str, version: str) -> str:
    """Commit ``OBJECTS`` ConfigMaps holding ``version`` to the app's folder; the SHA."""
    if not (origin / ".git").exists():
        origin.mkdir(parents=True, exist_ok=True)
        gitrepo.git(origin, "init", "--quiet", "--initial-branch=master")
    folder = origin / "apps" / APP
    folder.mkdir(parents=True, exist_ok=True)
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{n:03d}"},
         "data": {"version": version}}
        for n in range(OBJECTS)
    ]  # fmt: skip
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    gitrepo.git(origin, "add", "-A")
    gitrepo.git(origin, "commit", "--quiet", "-m", f"version {version}")
    return gitrepo.git(origin, "rev-parse", "HEAD")


def write_config(tmp: Path, origin: Path, namespace: str, **extra: Any) -> Path:
    path = tmp / "deployer.yaml"
    app = {"name": APP, "repo": REPO, "branch": "master", "path": f"apps/{APP}"}
    config = {
        "resync_interval": 0,
        "apps": [{**app, "namespace": namespace}],
        "repos": {REPO: {"clone_url": f"file://{origin}"}},
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def push(commit: str) -> SyncRequest:
    return SyncRequest(
        app=APP, repo=REPO, commit=commit, ref="refs/heads/master", trigger=Trigger.PUSH
    )


def kubeconfig_via(kubeconfig: Path, port: int, out: Path) -> Path:
    """``kubeconfig`` with its server at 127.0.0.1:``port`` (a relay); TLS unchanged."""
    data = yaml.safe_load(kubeconfig.read_text())
    for cluster in data["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    out.write_text(yaml.safe_dump(data))
    return out


def server_port(kubeconfig: Path) -> int:
    """The port of ``kubeconfig``'s API server (on 127.0.0.1)."""
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1].rstrip("/"))


def postgres_socket(url: str) -> str:
    """The unix socket path of a ``postgresql://...?host=DIR&port=N`` URL."""
    query = parse_qs(urlsplit(url).query)
    return f"{query['host'][0]}/.s.PGSQL.{query['port'][0]}"


def postgres_via(url: str, port: int) -> str:
    """The same database through a TCP relay on ``port``."""
    return f"postgresql://postgres@127.0.0.1:{port}{urlsplit(url).path}"


class WorkerProcess:
    """``webhook-deployer worker`` in its own session, logging to ``<name>.log``."""

    def __init__(
        self, tmp: Path, name: str, config: Path, env: Mapping[str, str], lease: float = 2.0
    ) -> None:
        self.name = name
        self.log_path = tmp / f"{name}.log"
        argv = [sys.executable, "-m", "webhook.cli", "worker", "--config", str(config)]
        argv += ["--lease-seconds", str(lease), "--concurrency", "1"]
        full_env = {
            **os.environ,
            "GITHUB_WEBHOOK_SECRET": "replicas test secret",
            "DEPLOYER_CACHE_DIR": str(tmp / f"cache-{name}"),
            "DEPLOYER_LOG_FORMAT": "text",
            **env,
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def owns(self, owner: str | None) -> bool:
        return owner is not None and f":{self.proc.pid}:" in owner

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    """``check()``'s first truthy answer; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def final_reports(store: SqlStore, job_id: int) -> list[str]:
    """The final states the outbox holds for the job: what GitHub is told in the end."""
    finals = {s.value for s in JobState if s.final}
    with store.database.read() as cur:
        cur.execute("SELECT state FROM outbox WHERE job_id = ? ORDER BY id", (job_id,))
        return [row["state"] for row in cur.fetchall() if row["state"] in finals]


def first_write_after(audit_log: Path, mark: int) -> bool:
    """Whether the deployer has sent a real (not dry-run) write since ``mark``."""
    if not audit_log.exists():
        return False
    with audit_log.open("rb") as handle:
        handle.seek(mark)
        for line in handle.read().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if (
                str(event.get("userAgent", "")).startswith("webhook-deployer")
                and event.get("verb") in WRITE_VERBS
                and "dryRun=All" not in str(event.get("requestURI", ""))
            ):
                return True
    return False


def retry_delays(log: str) -> list[float]:
    """The pauses a worker's log names before each retry of a job ("retrying in N s")."""
    return [float(d) for d in re.findall(r"; retrying in ([\d.]+)s(?!:)", log)]


def error_then_one_success(github: GitHubApiServer, repo: str, sha: str, context: str) -> None:
    """Wait for ``success`` on ``sha``; GitHub saw ``error`` first (the retries, while the
    outage lasted), never ``failure``, and ``success`` exactly once."""
    wait_for("the success status", lambda: github.states(repo, sha, context)[-1:] == ["success"])
    states = github.states(repo, sha, context)
    assert "error" in states and "failure" not in states
    assert states.index("error") < states.index("success")
    assert states.count("success") == 1


def job_of(store: SqlStore, job_id: int) -> Job:
    """The job with ``job_id``, which must exist."""
    job = store.get(job_id)
    assert job is not None
    return job
