"""GitHub as GitHub answers: lists come in pages (``per_page``, ``page``, ``Link``), answers
match GitHub's response schemas, and the client follows the pages. Against the local GitHub
API server; the reporter over a real SQLite store."""

from __future__ import annotations

import re

import requests

from tests.conftest import REPO
from tests.github import shapes
from tests.github.api_server import GitHubApiServer, client_for
from webhook.comments import DEPLOY_MARKER
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig

SHA = "1" * 40
TOKEN = "ghs_pages-token"
SOMEONE = {"login": "someone", "id": 99, "type": "User"}
#: Only keeps a broken server from hanging the run. Each answer here is checked against
#: GitHub's 13 MB description (~0.1 s, and a full garbage collection over the parsed
#: description can add ~0.4 s): on two loaded cores that is ten times as long.
TIMEOUT = 60


def post_statuses(server: GitHubApiServer, count: int, context: str = "ci/other") -> None:
    """``count`` statuses from another tool (newest listed first). Written into the server's
    state, as through the API but without a request each: the API check costs ~80 ms a call."""
    someone = {"login": "other-ci", "id": 77, "type": "User"}
    for i in range(count):
        body = {"state": "success", "context": f"{context}-{i}", "description": "ok"}
        status = shapes.status(server.url, REPO, SHA, 90_000 + i, body, someone)
        server.statuses.setdefault((REPO.lower(), SHA), []).append(status)


def links(answer: requests.Response) -> dict[str, dict[str, str]]:
    """``rel -> query`` of a ``Link`` header."""
    found = {}
    for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', answer.headers.get("Link", "")):
        query = dict(p.split("=") for p in url.split("?", 1)[1].split("&"))
        found[rel] = query
    return found


def test_lists_come_in_pages_of_30_by_default_and_at_most_100(github_api: GitHubApiServer) -> None:
    post_statuses(github_api, 205)
    url = f"{github_api.url}/repos/{REPO}/commits/{SHA}/statuses"
    first = requests.get(url, timeout=TIMEOUT)
    assert len(first.json()) == 30
    assert links(first) == {
        "next": {"per_page": "30", "page": "2"},
        "last": {"per_page": "30", "page": "7"},
    }
    capped = requests.get(url, params={"per_page": 500, "page": 3}, timeout=TIMEOUT)
    assert len(capped.json()) == 5  # 205 at 100 a page: 100, 100, 5
    assert links(capped) == {
        "prev": {"per_page": "100", "page": "2"},
        "first": {"per_page": "100", "page": "1"},
    }
    middle = requests.get(url, params={"per_page": 100, "page": 2}, timeout=TIMEOUT)
    assert set(links(middle)) == {"next", "last", "prev", "first"}
    # Newest first, and the pages together hold every status once.
    pages = [
        requests.get(url, params={"per_page": 100, "page": n}, timeout=TIMEOUT) for n in (1, 2, 3)
    ]
    contexts = [s["context"] for p in pages for s in p.json()]
    assert contexts == [f"ci/other-{i}" for i in reversed(range(205))]
    one_page = requests.get(url, params={"per_page": 100, "page": 9}, timeout=TIMEOUT)
    assert one_page.json() == []


def test_an_answer_github_could_not_give_fails_the_test() -> None:
    """The server checks its own answers against the response schemas: a stored status that
    lost a field GitHub always sends is caught when it is served."""
    server = GitHubApiServer()
    try:
        post_statuses(server, 1)
        assert server.failures == []
        del server.statuses[(REPO.lower(), SHA)][0]["creator"]
        requests.get(f"{server.url}/repos/{REPO}/commits/{SHA}/statuses", timeout=TIMEOUT)
        [failure] = server.failures
        assert "answer not as GitHub's" in failure and "creator" in failure
    finally:
        server.close()


def test_the_client_finds_a_status_beyond_the_first_page(github_api: GitHubApiServer) -> None:
    client = client_for(github_api, TOKEN)
    client.create_status(REPO, SHA, state="pending", context="deploy/web", description="queued")
    post_statuses(github_api, 150)  # newer: ours is the 151st, on page 2 of 100
    assert client.latest_status(REPO, SHA, "deploy/web") == ("pending", "queued")
    pages = [c.query.get("page", "1") for c in github_api.calls if c.path.endswith("/statuses")]
    assert pages[-2:] == ["1", "2"]
    assert client.latest_status(REPO, SHA, "deploy/missing") is None


def test_the_client_finds_its_comment_beyond_the_first_page(github_api: GitHubApiServer) -> None:
    """101 comments of someone else first: ours is the 102nd, on page 2 of 100. Written into
    the server's state, not POSTed one by one: that many checked requests made this test
    slow enough to time out on a loaded machine, and they are not what it is about. The
    second look-up is a fresh client's (a restart): a client that wrote the comment reads
    it again by its id instead (``test_hostile_web_github``)."""
    client = client_for(github_api, TOKEN)
    others = github_api.comments.setdefault((REPO.lower(), 2), [])
    for i in range(101):
        others.append(shapes.comment(github_api.url, REPO, 2, 80_000 + i, f"c {i}", SOMEONE))
    created = client.upsert_comment(REPO, 2, DEPLOY_MARKER, "first")
    restarted = client_for(github_api, TOKEN)
    assert restarted.upsert_comment(REPO, 2, DEPLOY_MARKER, "second") == created
    ours = [c for c in github_api.comments[(REPO.lower(), 2)] if c["id"] == created]
    assert [c["body"] for c in ours] == [f"{DEPLOY_MARKER}\nsecond"]
    assert len(github_api.comments[(REPO.lower(), 2)]) == 102
    listed = [
        c.query.get("page", "1")
        for c in github_api.calls
        if c.method == "GET" and c.path.endswith("/comments")
    ]
    assert listed == ["1", "2", "1", "2"]  # each look-up read both pages


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_retried_status_is_looked_up_beyond_the_first_page(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer
) -> None:
    """The reporter's look-up before a retried status: the status whose answer was lost is
    on page 2 by the time of the retry (other tools posted since), and is still found."""
    clock = Clock()
    store.clock = clock  # type: ignore[method-assign]
    request = SyncRequest(
        app="guestbook",
        repo=REPO,
        commit=SHA,
        ref="refs/heads/master",
        trigger=Trigger.MERGE,
        pull_requests=(PullRequestRef(number=2, head_sha=SHA),),
    )
    store.enqueue([request])
    reporter = Reporter(store, config, client_for(github_api, TOKEN), clock=clock, settle=0)
    github_api.fail_next(status=502, after_apply=True, method="POST")
    assert reporter.deliver_pending() == 0  # posted; the answer lost
    post_statuses(github_api, 120)
    clock.now += 3600
    assert [r.attempts for r in store.pending_reports()] == [1]
    reporter.deliver_pending()
    assert github_api.states(REPO, SHA, "deploy/guestbook") == ["pending"]
    assert store.pending_reports() == []
    claimed = store.claim("w", lease_seconds=60)
    assert claimed is not None
    store.finish(claimed.id, "w", StepOutcome(state=JobState.SUCCEEDED, message="done"))
    reporter.deliver_pending()
    assert github_api.states(REPO, SHA, "deploy/guestbook") == ["pending", "success"]
