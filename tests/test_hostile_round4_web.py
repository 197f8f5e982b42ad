"""Round 4, the page and the API: nothing a signed-in user was shown stays in a cache.

A private repository's plan (its diff, object names, errors, who approved) was answered
with no ``Cache-Control`` at all: a browser kept the page on disk after sign-out for the
next user of that browser, and a shared proxy between the user and the deployer was free
to store it (a 200 is heuristically cacheable) and hand it to someone else.

Sign-in runs the real OAuth code flow against the local GitHub API server; the browser is
Flask's test client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.access import Origin, github_env, manual_config, pending_plan, setup_github, sign_in
from tests.github.api_server import GitHubApiServer
from webhook.queue import SqlStore
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
