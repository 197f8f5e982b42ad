"""A PR author floods the thread the deployer reports to, against the local OpenAPI-checked
GitHub server: the length of a thread is anyone's to make, so what a report costs must not
grow with it (GitHub's 5,000 requests an hour are shared by every app's statuses)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from webhook.comments import PREVIEW_MARKER
from webhook.github import GitHubClient

MALLORY = "ghp_mallory-token"
NUMBER = 2
#: Comments Mallory writes: four pages at PyGithub's default of 30.
FLOOD = 120


@pytest.fixture
def flooded() -> Iterator[tuple[GitHubApiServer, GitHubClient]]:
    server = GitHubApiServer()
    server.add_user(MALLORY, "mallory", 666)
    for n in range(FLOOD):
        server.comment_as(MALLORY, REPO, NUMBER, f"spam {n} {PREVIEW_MARKER if n % 2 else ''}")
    yield server, client_for(server)
    server.close()
    assert server.failures == []


def _listed(server: GitHubApiServer) -> int:
    path = f"/repos/{REPO}/issues/{NUMBER}/comments"
    return sum(1 for c in server.calls if c.method == "GET" and c.path == path)


def test_a_flooded_thread_is_searched_once_not_on_every_report(
    flooded: tuple[GitHubApiServer, GitHubClient],
) -> None:
    server, client = flooded
    server.calls.clear()
    first = client.upsert_comment(REPO, NUMBER, PREVIEW_MARKER, f"{PREVIEW_MARKER}\nplan 1")
    assert _listed(server) <= -(-FLOOD // 100)  # pages of 100: GitHub's most
    server.calls.clear()
    for n in (2, 3, 4):
        again = client.upsert_comment(REPO, NUMBER, PREVIEW_MARKER, f"{PREVIEW_MARKER}\nplan {n}")
        assert again == first
    assert _listed(server) == 0  # our comment is read by its id
    assert [c.method for c in server.calls] == ["GET", "PATCH"] * 3
    ours = [c for c in server.comments[(REPO.lower(), NUMBER)] if c["id"] == first]
    assert ours[0]["body"].endswith("plan 4")


def test_a_deleted_comment_is_written_again(
    flooded: tuple[GitHubApiServer, GitHubClient],
) -> None:
    server, client = flooded
    first = client.upsert_comment(REPO, NUMBER, PREVIEW_MARKER, "plan 1")
    thread = server.comments[(REPO.lower(), NUMBER)]
    thread[:] = [c for c in thread if c["id"] != first]  # someone deleted it on GitHub
    second = client.upsert_comment(REPO, NUMBER, PREVIEW_MARKER, "plan 2")
    assert second != first and [c["body"] for c in thread if c["id"] == second] == [
        f"{PREVIEW_MARKER}\nplan 2"
    ]
