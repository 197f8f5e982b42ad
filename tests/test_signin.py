"""Sign-in with GitHub, against the local GitHub API server: the OAuth code flow, what
each permission level sees and may approve, the state check, CSRF, and forged or expired
session cookies. The Flask test client plays the browser (``test_browser`` uses Chromium)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner

from tests.access import (
    REPO,
    SESSION_SECRET,
    Origin,
    csrf_token,
    github_env,
    manual_config,
    pending_plan,
    setup_github,
    sign_in,
)
from tests.github.api_server import GitHubApiServer
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import ConfigError
from webhook.web import create_app
from webhook.web.access import SESSION_LIFETIME, SIGNED_IN_AT


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


@pytest.fixture
def web(tmp_path: Path, github_api: GitHubApiServer, store: SqlStore, origin: Origin) -> Flask:
    setup_github(github_api)
    return create_app(manual_config(origin), github_env(tmp_path, github_api), store)


@pytest.fixture
def client(web: Flask) -> Iterator[FlaskClient]:
    # Not loopback: sign-in must not lean on where a request comes from.
    client = web.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    yield client


def test_the_oauth_code_flow_signs_a_user_in_and_checks_permissions_with_github(
    client: FlaskClient, github_api: GitHubApiServer
) -> None:
    assert client.get("/").status_code == 302  # nobody yet: off to sign in
    sign_in(client, github_api, "gho_writer")
    page = client.get("/")
    assert page.status_code == 200 and b"writer" in page.data
    asked = [(c.method, c.path) for c in github_api.calls]
    assert ("POST", "/login/oauth/access_token") in asked
    assert ("GET", "/user") in asked
    assert ("GET", f"/repos/{REPO}/collaborators/writer/permission") in asked
    # The code is single-use and the session keeps no GitHub token.
    assert github_api.codes == {}
    assert "gho_writer" not in (client.get_cookie("deployer_session").value or "")


@pytest.mark.parametrize(
    ("token", "sees", "approves"),
    [("gho_writer", True, True), ("gho_reader", True, False), ("gho_stranger", False, False)],
    ids=["write", "read", "none"],
)
def test_write_approves_read_sees_none_sees_nothing(
    client: FlaskClient,
    github_api: GitHubApiServer,
    store: SqlStore,
    origin: Origin,
    token: str,
    sees: bool,
    approves: bool,
) -> None:
    plan = pending_plan(store, origin.head)
    sign_in(client, github_api, token)
    listed = [a["name"] for a in client.get("/api/apps").get_json()["apps"]]
    assert listed == (["guestbook"] if sees else [])  # nobody here reads octo-org/private-infra
    index = client.get("/").data
    assert (b">guestbook<" in index) is sees and b">infra<" not in index
    page = client.get(f"/jobs/{plan}")
    assert page.status_code == (200 if sees else 404)
    assert (b'id="approve"' in page.data) is approves
    if not sees:
        return
    answer = client.post("/api/apps/guestbook/sync", headers={"X-CSRFToken": csrf_token(page.data)})
    assert answer.status_code == (202 if approves else 403), answer.get_json()
    approvals = ApprovalLog(store).for_job(plan)
    if approves:
        job = answer.get_json()["job"]
        assert job["commit"] == origin.head and job["approved"] is True
        assert [(a.who, a.how, a.job_id) for a in approvals] == [("writer", "page", job["id"])]
        shown = client.get(f"/api/jobs/{job['id']}").get_json()["approvals"]
        assert shown[0]["who"] == "writer" and shown[0]["pending_job_id"] == plan
    else:
        assert approvals == [] and len(store.jobs_for_app("guestbook")) == 1


def test_permissions_are_cached_briefly_not_asked_on_every_request(
    client: FlaskClient, github_api: GitHubApiServer
) -> None:
    sign_in(client, github_api, "gho_reader")
    for _ in range(3):
        client.get("/api/apps")
    path = f"/repos/{REPO}/collaborators/reader/permission"
    asked = [c for c in github_api.calls if c.path == path]
    assert len(asked) == 1


def test_the_approve_button_needs_its_csrf_token(
    client: FlaskClient, github_api: GitHubApiServer, store: SqlStore, origin: Origin
) -> None:
    plan = pending_plan(store, origin.head)
    sign_in(client, github_api, "gho_writer")
    page = client.get(f"/jobs/{plan}")
    refused = client.post(f"/jobs/{plan}/approve")
    assert refused.status_code == 400 and b"CSRF" in refused.data
    forged = client.post(f"/jobs/{plan}/approve", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert ApprovalLog(store).for_job(plan) == [] and len(store.jobs_for_app("guestbook")) == 1
    approved = client.post(f"/jobs/{plan}/approve", data={"csrf_token": csrf_token(page.data)})
    assert approved.status_code == 302
    [approval] = ApprovalLog(store).for_job(plan)
    assert (approval.who, approval.how, approval.commit) == ("writer", "page", origin.head)
    trail = client.get(approved.headers["Location"])
    assert b'id="approvals"' in trail.data and b"writer" in trail.data


def test_sign_out_ends_the_session_and_needs_csrf(
    client: FlaskClient, github_api: GitHubApiServer
) -> None:
    sign_in(client, github_api, "gho_reader")
    page = client.get("/")
    assert client.post("/logout").status_code == 400  # no CSRF token: still signed in
    assert client.get("/").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_token(page.data)})
    assert out.status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/api/apps").status_code == 401


def test_a_forged_oauth_state_signs_nobody_in(
    client: FlaskClient, github_api: GitHubApiServer
) -> None:
    github_api.authorize_as = "gho_writer"
    start = client.get("/login")
    import requests

    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    location = back.headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    forged = client.get(f"/oauth/callback?code={code}&state=forged-state")
    assert forged.status_code == 400
    assert client.get("/api/apps").status_code == 401
    assert not any(c.path == "/login/oauth/access_token" for c in github_api.calls)


def _cookie(web: Flask, data: dict[str, object], *, secret: str, age: float = 0) -> str:
    signer = Flask("forger")
    signer.secret_key = secret
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None

    class Back(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    serializer.signer = Back
    return serializer.dumps(data)


@pytest.mark.parametrize(
    ("secret", "age"),
    [
        ("another secret, not the deployer's, long enough", 0.0),
        (SESSION_SECRET, SESSION_LIFETIME.total_seconds() + 60),
    ],
    ids=["forged", "expired"],
)
def test_a_forged_or_expired_session_cookie_is_refused(
    web: Flask, client: FlaskClient, secret: str, age: float
) -> None:
    session = {
        "user": {"login": "writer", "id": 101},
        SIGNED_IN_AT: int(time.time()) - int(age),
        "_permanent": True,
    }
    client.set_cookie("deployer_session", _cookie(web, session, secret=secret, age=age))
    assert client.get("/api/apps").status_code == 401
    assert client.get("/").status_code == 302
    # The same cookie, signed now with the right secret, is accepted: the test forges well.
    session[SIGNED_IN_AT] = int(time.time())
    client.set_cookie("deployer_session", _cookie(web, session, secret=SESSION_SECRET))
    assert client.get("/api/apps").status_code == 200


def test_an_oauth_client_with_auth_none_is_refused_at_start(
    tmp_path: Path, github_api: GitHubApiServer, store: SqlStore, origin: Origin
) -> None:
    config = manual_config(origin).model_copy(update={"auth": "none"})
    with pytest.raises(ConfigError, match="contradicts"):
        create_app(config, github_env(tmp_path, github_api), store)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(
    client: FlaskClient, github_api: GitHubApiServer, target: str
) -> None:
    sign_in(client, github_api, "gho_reader", then=target)  # lands on "/", not the target
