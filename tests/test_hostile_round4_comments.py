"""Round 4, PR comments: text from a repository makes no link and references no other issue.

A job's message quotes what a repository or a tool wrote (a chart's ``fail`` message, an
error naming a file). GitHub turns a URL or ``www.`` in a comment into a link, and a link
to an issue or pull request, or ``GH-123``, into a cross-reference on that issue's timeline
("webhook-deployer mentioned this"), in any repository GitHub hosts: a pull request's
author could have the deployer's bot spam other projects' issues, or put a phishing link in
a comment that reads as the deployer's own. ``#123`` and mentions were inert already.

The reporter posts to the local GitHub API server (OpenAPI-checked), as in production.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from webhook.comments import ZWJ, escape
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig

PR = PullRequestRef(number=2, head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821")
#: What a chart's ``fail`` could say: every form GitHub links or cross-references.
HOSTILE = (
    "values invalid: see https://github.com/other-org/project/issues/1 and "
    "HTTP://evil.example/login, www.evil.example, GH-7, gh-8"
)
RAW_FORMS = ("https://", "HTTP://", "www.", "GH-7", "gh-8")


@pytest.fixture
def github() -> Iterator[GitHubApiServer]:
    server = GitHubApiServer()
    yield server
    server.close()
    assert server.failures == []


def test_a_url_or_issue_reference_in_a_job_message_is_inert_in_the_comment(
    store: SqlStore, config: DeployerConfig, github: GitHubApiServer
) -> None:
    reporter = Reporter(store, config, client_for(github), settle=0)
    store.enqueue(
        [
            SyncRequest(
                app="guestbook",
                repo=REPO,
                commit=PR.head_sha,
                ref="refs/pull/2/head",
                trigger=Trigger.PREVIEW,
                pull_requests=(PR,),
            )
        ]
    )
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    store.finish(job.id, "w", StepOutcome(state=JobState.FAILED, message=HOSTILE))
    reporter.deliver_pending()
    [comment] = github.comments[(REPO.lower(), PR.number)]
    body = comment["body"]
    for raw in RAW_FORMS:
        assert raw not in body, raw
    # Shown as written: only invisible joiners were added.
    assert "see https:/" + ZWJ + "/github.com/other-org/project/issues/1" in body
    assert f"GH{ZWJ}-7, gh{ZWJ}-8" in body and f"www{ZWJ}.evil.example" in body


def test_words_that_only_look_alike_are_left_as_written() -> None:
    text = "weigh-in at bigh-2, flowww.x and scheme:notaurl"
    assert escape(text) == text
