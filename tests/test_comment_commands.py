"""``/deploy`` comments on a pull request: signed like GitHub's deliveries (from its published
``issue_comment`` example), verified, deduplicated and queued at once by the receiver; the
author's permission is checked by the worker against the local GitHub API server, which
then approves, refreshes the preview, or replies with a refusal."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.access import REPO, Origin, manual_config, pending_plan, pr_comment, setup_github
from tests.conftest import SECRET
from tests.github.api_server import DEPLOYER, GitHubApiServer, client_for
from tests.github.deliveries import Delivery
from tests.github.examples import example
from webhook.commands import Commands, reply_marker
from webhook.model import Job, JobState, StepOutcome, Trigger
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import Environment
from webhook.web import create_app
from webhook.worker import Worker

COMMENT_ID = 492700400  # the published example's comment


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


@pytest.fixture
def env(tmp_path: Path, github_api: GitHubApiServer) -> Environment:
    return Environment(
        webhook_secret=SECRET,
        github_token="ghs_deployer_token",
        github_api_url=github_api.url,
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def web(origin: Origin, env: Environment, store: SqlStore, github_api: GitHubApiServer) -> Flask:
    setup_github(github_api)
    return create_app(manual_config(origin, public_url="https://deployer.example"), env, store)


@pytest.fixture
def client(web: Flask) -> FlaskClient:
    return web.test_client()


def _never(job: Job) -> StepOutcome:
    raise AssertionError(f"job {job.id} ({job.trigger}) reached the sync step")


def _worker(web: Flask, store: SqlStore, env: Environment, github: GitHubApiServer) -> Worker:
    from webhook.web.context import deployer

    step = Commands(
        _never, client_for(github, "ghs_deployer_token"), store, deployer(web).config, env
    )
    return Worker(store, step, lease_seconds=60)


def _deliver(client: FlaskClient, payload: Any, delivery: str | None = None) -> Any:
    sent = Delivery("issue_comment", payload, SECRET)
    if delivery is not None:
        sent.delivery = delivery
    return client.post("/webhooks/github", data=sent.body, headers=sent.headers())


def _replies(github: GitHubApiServer) -> list[str]:
    return [
        c["body"]
        for c in github.comments.get((REPO.lower(), 7), [])
        if c["body"].startswith(reply_marker(COMMENT_ID))
    ]


def test_a_writer_approves_the_pending_commit_from_the_pull_request(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
) -> None:
    plan = pending_plan(store, origin.head)
    answer = _deliver(client, pr_comment("/deploy approve guestbook\n\nLGTM"))
    assert answer.status_code == 202
    [queued] = answer.get_json()["jobs"]
    # The receiver asked GitHub nothing: the permission check is the worker's.
    assert github_api.calls == []
    command = store.get(queued["id"])
    assert command is not None and command.trigger is Trigger.COMMAND
    assert store.get(plan).state is JobState.OUT_OF_SYNC  # not superseded by the command
    done = _worker(web, store, env, github_api).run_once()
    assert done is not None and done.id == command.id and done.state is JobState.SUCCEEDED
    [approval] = ApprovalLog(store).for_job(plan)
    assert (approval.who, approval.how, approval.commit) == ("writer", "comment", origin.head)
    assert approval.detail.endswith(f"#issuecomment-{COMMENT_ID}")
    deploy = store.get(approval.job_id)
    assert deploy is not None and deploy.approved and deploy.commit == origin.head
    assert [pr.number for pr in deploy.pull_requests] == [7]  # its PR comment follows it
    [reply] = _replies(github_api)
    assert f"Approved `{origin.head[:7]}`" in reply and f"jobs/{deploy.id}" in reply
    assert github_api.comments[(REPO.lower(), 7)][0]["user"]["login"] == DEPLOYER["login"]


@pytest.mark.parametrize(
    ("login", "user_id", "access"), [("reader", 102, "read access"), ("stranger", 103, "no access")]
)
def test_a_reader_or_a_stranger_gets_a_polite_refusal(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
    login: str,
    user_id: int,
    access: str,
) -> None:
    plan = pending_plan(store, origin.head)
    _deliver(client, pr_comment("/deploy approve guestbook", login=login, user_id=user_id))
    done = _worker(web, store, env, github_api).run_once()
    assert done is not None and done.message == f"refused: {login} has {access}"
    [reply] = _replies(github_api)
    assert "needs write access" in reply and access in reply
    assert "@" + "\u200d" + login in reply  # named, but no mention notifies
    assert ApprovalLog(store).recent() == []
    assert store.get(plan).state is JobState.OUT_OF_SYNC
    assert [j.id for j in store.jobs_for_app("guestbook") if j.approved] == []


def test_the_same_comment_delivered_twice_is_queued_once(
    client: FlaskClient, store: SqlStore, origin: Origin
) -> None:
    payload = pr_comment("/deploy approve guestbook")
    first = _deliver(client, payload, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = _deliver(client, payload, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 202 and len(first.get_json()["jobs"]) == 1
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert len([j for j in store.jobs_for_app("guestbook") if j.trigger is Trigger.COMMAND]) == 1


def test_a_command_run_twice_approves_and_replies_once(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
) -> None:
    pending_plan(store, origin.head)
    _deliver(client, pr_comment("/deploy approve guestbook"))
    worker = _worker(web, store, env, github_api)
    command = worker.run_once()
    assert command is not None
    # A worker that died after acting runs the job again: nothing is doubled.
    outcome = worker.step(command)
    assert outcome.message.startswith("already approved")
    assert len(ApprovalLog(store).recent()) == 1 and len(_replies(github_api)) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"action": "edited"}, "only new comments"),
        ({"action": "deleted"}, "only new comments"),
    ],
)
def test_edits_and_deletions_are_no_commands(
    client: FlaskClient, change: dict[str, Any], reason: str
) -> None:
    answer = _deliver(client, pr_comment("/deploy approve guestbook", **change))
    assert answer.status_code == 202 and reason in answer.get_json()["ignored"]


def test_bots_issues_and_other_text_are_no_commands(client: FlaskClient) -> None:
    bot = pr_comment("/deploy approve guestbook")
    bot["comment"]["user"]["type"] = "Bot"
    assert "bots do not command" in _deliver(client, bot).get_json()["ignored"]
    issue = pr_comment("/deploy approve guestbook")
    del issue["issue"]["pull_request"]
    assert "not issues" in _deliver(client, issue).get_json()["ignored"]
    ours = pr_comment("<!-- webhook-deployer -->\ncomment `/deploy approve guestbook`")
    assert "not a /deploy command" in _deliver(client, ours).get_json()["ignored"]
    other = pr_comment("/deploy approve infra")  # an app of another repository
    assert "no app named 'infra'" in _deliver(client, other).get_json()["ignored"]


def test_the_deployers_own_comment_is_ignored_by_the_worker(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
) -> None:
    pending_plan(store, origin.head)
    _deliver(client, pr_comment("/deploy approve guestbook", login="deployer", user_id=4242))
    done = _worker(web, store, env, github_api).run_once()
    assert done is not None and "own comment" in done.message
    assert ApprovalLog(store).recent() == [] and _replies(github_api) == []


def test_approving_a_commit_not_on_the_branch_is_refused_in_a_reply(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
) -> None:
    _deliver(client, pr_comment(f"/deploy approve guestbook@{'e' * 40}"))
    done = _worker(web, store, env, github_api).run_once()
    assert done is not None and done.message.startswith("refused")
    [reply] = _replies(github_api)
    assert reply.startswith(reply_marker(COMMENT_ID)) and "Not approved" in reply
    assert ApprovalLog(store).recent() == []


def test_a_writer_refreshes_the_preview(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
) -> None:
    head = "c" * 40
    # GitHub's own pull request (its published example), at this test's commits: the local
    # server checks every answer against the REST description.
    pull = copy.deepcopy(example("pull_request")["pull_request"])
    pull["number"] = 7
    pull.setdefault("auto_merge", None)  # in the REST answer, not in the older webhook example
    pull["head"].update(sha=head, ref="feature")
    pull["base"].update(sha=origin.head, ref="master")
    assert pull["head"]["repo"]["full_name"] == pull["base"]["repo"]["full_name"] == REPO
    github_api.pulls[(REPO.lower(), 7)] = pull
    _deliver(client, pr_comment("/deploy diff guestbook"))
    done = _worker(web, store, env, github_api).run_once()
    assert done is not None and done.message.startswith("preview queued")
    [preview] = [j for j in store.jobs_for_app("guestbook") if j.trigger is Trigger.PREVIEW]
    assert preview.commit == head and preview.diff_base is None
    assert [pr.number for pr in preview.pull_requests] == [7]
    assert "Refreshing the preview" in _replies(github_api)[0]


def test_a_refused_command_does_not_make_drift_replace_the_waiting_plan(
    client: FlaskClient,
    web: Flask,
    store: SqlStore,
    env: Environment,
    github_api: GitHubApiServer,
    origin: Origin,
) -> None:
    """A command job records no deployment: the drift check still sees the waiting plan."""
    from webhook.drift import DriftPoller
    from webhook.web.context import deployer

    class Probe:
        def head(self, app: Any) -> str:
            return origin.head

        def live_drift(self, app: Any, revision: str) -> bool:
            return True

    plan = pending_plan(store, origin.head)
    _deliver(client, pr_comment("/deploy approve guestbook", login="reader", user_id=102))
    assert _worker(web, store, env, github_api).run_once() is not None
    config = deployer(web).config
    guestbook = config.app("guestbook")
    assert guestbook is not None
    assert DriftPoller(config, store, Probe(), 300).check(guestbook) is None
    assert store.get(plan).state is JobState.OUT_OF_SYNC
