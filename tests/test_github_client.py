"""The PyGithub wrapper against the local OpenAPI-validated GitHub server: what it sends,
how GitHub's refusals and outages become our two errors, and that no write is doubled."""

from __future__ import annotations

import logging
import time

import pytest

from tests.github.api_server import GitHubApiServer, client_for
from webhook.errors import Unavailable
from webhook.github import GitHubClient, GitHubRejected
from webhook.settings import Environment

REPO = "Codertocat/Hello-World"
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
TOKEN = "ghs_test-token-never-shown"
MARKER = "<!-- webhook-deployer -->"


@pytest.fixture
def client(github_api: GitHubApiServer) -> GitHubClient:
    return client_for(github_api, TOKEN)  # type: ignore[no-any-return]


def test_a_status_is_one_post_with_the_description_cut_to_140(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    client.create_status(
        REPO,
        SHA,
        state="failure",
        context="deploy/guestbook",
        description="x" * 500,
        target_url="https://deployer.example/jobs/1",
    )
    assert [(c.method, c.path) for c in github_api.calls] == [
        ("POST", f"/repos/{REPO}/statuses/{SHA}")
    ]
    posted = github_api.last_status(REPO, SHA, "deploy/guestbook")
    assert posted is not None
    assert posted["state"] == "failure"
    assert len(posted["description"]) == 140 and posted["description"].endswith("…")
    assert posted["target_url"] == "https://deployer.example/jobs/1"


def test_no_credentials_means_no_client() -> None:
    assert GitHubClient.from_env(Environment(webhook_secret=b"s")) is None


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (502, {}, None),
        (503, {"Retry-After": "7"}, 7.0),
        (429, {"Retry-After": "30"}, 30.0),
    ],
    ids=["bad-gateway", "unavailable-retry-after", "secondary-rate-limit"],
)
def test_outages_and_rate_limits_are_unavailable_with_githubs_wait(
    github_api: GitHubApiServer,
    client: GitHubClient,
    status: int,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    github_api.fail_next(status=status, headers=headers)
    with pytest.raises(Unavailable) as caught:
        client.create_status(REPO, SHA, state="pending", context="deploy/a", description="q")
    assert caught.value.retry_after == retry_after
    assert caught.value.__cause__ is not None
    assert len(github_api.calls) == 1, "PyGithub must not retry on its own"


def test_a_rate_limit_403_waits_until_the_reset(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    github_api.rate_limit_next(reset_at=time.time() + 120)
    with pytest.raises(Unavailable) as caught:
        client.create_status(REPO, SHA, state="pending", context="deploy/a", description="q")
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 121


def test_other_4xx_is_a_rejection(github_api: GitHubApiServer, client: GitHubClient) -> None:
    github_api.fail_next(status=422)
    with pytest.raises(GitHubRejected) as caught:
        client.create_status(REPO, SHA, state="pending", context="deploy/a", description="q")
    assert caught.value.status == 422


def test_no_answer_at_all_is_unavailable() -> None:
    server = GitHubApiServer()
    client = client_for(server)
    server.close()
    with pytest.raises(Unavailable):
        client.create_status(REPO, SHA, state="pending", context="deploy/a", description="q")


def test_the_comment_is_created_once_then_edited_in_place(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    first = client.upsert_comment(REPO, 1, MARKER, f"{MARKER}\none")
    second = client.upsert_comment(REPO, 1, MARKER, f"{MARKER}\ntwo")
    client.upsert_comment(REPO, 1, MARKER, f"{MARKER}\ntwo")
    assert first == second
    [comment] = github_api.comments[(REPO.lower(), 1)]
    assert comment["body"] == f"{MARKER}\ntwo"
    assert [c.method for c in github_api.writes()] == ["POST", "PATCH"]


def test_a_lost_answer_to_a_comment_post_is_not_posted_twice(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    github_api.fail_next(status=502, after_apply=True, method="POST")
    with pytest.raises(Unavailable):
        client.upsert_comment(REPO, 1, MARKER, f"{MARKER}\nfirst try")
    client.upsert_comment(REPO, 1, MARKER, f"{MARKER}\nsecond try")
    assert len(github_api.comments[(REPO.lower(), 1)]) == 1
    assert [c.method for c in github_api.writes()] == ["POST", "PATCH"]


def test_other_peoples_comments_are_left_alone(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    github_api.add_user("ghp_reviewer", "reviewer", 77)
    github_api.comment_as("ghp_reviewer", REPO, 1, "LGTM")
    client.upsert_comment(REPO, 1, MARKER, "plan")
    bodies = [c["body"] for c in github_api.comments[(REPO.lower(), 1)]]
    assert bodies == ["LGTM", f"{MARKER}\nplan"]


def test_comment_bodies_are_cut_to_githubs_limit(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    client.upsert_comment(REPO, 1, MARKER, MARKER + "x" * 70_000)
    [comment] = github_api.comments[(REPO.lower(), 1)]
    assert len(comment["body"]) == 65536


def test_a_deployment_is_created_once_per_job_even_after_a_lost_answer(
    github_api: GitHubApiServer, client: GitHubClient
) -> None:
    github_api.fail_next(status=502, after_apply=True, method="POST")
    with pytest.raises(Unavailable):
        client.ensure_deployment(REPO, SHA, environment="prod", job_id=7, description="d")
    found = client.ensure_deployment(REPO, SHA, environment="prod", job_id=7, description="d")
    other = client.ensure_deployment(REPO, SHA, environment="prod", job_id=8, description="d")
    assert found != other
    assert len(github_api.deployments[REPO.lower()]) == 2
    [post] = [c for c in github_api.calls if c.method == "POST"][:1]
    assert post.body["required_contexts"] == [] and post.body["auto_merge"] is False
    client.create_deployment_status(REPO, found, state="in_progress", description="syncing")
    assert github_api.deployment_statuses[found][0]["state"] == "in_progress"


def test_the_token_is_sent_only_as_a_header_and_never_logged(
    github_api: GitHubApiServer, client: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    github_api.fail_next(status=500)
    with pytest.raises(Unavailable):
        client.create_status(REPO, SHA, state="pending", context="deploy/a", description="q")
    client.upsert_comment(REPO, 2, MARKER, "body")
    assert TOKEN not in caplog.text
    assert all(TOKEN not in repr(c) for c in github_api.calls)


def test_an_unknown_endpoint_is_caught_by_the_openapi_check(github_api: GitHubApiServer) -> None:
    import requests

    answer = requests.post(f"{github_api.url}/repos/a/b/not-an-endpoint", json={}, timeout=5)
    assert answer.status_code == 404
    bad = requests.post(
        f"{github_api.url}/repos/a/b/statuses/{SHA}", json={"state": "cancelled"}, timeout=5
    )
    assert bad.status_code == 422
    assert len(github_api.failures) == 2
    github_api.failures.clear()


def test_writes_go_out_in_a_burst_then_one_a_second() -> None:
    from webhook.github import WriteBudget

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = WriteBudget(burst=3, per_second=1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        budget.take()
    assert slept == []  # a merge's few writes are not held back
    budget.take()
    budget.take()
    assert slept == [1.0, 1.0]  # a stream is paced at one a second
    now[0] += 10  # an idle spell refills the burst, up to its size
    for _ in range(3):
        budget.take()
    assert slept == [1.0, 1.0]
    budget.take()
    assert slept == [1.0, 1.0, 1.0]
