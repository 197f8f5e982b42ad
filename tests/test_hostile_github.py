"""Hostile PR authors and repositories against what the deployer writes to GitHub, on the
local OpenAPI-checked GitHub server, as a token's user and as a GitHub App's bot.

Only our own comment is ever edited (a marker in someone else's comment is ignored), text
from repositories and tools is inert in comments and status descriptions (no HTML, no
mention that notifies, no second marker, no way out of a cell or a fence), and a preview
shows every Secret value as ``<redacted>`` whether or not it would change."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import REPO
from tests.github.api_server import APP_BOT, DEPLOYER, GitHubApiServer, client_for
from tests.test_github_app import APP_ID, INSTALLATION, app_env, key_pair
from webhook.comments import DEPLOY_MARKER, PREVIEW_MARKER, ZWJ
from webhook.github import GitHubClient
from webhook.kube.diff import unified
from webhook.model import Job, JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.objects import ObjectRef
from webhook.queue import SqlStore
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
MERGE = "1" * 40
PR = PullRequestRef(number=2, head_sha=HEAD)
MALLORY = "ghp_mallory-token"
HOSTILE = "<img src=x onerror=alert(1)> @octocat <!-- webhook-deployer:preview --> | `x`"


@dataclass
class Deployer:
    github: GitHubApiServer
    client: GitHubClient
    me: dict[str, Any]


@pytest.fixture(params=["token", "app"])
def deployer(request: pytest.FixtureRequest) -> Iterator[Deployer]:
    """The deployer as a token's user or as the App's bot; Mallory is another user."""
    server = GitHubApiServer()
    server.add_user(MALLORY, "mallory", 666)
    if request.param == "token":
        deployer = Deployer(server, client_for(server), DEPLOYER)
    else:
        private, public = key_pair()
        server.install_app(APP_ID, public, {REPO: INSTALLATION})
        client = GitHubClient.from_env(app_env(server, private), seconds_between_writes=0)
        assert client is not None
        deployer = Deployer(server, client, APP_BOT)
    yield deployer
    server.close()
    assert server.failures == []


def _patched(github: GitHubApiServer) -> list[int]:
    return [int(c.path.rsplit("/", 1)[1]) for c in github.calls if c.method == "PATCH"]


def _comments(github: GitHubApiServer) -> list[dict[str, Any]]:
    return github.comments.get((REPO.lower(), PR.number), [])


def test_a_marker_in_someone_elses_comment_is_ignored(deployer: Deployer) -> None:
    github = deployer.github
    bait = github.comment_as(MALLORY, REPO, PR.number, f"{DEPLOY_MARKER}\nmy words")
    ours = deployer.client.upsert_comment(REPO, PR.number, DEPLOY_MARKER, "first")
    deployer.client.upsert_comment(REPO, PR.number, DEPLOY_MARKER, "second")
    assert ours != bait
    assert _patched(github) == [ours], "only our own comment is edited"
    by_id = {c["id"]: c for c in _comments(github)}
    assert by_id[bait]["body"] == f"{DEPLOY_MARKER}\nmy words"
    assert by_id[ours]["body"] == f"{DEPLOY_MARKER}\nsecond"
    assert by_id[ours]["user"]["login"] == deployer.me["login"]


def test_a_namesake_of_the_deployer_is_not_the_deployer(deployer: Deployer) -> None:
    """A token's user is matched by id (a login can change hands); the App by its bot
    login, which no person can register (``webhook-deployer`` is not ``…[bot]``)."""
    github = deployer.github
    namesake = deployer.me["login"].removesuffix("[bot]")
    github.add_user("ghp_namesake", namesake, 31337)
    bait = github.comment_as("ghp_namesake", REPO, PR.number, f"{DEPLOY_MARKER}\nlook-alike")
    deployer.client.upsert_comment(REPO, PR.number, DEPLOY_MARKER, "table")
    assert bait not in _patched(github)
    assert [c["body"] for c in _comments(github)] == [
        f"{DEPLOY_MARKER}\nlook-alike",
        f"{DEPLOY_MARKER}\ntable",
    ]


def test_who_we_are_is_asked_once_per_client(deployer: Deployer) -> None:
    for body in ("a", "b", "c"):
        deployer.client.upsert_comment(REPO, PR.number, DEPLOY_MARKER, body)
    asked = [c.path for c in deployer.github.calls if c.path in ("/user", "/app")]
    assert asked == (["/app"] if deployer.me is APP_BOT else ["/user"])


# -- text from repositories and tools ---------------------------------------------------


@pytest.fixture
def reporter(store: SqlStore, config: DeployerConfig, deployer: Deployer) -> Reporter:
    return Reporter(store, config, deployer.client, settle=0)


def _finish(store: SqlStore, request: SyncRequest, outcome: StepOutcome) -> Job:
    store.enqueue([request])
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    finished = store.finish(job.id, "w", outcome)
    assert finished is not None
    return finished


def _request(trigger: Trigger, commit: str, app: str = "guestbook") -> SyncRequest:
    ref = "refs/pull/2/head" if trigger is Trigger.PREVIEW else "refs/heads/master"
    return SyncRequest(
        app=app, repo=REPO, commit=commit, ref=ref, trigger=trigger, pull_requests=(PR,)
    )


def test_a_hostile_error_message_is_inert_in_the_comment_and_the_status(
    store: SqlStore, reporter: Reporter, deployer: Deployer
) -> None:
    failed = StepOutcome(state=JobState.FAILED, message=HOSTILE)
    job = _finish(store, _request(Trigger.MERGE, MERGE), failed)
    reporter.deliver_pending()
    [comment] = _comments(deployer.github)
    mention = f"@{ZWJ}octocat"
    assert comment["body"] == (
        f"{DEPLOY_MARKER}\n"
        "### Deployments of #2\n\n"
        "| app | commit | result | changes | link |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| guestbook | `1111111` | ❌ failed: &lt;img src=x onerror=alert(1)&gt; "
        f"{mention} &lt;!-- webhook-deployer:preview --&gt; \\| \\`x\\` | — | job {job.id} |\n"
    )
    status = deployer.github.last_status(REPO, MERGE, "deploy/guestbook")
    assert status is not None
    assert status["description"] == (
        f"\u2039img src=x onerror=alert(1)\u203a {mention} "
        "\u2039!-- webhook-deployer:preview --\u203a | `x`"
    )


def test_a_diff_cannot_close_its_fence_or_fake_a_marker(
    store: SqlStore, reporter: Reporter, deployer: Deployer
) -> None:
    diff = f"+  note: |\n+    ````\n+    {DEPLOY_MARKER}\n+    </details> @octocat\n"
    outcome = StepOutcome(
        state=JobState.SUCCEEDED, message="0 to create, 1 to change", result={"diff": diff}
    )
    _finish(store, _request(Trigger.PREVIEW, HEAD), outcome)
    _finish(
        store, _request(Trigger.MERGE, MERGE), StepOutcome(state=JobState.SUCCEEDED, message="ok")
    )
    reporter.deliver_pending()
    preview, deployments = _comments(deployer.github)
    body = preview["body"]
    assert body.startswith(PREVIEW_MARKER) and body.count("<!--") == 1
    assert "\n`````diff\n" in body and body.count("\n`````") == 2, "a longer fence, closed once"
    assert f"<!{ZWJ}-- webhook-deployer -->" in body
    # The deployment table went to a comment of its own: the preview was not taken for it.
    assert deployments["body"].startswith(DEPLOY_MARKER)
    assert deployments["body"].count("<!--") == 1


# -- Secrets in previews ---------------------------------------------------------------


def _secret(**data: str) -> dict[str, Any]:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    meta = {"name": "creds", "namespace": "shop", "labels": {"rev": "2"}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded}


def test_a_preview_shows_no_oracle_for_a_guessed_secret_value(
    store: SqlStore, reporter: Reporter, deployer: Deployer
) -> None:
    """Two PRs' previews against one live Secret: one guesses its value wrong, one right.

    The comments read the same in every value position; the added key shows, the
    removed one too."""
    ref = ObjectRef("", "Secret", "shop", "creds")
    live = {**_secret(password="the-live-one", old="x"), "metadata": {"name": "creds"}}
    for app, guess in (("guestbook", "wrong-guess"), ("redis", "the-live-one")):
        diff = unified(ref, live, _secret(password=guess, new="y"))
        outcome = StepOutcome(state=JobState.SUCCEEDED, message="plan", result={"diff": diff})
        _finish(store, _request(Trigger.PREVIEW, HEAD, app), outcome)
    reporter.deliver_pending()
    [comment] = _comments(deployer.github)
    body = comment["body"]
    guestbook, redis = (part.rsplit("\njob ", 1)[0] for part in body.split("#### ")[1:])
    assert guestbook.replace("guestbook", "APP") == redis.replace("redis", "APP")
    assert "   password: <redacted>\n" in guestbook
    assert "-  old: <redacted>\n" in guestbook and "+  new: <redacted>\n" in guestbook
    for leaked in ("the-live-one", "wrong-guess", "dGhlLWxpdmUtb25l", "d3JvbmctZ3Vlc3M"):
        assert leaked not in body


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("# Heading", "\\# Heading"),
        ("1. list", "1\\. list"),
        ("- item", "\\- item"),
        ("> quote", "&gt; quote"),
        ("![x](https://evil.example/t.png)", f"!\\[x\\](https:/{ZWJ}/evil.example/t.png)"),
        ("**bold** _it_ ~~gone~~", "\\*\\*bold\\*\\* \\_it\\_ \\~\\~gone\\~\\~"),
        ("@org/team and a@b", f"@{ZWJ}org/team and a@{ZWJ}b"),
        ("line\nbreak\r\n| cell", "line break \\| cell"),
        ("evil\u202egnp.exe\u200b", "evilgnp.exe"),
    ],
    ids=["heading", "list", "bullet", "quote", "image", "emphasis", "mentions", "newlines", "bidi"],
)
def test_escaped_text_is_shown_as_written(text: str, shown: str) -> None:
    from webhook.comments import escape

    assert escape(text) == shown
