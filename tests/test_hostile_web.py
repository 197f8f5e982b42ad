"""Hostile HTTP clients against the receiver, the approval endpoint and the pages (issue #8).

Each case runs against the Flask test client; where framing matters (chunked bodies, slow
clients) it runs against a real ``webhook-deployer web`` process too.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask import Flask
from flask.testing import FlaskClient

from tests import gitrepo
from tests.conftest import SECRET
from tests.github.deliveries import Delivery, github_signature
from tests.github.examples import branch_push, merged_pull_request
from tests.processes import free_port, spawn, wait_ready
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app
from webhook.web.context import deployer

URL = "/webhooks/github"
ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def signed_headers(body: bytes, **extra: str) -> dict[str, str]:
    return {**Delivery("push", {}, SECRET).headers(body), **extra}


def chunked(body: bytes, size: int = 4096) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def all_jobs(store: SqlStore) -> int:
    return sum(len(store.jobs_for_app(a)) for a in ("guestbook", "redis", "docs", "staging"))


# --- the receiver, through the Flask test client ---------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["json", "form-urlencoded"])
def test_signed_deeply_nested_json_is_a_400(
    client: FlaskClient, store: SqlStore, form: bool
) -> None:
    body = nested(100_000)
    if form:
        body = b"payload=" + body
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    response = client.post(
        URL, data=body, headers=signed_headers(body, **{"Content-Type": content_type})
    )
    assert response.status_code == 400
    assert "RecursionError" in response.get_json()["error"]
    assert all_jobs(store) == 0


@pytest.mark.parametrize("action", [["opened"], {"a": 1}], ids=["list", "object"])
def test_signed_payload_with_a_field_of_the_wrong_type_is_a_400(
    client: FlaskClient, store: SqlStore, action: Any
) -> None:
    payload = merged_pull_request("d" * 40)
    payload["action"] = action
    delivery = Delivery("pull_request", payload, SECRET)
    response = client.post(URL, data=delivery.body, headers=delivery.headers())
    assert response.status_code == 400
    assert "wrong type" in response.get_json()["error"]
    assert all_jobs(store) == 0


def _chunked_post(client: FlaskClient, body: bytes) -> Any:
    """What gunicorn hands the app for a chunked request: no length, a terminated stream."""
    return client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers={**signed_headers(body), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_the_limit_is_a_413_not_a_cut_body(
    client: FlaskClient, store: SqlStore, app: Flask
) -> None:
    limit = deployer(app).env.max_body_bytes
    # Signed over the first ``limit`` bytes: a receiver that cut the body would accept it.
    payload = json.dumps(branch_push()).encode()
    body = payload + b" " * (limit - len(payload)) + b"tail beyond the limit"
    headers = signed_headers(body[:limit], **{"Transfer-Encoding": "chunked"})
    response = client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert all_jobs(store) == 0


def test_chunked_body_within_the_limit_is_read_whole(client: FlaskClient, store: SqlStore) -> None:
    body = json.dumps(branch_push()).encode()
    response = _chunked_post(client, body)
    assert response.status_code == 202, response.get_json()
    assert all_jobs(store) == 3


@pytest.mark.parametrize("token", ["tökén", "\u00ff" * 30, "admin-token-for-tests\u00e9"])
def test_non_ascii_bearer_token_is_a_401(client: FlaskClient, store: SqlStore, token: str) -> None:
    # Header values travel as latin-1; werkzeug hands them to the app as str.
    response = client.post(
        "/api/apps/guestbook/sync",
        headers={"Authorization": f"Bearer {token}"},
        json={"revision": "a" * 40},
    )
    assert response.status_code == 401
    assert all_jobs(store) == 0


def test_sync_body_nested_deep_is_a_400(client: FlaskClient, store: SqlStore) -> None:
    response = client.post("/api/apps/guestbook/sync", headers=ADMIN, data=nested(100_000))
    assert response.status_code == 400
    assert all_jobs(store) == 0


# --- the pages escape what repositories, tools and jobs wrote ---------------------------


def failed_job(app: Flask, message: str, error: str) -> int:
    """A manual job of app ``docs`` that failed with ``message`` and ``error``: its id."""
    store = deployer(app).store
    store.enqueue(
        [
            SyncRequest(
                app="docs",
                repo="o/r",
                commit="a" * 40,
                ref="refs/heads/master",
                trigger=Trigger.MANUAL,
            )
        ]
    )
    job = store.claim("w", lease_seconds=30)
    assert job is not None
    outcome = StepOutcome(state=JobState.FAILED, message=message, result={"error": error})
    store.finish(job.id, "w", outcome)
    return job.id


def test_pages_escape_markup_in_job_messages_and_errors(client: FlaskClient, app: Flask) -> None:
    job_id = failed_job(
        app,
        'render failed: <script>alert("message")</script>',
        "ConfigMap <script>alert('error')</script> <img src=x> is invalid",
    )
    for page in (client.get("/").data, client.get(f"/jobs/{job_id}").data):
        assert b"<script>" not in page and b"<img" not in page
        assert b"&lt;script&gt;alert(" in page
    assert b"&lt;script&gt;alert(&#39;error&#39;)" in client.get(f"/jobs/{job_id}").data
    with client.get("/static/style.css") as css:
        assert css.status_code == 200 and b".failed" in css.data


# --- approvals: the branch head, or a commit the branch reaches -------------------------


class Origin:
    """A real repository served over file://: master with two commits, a PR branch on top."""

    def __init__(self, tmp: Path) -> None:
        self.path = gitrepo.init(tmp / "origin", branch="master")
        self.old = gitrepo.commit(self.path, {"apps/guestbook/a.yaml": "a: 1\n"}, "first")
        self.head = gitrepo.commit(self.path, {"apps/guestbook/a.yaml": "a: 2\n"}, "second")
        gitrepo.git(self.path, "checkout", "--quiet", "-b", "feature")
        self.pr_head = gitrepo.commit(self.path, {"apps/guestbook/a.yaml": "a: evil\n"}, "pr")
        gitrepo.git(self.path, "checkout", "--quiet", "master")


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


@pytest.fixture
def manual_client(
    config: DeployerConfig, env: Environment, store: SqlStore, origin: Origin
) -> FlaskClient:
    raw = config.model_dump()
    raw["repos"] = {"Codertocat/Hello-World": {"clone_url": f"file://{origin.path}"}}
    for app in raw["apps"]:
        app["auto_sync"] = False
    return create_app(DeployerConfig.model_validate(raw), env, store).test_client()


def test_approval_without_revision_deploys_the_branch_head_not_a_newer_preview(
    manual_client: FlaskClient, store: SqlStore, origin: Origin
) -> None:
    store.enqueue(
        [
            SyncRequest(
                app="guestbook",
                repo="Codertocat/Hello-World",
                commit=origin.pr_head,
                ref="refs/pull/7/head",
                trigger=Trigger.PREVIEW,
                pull_requests=(PullRequestRef(number=7, head_sha=origin.pr_head),),
            )
        ]
    )
    assert store.jobs_for_app("guestbook", limit=1)[0].commit == origin.pr_head
    response = manual_client.post("/api/apps/guestbook/sync", headers=ADMIN)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    assert job["commit"] == origin.head and job["approved"] is True


def test_approving_a_pr_head_not_on_the_branch_is_a_409(
    manual_client: FlaskClient, store: SqlStore, origin: Origin
) -> None:
    response = manual_client.post(
        "/api/apps/guestbook/sync", headers=ADMIN, json={"revision": origin.pr_head}
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert origin.pr_head in error and "not on branch 'master'" in error
    assert store.jobs_for_app("guestbook") == []


def test_approving_a_commit_unknown_to_the_repository_is_a_409(
    manual_client: FlaskClient, store: SqlStore
) -> None:
    response = manual_client.post(
        "/api/apps/guestbook/sync", headers=ADMIN, json={"revision": "e" * 40}
    )
    assert response.status_code == 409 and "does not exist" in response.get_json()["error"]
    assert store.jobs_for_app("guestbook") == []


def test_approving_an_older_commit_on_the_branch_is_a_202(
    manual_client: FlaskClient, store: SqlStore, origin: Origin
) -> None:
    response = manual_client.post(
        "/api/apps/guestbook/sync", headers=ADMIN, json={"revision": origin.old}
    )
    assert response.status_code == 202, response.get_json()
    assert store.jobs_for_app("guestbook")[0].commit == origin.old


# --- a real ``webhook-deployer web`` process --------------------------------------------


class Web:
    """``webhook-deployer web`` with one gunicorn process of two threads: few enough that
    a handful of slow clients would hold every thread of the stock gthread worker."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "web.log"
        config = tmp / "deployer.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apps": [
                        {
                            "name": "web",
                            "repo": "Codertocat/Hello-World",
                            "branch": "master",
                            "path": "apps/web",
                            "namespace": "web",
                        }
                    ],
                    "repos": {"Codertocat/Hello-World": {"clone_url": f"file://{tmp}/none.git"}},
                }
            )
        )
        env = {
            "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
            "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp / 'deployer.db'}",
            "DEPLOYER_MAX_BODY_BYTES": str(64 * 1024),
            "DEPLOYER_REQUEST_TIMEOUT": "3",
            "DEPLOYER_LOG_LEVEL": "DEBUG",
        }
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = spawn(
            "web", config, self.port, env, log=self.log, extra=["--workers", "1", "--threads", "2"]
        )
        wait_ready(self.url, self.proc, self.log_path)

    def jobs(self) -> list[Any]:
        apps = requests.get(f"{self.url}/api/apps", timeout=5).json()["apps"]
        return [a["latest_job"] for a in apps if a["latest_job"]]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """One process for the module: each test compares the jobs before and after, and none
    kills it; its start-up (a second or more) is paid once."""
    server = Web(tmp_path_factory.mktemp("web"))
    yield server
    server.close()


def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b'"' in answer.split(b"\r\n\r\n", 1)[1]:
                break
        return answer


def _head(body: bytes, signature_over: bytes) -> bytes:
    return (
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: push\r\nX-GitHub-Delivery: d-1\r\nConnection: close\r\n"
        b"X-Hub-Signature-256: " + github_signature(SECRET, signature_over).encode() + b"\r\n"
    )


def test_real_server_refuses_a_chunked_body_over_the_limit(web: Web) -> None:
    before = web.jobs()
    # A commit no other test sends: had the cut body been accepted, its job would show.
    payload = json.dumps({**branch_push(), "after": "e" * 40}).encode()
    limit = 64 * 1024
    body = payload + b" " * (limit - len(payload)) + b"tail beyond the limit"
    head = _head(body, body[:limit]) + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = raw_request(web.port, head + chunked(body))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert web.jobs() == before


def test_real_server_reads_a_chunked_body_within_the_limit(web: Web) -> None:
    body = json.dumps(branch_push()).encode()
    head = _head(body, body) + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = raw_request(web.port, head + chunked(body, 100))
    assert answer.startswith(b"HTTP/1.1 202"), answer[:300]
    assert [j["commit"] for j in web.jobs()] == [branch_push()["after"]]
    # DEPLOYER_LOG_LEVEL reaches the receiver inside the gunicorn worker.
    assert "signature verified" in web.log_path.read_text()


def _trickle(port: int, data: bytes, stop: threading.Event, opened: list[socket.socket]) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    opened.append(sock)
    for byte in data:
        if stop.is_set():
            break
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        stop.wait(0.2)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_32_slow_clients_leave_healthz_answering_within_a_second(web: Web, framing: str) -> None:
    body = json.dumps(branch_push()).encode()
    if framing == "chunked":
        slow = _head(body, body) + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 10)
    else:
        slow = _head(body, body) + b"Content-Length: %d\r\n\r\n" % len(body) + body
    stop = threading.Event()
    opened: list[socket.socket] = []
    threads = [
        threading.Thread(target=_trickle, args=(web.port, slow, stop, opened), daemon=True)
        for _ in range(32)
    ]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # every slow client has sent a few bytes: the stock worker is stuck
        assert len(opened) == 32
        for _ in range(5):
            started = time.monotonic()
            response = requests.get(f"{web.url}/healthz", timeout=1)
            assert response.status_code == 200
            assert time.monotonic() - started < 1.0
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        for sock in opened:
            sock.close()


def test_real_server_closes_a_request_still_arriving_after_the_timeout(web: Web) -> None:
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
        started = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 2.0 < waited < 6.0


@pytest.mark.parametrize("size", [b"-5", b"+5", b"0x5", b"zz"])
def test_real_server_refuses_a_malformed_chunk_size_at_once(web: Web, size: bytes) -> None:
    before = web.jobs()
    body = b"{}"
    head = _head(body, body) + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = raw_request(web.port, head + size + b"\r\nhello\r\n0\r\n\r\n", timeout=5)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert web.jobs() == before
