"""An outsider spams ``/deploy`` comments: each is a signed ``issue_comment`` built from
GitHub's published example, queued by the receiver and run by the worker against the local
GitHub API server. Anyone may comment, so what a refusal costs the deployer must not be
the commenter's to multiply: they are told once, not once per comment."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.access import REPO, Origin, manual_config, pending_plan, pr_comment, setup_github
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer, client_for
from tests.github.deliveries import Delivery
from tests.test_comment_commands import env, origin
from webhook.commands import Commands
from webhook.model import Job, StepOutcome
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import Environment
from webhook.web import create_app
from webhook.worker import Worker

SPAM = 5
__all__ = ["env", "origin"]  # fixtures, shared with tests/test_comment_commands.py


@pytest.fixture
def web(origin: Origin, env: Environment, store: SqlStore, github_api: GitHubApiServer) -> Flask:
    setup_github(github_api)
    return create_app(manual_config(origin), env, store)


def _worker(web: Flask, store: SqlStore, env: Environment, github_api: GitHubApiServer) -> Worker:
    from webhook.web.context import deployer

    github = client_for(github_api, "ghs_deployer_token")
    step = Commands(_never, github, store, deployer(web).config, env)
    return Worker(store, step, lease_seconds=60)


def _deliver(web: Flask, payload: Any) -> None:
    sent = Delivery("issue_comment", payload, SECRET)
    answer = web.test_client().post("/webhooks/github", data=sent.body, headers=sent.headers())
    assert answer.status_code == 202, answer.get_json()


def _never(job: Job) -> StepOutcome:
    raise AssertionError(f"job {job.id} ({job.trigger}) reached the sync step")


def _comment(login: str, user_id: int, comment_id: int) -> Any:
    payload = pr_comment("/deploy approve guestbook", login=login, user_id=user_id)
    payload["comment"]["id"] = comment_id
    return payload


def test_an_outsider_spamming_commands_is_told_once_not_once_per_comment(
    web: Flask, store: SqlStore, env: Environment, github_api: GitHubApiServer
) -> None:
    pending_plan(store, "a" * 40)
    comments = [_comment("stranger", 103, 9000 + n) for n in range(SPAM)]
    comments.append(_comment("reader", 102, 9100))  # someone else is told on their own
    for payload in comments:
        _deliver(web, payload)
    worker = _worker(web, store, env, github_api)
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


def test_a_comment_approves_only_the_merge_of_its_own_pull_request(
    web: Flask, store: SqlStore, env: Environment, github_api: GitHubApiServer, origin: Origin
) -> None:
    """The plan waiting now may be a newer merge than the one the commenter reviewed
    (PR #9 landed after #7): ``/deploy approve`` on #7 does not approve #9's plan. Naming
    the commit still does, as the reply says."""
    plan = pending_plan(store, origin.head, number=9)
    worker = _worker(web, store, env, github_api)
    _deliver(web, _comment("writer", 101, 9200))  # on PR #7
    done = worker.run_once()
    assert done is not None and done.message == f"refused: the pending plan is {origin.head[:7]}"
    assert ApprovalLog(store).recent() == []
    [reply] = [c["body"] for c in github_api.comments[(REPO.lower(), 7)]]
    assert "#9" in reply and "/deploy approve guestbook@&lt;sha&gt;" not in reply
    assert "`/deploy approve guestbook@<sha>`" in reply
    named = _comment("writer", 101, 9201)
    named["comment"]["body"] = f"/deploy approve guestbook@{origin.head}"
    _deliver(web, named)
    done = worker.run_once()
    assert done is not None and done.message.startswith(f"approved {origin.head[:7]}")
    [approval] = ApprovalLog(store).recent()
    assert (approval.who, approval.commit, approval.pending_job_id) == ("writer", origin.head, plan)
