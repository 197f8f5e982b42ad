"""Hostile visitors of the page and the API, beyond what ``test_signin`` and
``test_access_tokens`` cover: a ``next=`` that a browser would turn into another site, a
page of another site reaching a port-forwarded deployer by DNS rebinding, ``/metrics``
naming apps a signed-in user may not see, and a foreign page framing the Approve button.

Sign-in runs the real OAuth code flow against the local GitHub API server; the browser is
Flask's test client, whose ``Host`` and peer address a test sets as a browser would send
them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.access import (
    PRIVATE,
    READ_TOKEN,
    TOKENS,
    Origin,
    csrf_token,
    github_env,
    manual_config,
    pending_plan,
    setup_github,
    sign_in,
)
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer
from webhook.model import SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import Environment
from webhook.web import create_app


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


@pytest.fixture
def signed(
    tmp_path: Path, github_api: GitHubApiServer, store: SqlStore, origin: Origin
) -> Iterator[FlaskClient]:
    """A browser of a deployer with GitHub sign-in, from a non-loopback address."""
    setup_github(github_api)
    app = create_app(manual_config(origin), github_env(tmp_path, github_api), store)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    yield client


def _loopback(tmp_path: Path, store: SqlStore, origin: Origin, public_url: str | None) -> Flask:
    """The default mode: no OAuth client, no ``auth: none``; pages for loopback callers."""
    env = Environment(webhook_secret=SECRET, cache_dir=tmp_path / "cache", api_tokens=TOKENS)
    return create_app(manual_config(origin, public_url=public_url), env, store)


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\n/evil.example/",
        "/\x00/evil.example/",
        "/apps/" + "x" * 5000,
    ],
    ids=["tab", "newline", "crlf", "nul", "too-long-for-the-cookie"],
)
def test_sign_in_never_redirects_off_site_through_characters_a_browser_drops(
    signed: FlaskClient, github_api: GitHubApiServer, target: str
) -> None:
    """Browsers drop tabs and newlines from a URL (and werkzeug's ``redirect`` drops the
    tab itself): ``/<TAB>/evil.example/`` used to leave as ``Location: //evil.example/``.
    A ``next`` too long for the session cookie is dropped, not left to break the sign-in."""
    sign_in(signed, github_api, "gho_reader", then=target)  # asserts the landing is "/"


@pytest.mark.parametrize("host", ["rebind.evil.example", "rebind.evil.example:8080", "10.0.0.1"])
def test_a_rebound_host_name_gets_nothing_from_a_loopback_deployer(
    tmp_path: Path, store: SqlStore, origin: Origin, host: str
) -> None:
    """A page of any site can make the operator's browser reach ``kubectl port-forward``'s
    127.0.0.1 under a name of its own (DNS rebinding): the peer is loopback, but the
    ``Host`` the browser sends is the page's name, and such a request reads nothing."""
    pending_plan(store, origin.head)
    browser = _loopback(tmp_path, store, origin, None).test_client()
    browser.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    for path in ("/", "/apps/guestbook", "/api/apps", "/api/apps/guestbook/jobs", "/metrics"):
        answer = browser.get(path, headers={"Host": host})
        assert answer.status_code == 403, (path, answer.data)
        assert b"guestbook" not in answer.data and b"Host" in answer.data
    # An API token is no ambient credential a page could borrow: it works under any name.
    token = {"Host": host, "Authorization": f"Bearer {READ_TOKEN}"}
    assert browser.get("/api/apps", headers=token).status_code == 200


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "ui.localhost", "deploy.corp"],
)
def test_loopback_callers_read_under_local_names_and_the_public_host(
    tmp_path: Path, store: SqlStore, origin: Origin, host: str
) -> None:
    browser = _loopback(tmp_path, store, origin, "https://deploy.corp").test_client()
    browser.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    assert browser.get("/api/apps", headers={"Host": host}).status_code == 200
    assert browser.get("/", headers={"Host": host}).status_code == 200


def test_metrics_are_refused_to_a_user_who_cannot_read_every_app(
    signed: FlaskClient, github_api: GitHubApiServer, store: SqlStore
) -> None:
    """``/metrics`` labels every app's series with its name; a reader of one repository
    must not learn the apps of another (the page and the API answer them as nonexistent)."""
    infra = SyncRequest(
        app="infra", repo=PRIVATE, commit="c" * 40, ref="refs/heads/main", trigger=Trigger.PUSH
    )
    store.enqueue([infra])
    sign_in(signed, github_api, "gho_reader")  # reads the examples' repo, not PRIVATE
    refused = signed.get("/metrics")
    assert refused.status_code == 403 and b"infra" not in refused.data
    assert b"API token" in refused.data
    scraped = signed.get("/metrics", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert scraped.status_code == 200 and b'app="infra"' in scraped.data


def test_metrics_answer_a_user_who_reads_every_app(
    signed: FlaskClient, github_api: GitHubApiServer
) -> None:
    github_api.grant(PRIVATE, "reader", "read")
    sign_in(signed, github_api, "gho_reader")
    assert signed.get("/metrics").status_code == 200


def test_no_other_site_can_frame_a_page_or_run_anything_in_it(
    signed: FlaskClient, github_api: GitHubApiServer, store: SqlStore, origin: Origin
) -> None:
    """The Approve button cannot be framed for clickjacking (a sibling subdomain is the
    same site, so ``SameSite=Lax`` sends it the cookie), and the pages allow no script."""
    plan = pending_plan(store, origin.head)
    sign_in(signed, github_api, "gho_writer")
    page = signed.get(f"/jobs/{plan}")
    assert page.status_code == 200 and b'id="approve"' in page.data
    for answer in (page, signed.get("/"), signed.get("/api/apps"), signed.get("/jobs/999")):
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert "script-src" not in policy  # no script at all, whatever else is allowed
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def _writes(app: Flask) -> list[str]:
    """Every route that takes a state-changing method, with its parameters filled in; a
    route added later is probed too, without anyone remembering to list it here."""
    paths = []
    for rule in app.url_map.iter_rules():
        if not (rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
            continue
        if rule.endpoint in ("receiver.receive", "signin.logout"):
            continue  # the signature is its credential; signing out harms nobody
        assert set(rule.arguments) <= {"name", "job_id"}, f"fill in {rule.rule}'s parameters"
        paths.append(rule.rule.replace("<name>", "guestbook").replace("<job:job_id>", "1"))
    return sorted(paths)


def test_no_state_changing_route_yields_to_a_reader_a_page_or_a_missing_csrf_token(
    tmp_path: Path,
    github_api: GitHubApiServer,
    signed: FlaskClient,
    store: SqlStore,
    origin: Origin,
) -> None:
    plan = pending_plan(store, origin.head)
    assert plan == 1
    config = manual_config(origin)
    open_app = create_app(
        config.model_copy(update={"auth": "none"}),
        Environment(webhook_secret=SECRET, cache_dir=tmp_path / "c", api_tokens=TOKENS),
        store,
    )
    loopback = _loopback(tmp_path, store, origin, None)
    routes = _writes(loopback)
    assert len(routes) >= 4, routes  # sync, rollback, resume, the Approve button
    local = loopback.test_client()
    local.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    reader_token = {"Authorization": f"Bearer {READ_TOKEN}"}
    jobs_before = store.jobs_for_app("guestbook")
    for path in routes:
        for who, client, headers in (
            ("loopback", local, {}),
            ("auth none", open_app.test_client(), {}),
            ("read token", local, reader_token),
        ):
            answer = client.post(path, json={}, headers=headers)
            assert answer.status_code in (401, 403), (who, path, answer.status_code)
    sign_in(signed, github_api, "gho_writer")
    for path in routes:  # a writer's browser, made to post by a foreign page: no CSRF token
        answer = signed.post(path, json={})
        assert answer.status_code == 400 and b"CSRF" in answer.data, (path, answer.data)
    sign_in(signed, github_api, "gho_reader")
    token = csrf_token(signed.get(f"/jobs/{plan}").data)
    for path in routes:
        answer = signed.post(path, json={}, headers={"X-CSRFToken": token})
        assert answer.status_code == 403, (path, answer.status_code)
    assert store.jobs_for_app("guestbook") == jobs_before
    assert ApprovalLog(store).recent() == [] and store.pauses.all() == {}


@pytest.mark.parametrize(
    "path",
    [
        "/static/../access.py",
        "/static/..%2faccess.py",
        "/static/%2e%2e/%2e%2e/settings.py",
        "/apps/..%2F..%2Fetc%2Fpasswd",
        "/api/apps/..%2fguestbook",
        "/api/jobs/99999999999999999999999999999999",
        "/jobs/99999999999999999999999999999999",
        "/jobs/-1",
    ],
)
def test_route_parameters_reach_no_file_and_no_other_app(
    tmp_path: Path, store: SqlStore, origin: Origin, path: str
) -> None:
    """A job id past 64 bits used to reach the database and overflow there (a 500)."""
    browser = _loopback(tmp_path, store, origin, None).test_client()
    browser.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    answer = browser.get(path)
    assert answer.status_code == 404, (path, answer.status_code)
    assert b"import" not in answer.data and b"root:" not in answer.data


def test_a_huge_limit_is_bounded_not_an_error(
    tmp_path: Path, store: SqlStore, origin: Origin
) -> None:
    """A number past Python's 4,300-digit parsing limit, or a negative one, reads the
    default or the bound: never a 500."""
    pending_plan(store, origin.head)
    browser = _loopback(tmp_path, store, origin, None).test_client()
    browser.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    for limit in ("9" * 5000, "-5", "1e9", "0x10"):
        answer = browser.get("/api/apps/guestbook/jobs", query_string={"limit": limit})
        assert answer.status_code == 200 and len(answer.get_json()["jobs"]) == 1, limit


def test_a_session_ends_twelve_hours_after_sign_in_however_often_it_is_used(
    signed: FlaskClient, github_api: GitHubApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask signs the session cookie anew on every request (and the CSRF token is written
    into it), so the cookie's own age is the time since the last request: a stolen cookie
    used every few hours lived for ever. The sign-in's own time bounds it."""
    sign_in(signed, github_api, "gho_writer")
    start = time.time()
    for hours in (6, 11.5):
        monkeypatch.setattr(time, "time", lambda hours=hours: start + hours * 3600)
        assert signed.get("/api/apps").status_code == 200  # in use: re-signed each time
    monkeypatch.setattr(time, "time", lambda: start + 13 * 3600)  # 1.5 h after the last
    assert signed.get("/api/apps").status_code == 401
    assert signed.get("/").status_code == 302  # off to sign in again


# --- round 4: nothing a signed-in user was shown stays in a cache ----------------------
# A private repository's plan (diff, object names, errors, who approved) was answered with
# no ``Cache-Control``: a browser kept the page after sign-out for its next user, and a
# shared proxy was free to store it (a 200 is heuristically cacheable) and serve it again.


def test_no_page_or_answer_a_signed_in_user_sees_may_be_stored_by_a_cache(
    signed: FlaskClient, github_api: GitHubApiServer, store: SqlStore, origin: Origin
) -> None:
    plan = pending_plan(store, origin.head)
    sign_in(signed, github_api, "gho_writer")
    answers = {
        path: signed.get(path)
        for path in (
            "/",
            "/apps/guestbook",
            f"/jobs/{plan}",
            "/api/apps",
            "/api/apps/guestbook/jobs",
            f"/api/jobs/{plan}",
        )
    }
    assert b"awaiting approval" in answers[f"/jobs/{plan}"].data  # the private plan itself
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        assert answer.headers.get("Cache-Control") == "no-store", path
    # The stylesheet is no secret: it keeps the caching Flask gives static files.
    with signed.get("/static/style.css") as style:
        assert style.status_code == 200 and style.headers.get("Cache-Control") != "no-store"
