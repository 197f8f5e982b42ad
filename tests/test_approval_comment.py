"""The merge's PR comment says what awaits approval and how to give it, and, once given,
who approved what: delivered by the reporter to the local GitHub API server."""

from __future__ import annotations

from pathlib import Path

from tests.access import REPO, Origin, manual_config, pending_plan
from tests.github.api_server import GitHubApiServer, client_for
from webhook.comments import DEPLOY_MARKER, ZWJ
from webhook.model import SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.reporter import Reporter


def _comment(github: GitHubApiServer) -> str:
    [comment] = [
        c for c in github.comments[(REPO.lower(), 7)] if c["body"].startswith(DEPLOY_MARKER)
    ]
    return str(comment["body"])


def test_the_pr_comment_tells_how_to_approve_then_who_approved(
    tmp_path: Path, store: SqlStore, github_api: GitHubApiServer
) -> None:
    origin = Origin(tmp_path)
    config = manual_config(origin, public_url="https://deployer.example")
    reporter = Reporter(store, config, client_for(github_api), settle=0)
    plan = pending_plan(store, origin.head)
    reporter.deliver_pending()
    waiting = _comment(github_api)
    assert f"waits for approval of `{origin.head[:7]}`" in waiting
    assert "commenting `/deploy approve guestbook`" in waiting
    assert f"Approve button on [job {plan}](https://deployer.example/jobs/{plan})" in waiting

    pending = store.get(plan)
    assert pending is not None
    request = SyncRequest(
        app="guestbook",
        repo=REPO,
        commit=origin.head,
        ref="refs/heads/master",
        trigger=Trigger.MANUAL,
        approved=True,
        pull_requests=pending.pull_requests,
    )
    job, _ = ApprovalLog(store).approve(
        request, who="writer", how="comment", detail="c", pending=pending
    )
    reporter.deliver_pending()
    approved = _comment(github_api)
    assert f"approved by @{ZWJ}writer via comment" in approved
    assert f"job {job.id}" in approved and "waits for approval" not in approved
