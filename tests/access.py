"""Helpers for the access tests: a deployer with GitHub sign-in against the local GitHub API
server, users of each permission level, a real origin repository, a plan awaiting approval,
and GitHub's own ``issue_comment`` example turned into a pull request comment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask.testing import FlaskClient

from tests import gitrepo
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer
from tests.github.examples import example
from webhook.access import ApiToken, token_hash
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment

REPO = "Codertocat/Hello-World"
PRIVATE = "octo-org/private-infra"
CLIENT_ID = "Iv1.0123456789abcdef"
CLIENT_SECRET = "oauth client secret for tests"
SESSION_SECRET = "session secret for tests, long enough to sign"
#: token -> (login, id, permission on REPO); nobody has any on PRIVATE but ``admin``.
USERS = {
    "gho_writer": ("writer", 101, "write"),
    "gho_reader": ("reader", 102, "read"),
    "gho_stranger": ("stranger", 103, "none"),
}
READ_TOKEN = "dpl_read_token_for_tests"
APPROVE_TOKEN = "dpl_approve_token_for_tests"
TOKENS = (
    ApiToken(name="dashboards", scope="read", sha256=token_hash(READ_TOKEN)),
    ApiToken(name="release-bot", scope="approve", sha256=token_hash(APPROVE_TOKEN)),
)


class Origin:
    """A real repository served over file://: master with two commits."""

    def __init__(self, tmp: Path) -> None:
        self.path = gitrepo.init(tmp / "origin", branch="master")
        self.old = gitrepo.commit(self.path, {"apps/guestbook/a.yaml": "a: 1\n"}, "first")
        self.head = gitrepo.commit(self.path, {"apps/guestbook/a.yaml": "a: 2\n"}, "second")


def setup_github(github: GitHubApiServer) -> None:
    github.oauth_client(CLIENT_ID, CLIENT_SECRET)
    for token, (login, user_id, permission) in USERS.items():
        github.add_user(token, login, user_id)
        github.grant(REPO, login, permission)


def manual_config(origin: Origin, *, public_url: str | None = None) -> DeployerConfig:
    """``guestbook`` (manual) on the examples' repo; ``infra`` on a repo nobody here reads."""
    return DeployerConfig.model_validate(
        {
            "apps": [
                {
                    "name": "guestbook",
                    "repo": REPO,
                    "branch": "master",
                    "path": "apps/guestbook",
                    "namespace": "guestbook",
                    "auto_sync": False,
                },
                {
                    "name": "infra",
                    "repo": PRIVATE,
                    "branch": "main",
                    "path": "infra",
                    "namespace": "infra",
                },
            ],
            "repos": {REPO: {"clone_url": f"file://{origin.path}"}},
            "public_url": public_url,
        }
    )


def github_env(tmp: Path, github: GitHubApiServer, **extra: Any) -> Environment:
    values: dict[str, Any] = {
        "webhook_secret": SECRET,
        "database_url": f"sqlite:///{tmp / 'deployer.db'}",
        "cache_dir": tmp / "cache",
        "github_token": "ghs_deployer_token",
        "github_api_url": github.url,
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "session_secret": SESSION_SECRET,
        "api_tokens": TOKENS,
    }
    return Environment(**{**values, **extra})


def pending_plan(store: SqlStore, commit: str, number: int = 7) -> int:
    """A merge of PR ``number`` whose plan awaits approval (as the worker leaves it)."""
    request = SyncRequest(
        app="guestbook",
        repo=REPO,
        commit=commit,
        ref="refs/heads/master",
        trigger=Trigger.MERGE,
        pull_requests=(PullRequestRef(number=number, head_sha="b" * 40),),
    )
    job = store.enqueue([request]).jobs[0].job
    claimed = store.claim("test-worker", lease_seconds=60)
    assert claimed is not None and claimed.id == job.id
    outcome = StepOutcome(
        state=JobState.OUT_OF_SYNC, message="out of sync: 1 to change; awaiting approval"
    )
    assert store.finish(job.id, "test-worker", outcome) is not None
    return job.id


def sign_in(
    client: FlaskClient, github: GitHubApiServer, token: str, *, then: str = "/"
) -> FlaskClient:
    """The OAuth code flow: our /login, GitHub's authorize page (the user of ``token``
    clicks Authorize), then our callback with the code and the state; ``then`` is the
    ``next`` asked for (the landing page is always "/" in these tests)."""
    github.authorize_as = token
    start = client.get("/login", query_string={"next": then})
    assert start.status_code == 302, start.data
    authorize = start.headers["Location"]
    assert authorize.startswith(f"{github.url}/login/oauth/authorize?")
    back = requests.get(authorize, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    target = urlsplit(back.headers["Location"])
    done = client.get(f"{target.path}?{target.query}")
    assert done.status_code == 302 and done.headers["Location"] == "/", done.data
    return client


def csrf_token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "no CSRF token in the page"
    return found.group(1).decode()


def pr_comment(body: str, *, login: str = "writer", user_id: int = 101, **extra: Any) -> Any:
    """GitHub's published ``issue_comment`` (created) example, on a pull request (GitHub
    adds ``issue.pull_request`` for a PR's comments), by ``login`` with ``body``."""
    payload = example("issue_comment", where={"action": "created"})
    issue, comment = payload["issue"], payload["comment"]
    issue["number"] = 7
    issue["pull_request"] = {
        "url": f"https://api.github.com/repos/{REPO}/pulls/7",
        "html_url": f"https://github.com/{REPO}/pull/7",
        "diff_url": f"https://github.com/{REPO}/pull/7.diff",
        "patch_url": f"https://github.com/{REPO}/pull/7.patch",
    }
    comment["body"] = body
    comment["user"] = {**comment["user"], "login": login, "id": user_id}
    payload.update(extra)
    return payload
