"""The real ``webhook-deployer serve`` process (gunicorn + workers), driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests import gitrepo
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push, example
from tests.processes import free_port, spawn, wait_ready

SECRET = b"serve test secret"
ADMIN = "serve-admin-token"


class Server:
    def __init__(self, tmp: Path, database_url: str | None = None) -> None:
        self.tmp = tmp
        self.database_url = database_url or f"sqlite:///{tmp / 'deployer.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "deployer.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "resync_interval": 0,
                    "apps": [
                        {
                            "name": name,
                            "repo": "Codertocat/Hello-World",
                            "branch": "master",
                            "path": f"apps/{name}",
                            "namespace": name,
                        }
                        for name in ("web", "db")
                    ],
                    "repos": {"Codertocat/Hello-World": {"clone_url": f"file://{tmp}/missing.git"}},
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
            "DEPLOYER_DATABASE_URL": self.database_url,
            "DEPLOYER_ADMIN_TOKEN": ADMIN,
            "DEPLOYER_CACHE_DIR": str(self.tmp / "cache"),
            # The repo does not exist: its jobs are retried, this quickly, then fail.
            "DEPLOYER_RETRY_SECONDS": "0.01",
            "KUBECONFIG": str(self.tmp / "no-kubeconfig"),
        }

    def start(self, command: str = "serve") -> None:
        """``serve`` (web and workers), or ``web`` alone."""
        self.log = open(self.tmp / "serve.log", "ab")  # noqa: SIM115
        self.proc = spawn(
            command, self.config, self.port, self.env(), log=self.log, new_session=True
        )
        wait_ready(self.url, self.proc, self.tmp / "serve.log")

    def kill(self, sig: int) -> int:
        assert self.proc is not None
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self.log.close()
        return code

    def deliver(self, delivery: Delivery) -> requests.Response:
        return requests.post(
            f"{self.url}/webhooks/github",
            data=delivery.body,
            headers=delivery.headers(),
            timeout=10,
        )

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.url}{path}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.kill(signal.SIGKILL)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``serve`` for the tests that neither stop nor kill it (start-up is seconds of
    imports per process): each test's checks concern only its own requests."""
    srv = Server(tmp_path_factory.mktemp("shared-serve"))
    srv.start()
    yield srv
    assert srv.proc is not None and srv.proc.poll() is None, "a test stopped the shared serve"
    srv.kill(signal.SIGKILL)


def wait_final(server: Server, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = server.get(f"/api/jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never finished")


def test_serve_accepts_runs_and_reports_jobs_over_http(server: Server) -> None:
    assert server.get("/healthz") == {"status": "ok"}
    assert server.deliver(Delivery("ping", example("ping"), SECRET)).status_code == 200
    delivery = Delivery("push", branch_push(), SECRET)
    accepted = server.deliver(delivery)
    assert accepted.status_code == 202, accepted.text
    jobs = accepted.json()["jobs"]
    assert [j["app"] for j in jobs] == ["web", "db"]
    again = server.deliver(delivery)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    forged = Delivery("push", branch_push(), b"wrong secret")
    assert server.deliver(forged).status_code == 401

    # The worker half picks the jobs up. Its repo does not exist, so they fail, with the
    # reason recorded: the lifecycle ran end to end through the real sync step.
    job = wait_final(server, jobs[0]["id"])
    assert job["state"] == "failed" and job["message"]
    apps = {a["name"]: a for a in server.get("/api/apps")["apps"]}
    assert apps["web"]["latest_job"]["id"] == jobs[0]["id"]
    history = server.get("/api/apps/web/jobs")["jobs"]
    assert [j["id"] for j in history] == [jobs[0]["id"]]
    assert server.kill(signal.SIGTERM) == 0


def test_announced_oversized_body_gets_413_without_being_read(shared_server: Server) -> None:
    server = shared_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: push\r\nX-GitHub-Delivery: big\r\n"
            b"Content-Length: " + str(25 * 1024 * 1024 + 1).encode() + b"\r\n\r\n{"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_killed_serve_keeps_every_accepted_delivery(server: Server) -> None:
    accepted = server.deliver(Delivery("push", branch_push(), SECRET))
    assert accepted.status_code == 202
    ids = [j["id"] for j in accepted.json()["jobs"]]
    server.kill(signal.SIGKILL)
    server.start()
    for job_id in ids:
        job = server.get(f"/api/jobs/{job_id}")
        assert job["commit"] == branch_push()["after"]
    assert server.kill(signal.SIGTERM) == 0


def test_manual_sync_endpoint_needs_the_admin_token(shared_server: Server) -> None:
    server = shared_server
    origin = gitrepo.init(server.tmp / "missing.git", branch="master")
    head = gitrepo.commit(origin, {"apps/web/a.yaml": "a: 1\n"})
    url = f"{server.url}/api/apps/web/sync"
    body = {"revision": head}
    assert requests.post(url, json=body, timeout=10).status_code == 401
    wrong = requests.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    ok = requests.post(url, json=body, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert ok.status_code == 202
    job = ok.json()["job"]
    assert job["trigger"] == "manual" and job["approved"] is True
    assert json.loads(json.dumps(job))["commit"] == head


def test_serve_on_postgresql_keeps_accepted_deliveries_across_a_kill(
    tmp_path: Path, postgres_url: str
) -> None:
    server = Server(tmp_path, postgres_url)
    server.start()
    try:
        accepted = server.deliver(Delivery("push", branch_push(), SECRET))
        assert accepted.status_code == 202
        ids = [j["id"] for j in accepted.json()["jobs"]]
        server.kill(signal.SIGKILL)
        server.start()
        again = server.deliver(Delivery("push", branch_push(), SECRET))
        assert again.status_code == 202 and not any(j["created"] for j in again.json()["jobs"])
        for job_id in ids:
            assert server.get(f"/api/jobs/{job_id}")["commit"] == branch_push()["after"]
        assert server.kill(signal.SIGTERM) == 0
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill(signal.SIGKILL)


def _children(pid: int) -> dict[str, int]:
    """``serve``'s children by role (``web`` or ``worker``), from /proc."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        # NUL-separated, or one string once the process has retitled itself (gunicorn does).
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a killed child, exiting or reaped since the list was read: gone
        role = next((a.decode() for a in argv if a in (b"web", b"worker")), None)
        if role is not None:
            found[role] = int(child)
    return found


def _restarted(server: Server, role: str, old: int) -> int:
    """The pid of ``role``'s new process, once ``serve`` has started one in place of ``old``."""
    assert server.proc is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = _children(server.proc.pid).get(role)
        if pid is not None and pid != old:
            return pid
        time.sleep(0.1)
    raise AssertionError(f"no new {role} process: {(server.tmp / 'serve.log').read_text()[-2000:]}")


def test_serve_starts_a_child_that_died_again_and_keeps_running(server: Server) -> None:
    """The web process killed (as a crash would end it): ``serve`` says so, starts another,
    which answers; the worker killed likewise, and the new one runs the next delivery's
    jobs; SIGTERM still stops everything cleanly."""
    assert server.proc is not None
    before = _children(server.proc.pid)
    assert set(before) == {"web", "worker"}
    os.kill(before["web"], signal.SIGKILL)
    web = _restarted(server, "web", before["web"])
    wait_ready(server.url, server.proc, server.tmp / "serve.log")
    assert server.get("/healthz") == {"status": "ok"}
    os.kill(before["worker"], signal.SIGKILL)
    _restarted(server, "worker", before["worker"])
    accepted = server.deliver(Delivery("push", branch_push(), SECRET))
    assert accepted.status_code == 202, accepted.text
    job = wait_final(server, accepted.json()["jobs"][0]["id"])
    assert job["state"] == "failed" and job["message"]  # run by the new worker (no repo)
    assert _children(server.proc.pid)["web"] == web
    log = (server.tmp / "serve.log").read_text()
    assert f"the web process exited with {-signal.SIGKILL}" in log
    assert f"the worker process exited with {-signal.SIGKILL}" in log
    assert server.proc.poll() is None
    assert server.kill(signal.SIGTERM) == 0
