"""The reporter's edges that mutation testing found unguarded: a rollback's status naming
its pause, links and contexts built from configured prefixes and URLs. The reporter over a
real SQLite store and the local GitHub API server."""

from __future__ import annotations

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from tests.test_reporter import HEAD, MERGE, OK, PR, Clock, clock, merge, preview, run
from webhook.comments import DEPLOY_MARKER, PREVIEW_MARKER
from webhook.model import JobState, Pause, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig

__all__ = ["clock"]  # the fixture, shared with tests/test_reporter.py

CONTEXT = "deploy/guestbook"


def manual(store: SqlStore, commit: str) -> None:
    request = SyncRequest(
        app="guestbook", repo=REPO, commit=commit, ref="refs/heads/master", trigger=Trigger.MANUAL
    )
    store.enqueue([request])


def description(github_api: GitHubApiServer, sha: str) -> str:
    status = github_api.last_status(REPO, sha, CONTEXT)
    assert status is not None
    return str(status["description"])


def test_a_rollback_s_status_says_the_app_is_paused_there_and_by_whom(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    store.pauses.put(Pause(app="guestbook", commit=MERGE, by="token:ops", paused_at=clock.now))
    manual(store, MERGE)
    run(store, OK)
    reporter.deliver_pending()
    assert (
        description(github_api, MERGE)
        == f"paused: rolled back to 1111111 by token:ops; {OK.message}"
    )
    # A manual sync of another commit than the paused one, and a failed rollback: no pause.
    manual(store, "2" * 40)
    run(store, OK)
    manual(store, MERGE)
    run(store, StepOutcome(state=JobState.FAILED, message="apply: denied"))
    reporter.deliver_pending()
    assert description(github_api, "2" * 40) == OK.message
    assert description(github_api, MERGE) == "apply: denied"


def test_a_push_that_succeeded_is_not_called_paused(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """Only a rollback (a manual job) is the pause: a merge's job at the same commit,
    finished before the pause was set, says what it did."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    merge(store)
    run(store, OK)
    store.pauses.put(Pause(app="guestbook", commit=MERGE, by="token:ops", paused_at=clock.now))
    reporter.deliver_pending()
    assert description(github_api, MERGE) == OK.message


def test_links_and_contexts_follow_the_configured_prefix_and_url(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """A ``public_url`` ending in ``/`` gives no ``//`` in any link, and a context prefix is
    used as given (its preview twin with ``-preview`` before the last ``/``)."""
    config = config.model_copy(
        update={"public_url": "https://deployer.example/X/", "status_context_prefix": "ci/X/"}
    )
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    job = merge(store)
    queued = preview(store)
    reporter.deliver_pending()
    link = f"https://deployer.example/X/jobs/{job.id}"
    status = github_api.last_status(REPO, MERGE, "ci/X/guestbook")
    assert status is not None and status["target_url"] == link
    twin = github_api.last_status(REPO, HEAD, "ci/X-preview/guestbook")
    assert twin is not None
    assert twin["target_url"] == f"https://deployer.example/X/jobs/{queued.id}"
    deploy, planned = (c["body"] for c in github_api.comments[(REPO.lower(), PR.number)])
    assert f"({link})" in deploy
    assert planned.startswith(f"{PREVIEW_MARKER}\n### Preview of #{PR.number}\n")
    assert f"(https://deployer.example/X/jobs/{queued.id})" in planned


def comment_body(github_api: GitHubApiServer, marker: str) -> str:
    [body] = [
        c["body"]
        for c in github_api.comments[(REPO.lower(), PR.number)]
        if c["body"].startswith(marker)
    ]
    return str(body)


def test_the_deployment_comment_names_its_pull_request_and_who_approved(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    request = SyncRequest(
        app="guestbook",
        repo=REPO,
        commit=MERGE,
        ref="refs/heads/master",
        trigger=Trigger.MANUAL,
        pull_requests=(PR,),
    )
    job, _ = ApprovalLog(store).approve(request, who="octocat", how="comment")
    run(store, OK)
    reporter.deliver_pending()
    body = comment_body(github_api, DEPLOY_MARKER)
    assert body.startswith(f"{DEPLOY_MARKER}\n### Deployments of #{PR.number}\n")
    assert "`1111111` approved by @\u200doctocat via comment," in body
    assert body.rstrip().endswith(f": job {job.id}")


def test_the_deployment_comment_holds_each_app_s_newest_merge_job_only(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """A preview job of the same pull request is not a deployment (it has its own comment),
    a job read past it is still listed, and a late report of an older job does not put it
    back in place of the newer one of its app."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    merge(store, app="docs")
    preview(store, app="redis")
    older = merge(store, app="guestbook")
    reporter.deliver_pending()
    claimed = [store.claim("w", lease_seconds=60) for _ in range(3)]  # all three run
    assert older.id in [job.id for job in claimed if job is not None]
    newer = merge(store, commit="2" * 40, app="guestbook")  # queued behind the running one
    reporter.deliver_pending()
    store.finish(older.id, "w", OK)  # its report comes after the newer job's
    reporter.deliver_pending()
    rows = [line for line in comment_body(github_api, DEPLOY_MARKER).splitlines() if "| `" in line]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| docs", "`1111111`"],
        ["| guestbook", "`2222222`"],
    ], rows
    assert f"job {newer.id}" in rows[1] and "queued" in rows[1]
    assert "redis" in comment_body(github_api, PREVIEW_MARKER)


def test_a_silent_job_says_nothing_and_every_acknowledged_report_is_counted(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    """A job whose scope is unknown yet (a diff base to narrow against) posts no status and
    no comment; its report, a stale one and a delivered one are each counted once."""
    reporter = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    unknown = SyncRequest(
        app="redis",
        repo=REPO,
        commit=MERGE,
        ref="refs/heads/master",
        trigger=Trigger.MERGE,
        pull_requests=(PR,),
        diff_base="parent",
    )
    store.enqueue([unknown])
    merge(store)
    claimed = store.claim("w", lease_seconds=60)  # redis runs: its queued report is stale
    assert claimed is not None and claimed.app == "redis"
    assert len(store.pending_reports()) == 3
    assert reporter.deliver_pending() == 3
    assert github_api.states(REPO, MERGE, "deploy/redis") == []
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending"]
    assert "redis" not in comment_body(github_api, DEPLOY_MARKER)
