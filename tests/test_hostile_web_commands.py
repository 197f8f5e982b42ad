"""An outsider spams ``/deploy`` comments: each is a signed ``issue_comment`` built from
GitHub's published example, queued by the receiver and run by the worker against the local
GitHub API server. Anyone may comment, so what a refusal costs the deployer must not be
the commenter's to multiply: they are told once, not once per comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.access import REPO, Origin, manual_config, pending_plan, pr_comment, setup_github
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer, client_for
from tests.github.deliveries import Delivery
from webhook.commands import Commands
from webhook.model import Job, StepOutcome
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import Environment
from webhook.web import create_app
from webhook.worker import Worker

SPAM = 5


@pytest.fixture
def env(tmp_path: Path, github_api: GitHubApiServer) -> Environment:
    return Environment(
        webhook_secret=SECRET,
        github_token="ghs_deployer_token",
        github_api_url=github_api.url,
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def web(tmp_path: Path, env: Environment, store: SqlStore, github_api: GitHubApiServer) -> Flask:
    setup_github(github_api)
    return create_app(manual_config(Origin(tmp_path)), env, store)


def _never(job: Job) -> StepOutcome:
    raise AssertionError(f"job {job.id} ({job.trigger}) reached the sync step")


def _comment(login: str, user_id: int, comment_id: int) -> Any:
    payload = pr_comment("/deploy approve guestbook", login=login, user_id=user_id)
    payload["comment"]["id"] = comment_id
    return payload


def test_an_outsider_spamming_commands_is_told_once_not_once_per_comment(
    web: Flask, store: SqlStore, env: Environment, github_api: GitHubApiServer
) -> None:
    from webhook.web.context import deployer

    pending_plan(store, "a" * 40)
    client: FlaskClient = web.test_client()
    comments = [_comment("stranger", 103, 9000 + n) for n in range(SPAM)]
    comments.append(_comment("reader", 102, 9100))  # someone else is told on their own
    for payload in comments:
        sent = Delivery("issue_comment", payload, SECRET)
        assert (
            client.post("/webhooks/github", data=sent.body, headers=sent.headers()).status_code
            == 202
        )
    github = client_for(github_api, "ghs_deployer_token")
    worker = Worker(
        store, Commands(_never, github, store, deployer(web).config, env), lease_seconds=60
    )
    outcomes = [worker.run_once() for _ in comments]
    messages = [job.message for job in outcomes if job is not None]
    assert messages == [
        "refused: stranger has no access",
        *["refused: stranger has no access (already told)"] * (SPAM - 1),
        "refused: reader has read access",
    ]
    posted = [c for c in github_api.calls if c.method == "POST" and c.path.endswith("/comments")]
    assert len(posted) == 2
    replies = [c["body"] for c in github_api.comments[(REPO.lower(), 7)]]
    assert sum("stranger" in r for r in replies) == 1 and sum("reader" in r for r in replies) == 1
    assert ApprovalLog(store).recent() == []
