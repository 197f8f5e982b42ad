"""How the reporter works through the outbox, where mutation testing found it unguarded: the
merge-to-status histogram, a report the job has moved past costing no request at all, a
status whose POST landed before a crash looked up instead of posted again, a first post
asking GitHub nothing first, the memory holding exactly what GitHub shows, and the log
lines an operator reads when GitHub is down or refuses a report. The reporter over a real
SQLite store and the local GitHub API server."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from tests.test_reporter import HEAD, MERGE, OK, Clock, clock, merge, preview, reporter, run
from webhook import telemetry
from webhook.model import JobState, PullRequestRef, StepOutcome
from webhook.posted_statuses import SqlPostedStatuses
from webhook.queue import SqlStore
from webhook.reporter import POSTING, Reporter
from webhook.settings import DeployerConfig

__all__ = ["clock", "reporter"]  # the fixtures, shared with tests/test_reporter.py

CONTEXT = "deploy/guestbook"
HISTOGRAM = "deployer_merge_to_status_seconds"


def histogram(app: str) -> tuple[float, float]:
    """(count, sum) of the merge-to-status histogram for ``app``, as a scrape reads it."""
    body, _ = telemetry.exposition()
    found = {
        s.name: s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if s.labels == {"app": app} and s.name in (f"{HISTOGRAM}_count", f"{HISTOGRAM}_sum")
    }
    return found.get(f"{HISTOGRAM}_count", 0.0), found.get(f"{HISTOGRAM}_sum", 0.0)


def status_lookups(github_api: GitHubApiServer) -> list[str]:
    """The ``GET /repos/{repo}/commits/{sha}/statuses`` requests GitHub received."""
    return [
        c.path
        for c in github_api.calls
        if c.method == "GET" and c.path.startswith(f"/repos/{REPO}/commits/")
    ]


def test_a_merge_s_final_status_is_timed_once_from_its_delivery(
    store: SqlStore, reporter: Reporter, clock: Clock
) -> None:
    """Observed when a finished push or merge job's status reaches GitHub, with the time
    since the job was created (the delivery); not for a queued job, nor for a preview. A
    status delivered at once counts zero seconds, not more."""
    before = {app: histogram(app) for app in ("guestbook", "redis", "docs")}
    merge(store)  # guestbook, created at clock.now
    reporter.deliver_pending()  # queued: not final
    clock.now += 7.5
    run(store, OK)
    reporter.deliver_pending()
    merge(store, app="redis")
    run(store, OK)
    reporter.deliver_pending()  # finished and reported at its creation time
    preview(store, app="docs")
    run(store, OK)
    reporter.deliver_pending()
    after = {app: histogram(app) for app in ("guestbook", "redis", "docs")}
    deltas = {
        app: (after[app][0] - before[app][0], after[app][1] - before[app][1]) for app in after
    }
    assert deltas == {"guestbook": (1, 7.5), "redis": (1, 0.0), "docs": (0, 0.0)}


def test_a_report_the_job_has_moved_past_costs_no_request(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """A queued report waits out an outage; meanwhile a restarted reporter (which forgot
    the wait) delivers the job's later reports. When the old report is due at last it is
    the only one left of its job, and it says nothing: not one request reaches GitHub."""
    first = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    job = merge(store)
    github_api.fail_next(status=502)
    assert first.deliver_pending() == 0  # the queued report waits 5 s
    run(store, OK)
    restarted = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    assert restarted.deliver_pending() == 2  # running (stale) and succeeded
    assert github_api.states(REPO, MERGE, CONTEXT) == ["success"]
    before = histogram(job.app)
    sent = len(github_api.calls)
    clock.now += 10
    [old] = store.pending_reports()
    assert old.state is JobState.QUEUED
    assert restarted.deliver_pending() == 1
    assert len(github_api.calls) == sent, github_api.calls[sent:]
    assert store.pending_reports() == []
    assert histogram(job.app) == before


def test_two_reports_of_one_job_in_one_round_deliver_it_once(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    """A second event for a queued merge (another PR) writes a second queued report of the
    same job: the round acknowledges the first without a word and delivers the job once;
    each PR's comment thread is read and written once, each commit gets one status."""
    merge(store)
    other = PullRequestRef(number=3, head_sha="2" * 40)
    merge(store, pull_requests=(other,))
    assert [r.state for r in store.pending_reports()] == [JobState.QUEUED, JobState.QUEUED]
    assert reporter.deliver_pending() == 2
    # (``GET /user``: the client learning its own login once, to know its comments.)
    requests = sorted(f"{c.method} {c.path}" for c in github_api.calls if c.path != "/user")
    assert requests == sorted(
        [f"POST /repos/{REPO}/statuses/{sha}" for sha in (MERGE, HEAD, "2" * 40)]
        + [f"{m} /repos/{REPO}/issues/{n}/comments" for m in ("GET", "POST") for n in (2, 3)]
    )


def test_a_status_whose_post_landed_before_a_crash_is_looked_up_not_posted_again(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """The crashed process wrote its intent (``posting:``) for both commits and was killed
    after GitHub took the merge commit's POST, before the PR head's: its report was never
    retried. The next process asks GitHub for each, posts only the missing one, and
    remembers both as posted."""
    merge(store)
    memory = SqlPostedStatuses(store)
    for sha in (MERGE, HEAD):
        memory.put(REPO, sha, CONTEXT, POSTING + "pending", "queued")
    client_for(github_api).create_status(
        REPO, MERGE, state="pending", context=CONTEXT, description="queued"
    )
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    [report] = store.pending_reports()
    assert report.attempts == 0
    reporter.deliver_pending()
    assert sorted(status_lookups(github_api)) == sorted(
        f"/repos/{REPO}/commits/{sha}/statuses" for sha in (MERGE, HEAD)
    )
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending"]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["pending"]
    for sha in (MERGE, HEAD):
        assert memory.get(REPO, sha, CONTEXT) == ("pending", "queued")


def test_a_first_post_asks_github_nothing_and_the_memory_holds_what_github_shows(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    """Nothing posted before, no intent left: the status is posted without a look-up (each
    costs a request of the rate limit). The memory holds the description GitHub shows, cut
    and made plain, so the next unchanged report is recognised and not posted again."""
    merge(store)
    run(store, StepOutcome(state=JobState.FAILED, message="<b>@octocat</b> " + "denied " * 60))
    reporter.deliver_pending()
    assert status_lookups(github_api) == []
    memory = SqlPostedStatuses(store)
    for sha in (MERGE, HEAD):
        shown = github_api.last_status(REPO, sha, CONTEXT)
        assert shown is not None
        assert len(shown["description"]) == 140
        assert shown["description"].startswith("\u2039b\u203a@\u200docto")
        assert memory.get(REPO, sha, CONTEXT) == ("failure", shown["description"])
        assert memory.get(REPO, sha, "deploy/redis") is None


def test_an_outage_and_a_refusal_are_logged_with_the_job_the_report_and_the_wait(
    store: SqlStore,
    reporter: Reporter,
    github_api: GitHubApiServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The job, GitHub's answer, the report and how long it waits; the job and GitHub's
    reason for a report dropped."""
    job = merge(store)
    [report] = store.pending_reports()
    github_api.fail_next(status=503)
    with caplog.at_level(logging.WARNING, logger="webhook.reporter"):
        reporter.deliver_pending()
    [waits] = [r for r in caplog.records if r.name == "webhook.reporter"]
    assert waits.levelno == logging.WARNING
    message = waits.getMessage()
    assert message.startswith(f"job {job.id}: GitHub unavailable (")
    assert "503" in message
    assert message.endswith(f"); report {report.id} waits 5s")
    caplog.clear()
    clock.now += 10  # the report is due again
    github_api.fail_next(status=422)
    with caplog.at_level(logging.WARNING, logger="webhook.reporter"):
        reporter.deliver_pending()
    [dropped] = [r for r in caplog.records if r.name == "webhook.reporter"]
    assert dropped.levelno == logging.ERROR
    message = dropped.getMessage()
    assert message.startswith(f"job {job.id}: GitHub refused the report, dropping it: ")
    assert "422" in message
