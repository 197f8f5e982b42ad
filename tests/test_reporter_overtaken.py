"""A report overtaken while it is being written: once the job has moved on, the rest of the
old report's writes are dropped and the newer report writes every target. Seen from the
local GitHub API server (the writes it received), over a real SQLite store; the job moves on
from inside the server, between one write and the next, as a fast sync does."""

from __future__ import annotations

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from tests.test_reporter import HEAD, MERGE, OK, Clock, clock, merge, preview
from webhook.model import Job, PullRequestRef
from webhook.queue import SqlStore
from webhook.reporter import SETTLE, Reporter
from webhook.settings import DeployerConfig

__all__ = ["clock"]  # the fixture, shared with tests/test_reporter.py

CONTEXT = "deploy/guestbook"


def running(store: SqlStore) -> Job:
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    return job


def finish_after_first_write(github_api: GitHubApiServer, store: SqlStore, job: Job) -> None:
    """The sync ends while GitHub is answering the first write of the ``pending`` report."""
    github_api.after_write(r"^POST /repos/.+/statuses/", lambda: store.finish(job.id, "w", OK))


def writes(github_api: GitHubApiServer) -> list[tuple[str, str]]:
    return [
        (c.path.rsplit("/", 1)[-1][:7], (c.body or {}).get("state", ""))
        for c in github_api.writes()
    ]


def test_a_sync_ending_mid_report_drops_the_pending_writes_left_and_posts_green_everywhere(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    merge(store)
    job = running(store)
    finish_after_first_write(github_api, store, job)
    assert reporter.deliver_pending() == 2  # the queued report (stale) and the running one
    # Only the merge commit heard "pending": not the PR head, and no comment was written.
    assert writes(github_api) == [(MERGE[:7], "pending")]
    assert reporter.deliver_pending() == 1
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending", "success"]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["success"]
    comments = [c for c in github_api.writes() if "/comments" in c.path]
    assert len(comments) == 1 and OK.message in comments[0].body["body"]


def test_a_report_still_current_is_written_whole(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """The check costs nothing when nothing moved: pending on both commits, and the comment."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    merge(store)
    running(store)
    reporter.deliver_pending()
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending"]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["pending"]
    assert [c for c in github_api.writes() if "/comments" in c.path]


def test_a_sync_ending_mid_report_opens_no_deployment_for_the_pending_state(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """The deployment's write is dropped too: GitHub gets one deployment, straight to success."""
    apps = tuple(
        app.model_copy(update={"deployment_environment": "production"}) for app in config.apps
    )
    config = config.model_copy(update={"apps": apps})
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    merge(store, pull_requests=())  # no pull request: the merge commit's status is the only one
    job = running(store)
    finish_after_first_write(github_api, store, job)
    reporter.deliver_pending()
    assert writes(github_api) == [(MERGE[:7], "pending")]
    reporter.deliver_pending()
    [deployment] = github_api.deployments[REPO.lower()]
    assert [s["state"] for s in github_api.deployment_statuses[deployment["id"]]] == ["success"]


def test_a_sync_ending_mid_report_leaves_the_comment_to_the_newer_report(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """A pull request merged with its head as the merge commit (a fast-forward): one status
    write, then the comment would come; the job has moved on, so it does not."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    merge(store, pull_requests=(PullRequestRef(number=2, head_sha=MERGE),))
    job = running(store)
    finish_after_first_write(github_api, store, job)
    reporter.deliver_pending()
    assert writes(github_api) == [(MERGE[:7], "pending")]
    reporter.deliver_pending()
    comments = [c for c in github_api.writes() if "/comments" in c.path]
    assert len(comments) == 1 and OK.message in comments[0].body["body"]


def test_a_quick_sync_costs_github_only_its_commit_s_pending_and_the_green(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """With the default ``SETTLE``, an under-way report says ``pending`` on the merge commit
    at once and holds the rest back; a sync that ends within it never has the PR head's
    pending status or a pending comment written, whatever the reporter's rounds meanwhile."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock)
    merge(store)
    job = running(store)
    for _ in range(3):  # rounds within the settling time write nothing more
        reporter.deliver_pending()
        clock.now += SETTLE / 4
    assert writes(github_api) == [(MERGE[:7], "pending")]
    store.finish(job.id, "w", OK)
    reporter.deliver_pending()
    assert writes(github_api)[1:3] == [(MERGE[:7], "success"), (HEAD[:7], "success")]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["success"]
    comments = [c for c in github_api.writes() if "/comments" in c.path]
    assert len(comments) == 1 and OK.message in comments[0].body["body"]
    assert store.pending_reports() == []


def test_a_sync_still_running_after_settle_gets_the_rest_of_its_pending_report(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    reporter = Reporter(store, config, client_for(github_api), clock=clock)
    merge(store)
    running(store)
    reporter.deliver_pending()
    assert github_api.states(REPO, HEAD, CONTEXT) == []
    clock.now += SETTLE
    reporter.deliver_pending()
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending"]  # not posted twice
    assert github_api.states(REPO, HEAD, CONTEXT) == ["pending"]
    assert [c for c in github_api.writes() if "/comments" in c.path]
    assert store.pending_reports() == []


def test_a_settling_report_holds_back_no_other_job_s_report(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """Another job's report (here a preview's) behind the settling one is written at once."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock)
    merge(store)
    running(store)
    reporter.deliver_pending()
    preview(store)
    reporter.deliver_pending()
    assert github_api.states(REPO, HEAD, "deploy-preview/guestbook") == ["pending"]
