"""An old ``/deploy approve`` comment delivered again must not approve again, however many
approvals came since: the comment is looked up exactly, on SQLite and on PostgreSQL.

A hostile or careless redelivery (GitHub's "Redeliver" button, a delivery recovered from
GitHub's deliveries API after the receiver's dedupe row was gone) carries the same comment;
acting on it again would deploy a commit someone approved long ago, maybe rolled back since.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.access import Origin, pending_plan, pr_comment
from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer, client_for
from tests.github.deliveries import Delivery
from tests.test_comment_commands import env, origin, web
from webhook.commands import Commands
from webhook.model import Job, StepOutcome, Trigger
from webhook.queue import SqlStore, open_store
from webhook.queue.audit import ApprovalLog
from webhook.revisions import manual_request
from webhook.settings import Environment
from webhook.web.context import deployer
from webhook.worker import Worker

#: More approvals than the newest-50 window the old lookup searched.
NEWER_APPROVALS = 51
__all__ = ["env", "origin", "web"]  # fixtures, shared with tests/test_comment_commands.py


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """The job store on an SQLite file and on a fresh PostgreSQL database."""
    opened = open_store(database_url)
    assert isinstance(opened, SqlStore)
    yield opened
    opened.close()


def _never(job: Job) -> StepOutcome:
    raise AssertionError(f"job {job.id} ({job.trigger}) reached the sync step")


def _deliver(client: FlaskClient, payload: Any, delivery: str) -> Any:
    sent = Delivery("issue_comment", payload, SECRET)
    sent.delivery = delivery
    return client.post("/webhooks/github", data=sent.body, headers=sent.headers())


def _approved_jobs(store: SqlStore) -> int:
    return len([j for j in store.jobs_for_app("guestbook", limit=500) if j.approved])


def test_an_old_comment_delivered_again_after_51_newer_approvals_approves_nothing(
    web: Flask, store: SqlStore, env: Environment, github_api: GitHubApiServer, origin: Origin
) -> None:
    client = web.test_client()
    github = client_for(github_api, "ghs_deployer_token")
    commands = Commands(_never, github, store, deployer(web).config, env)
    worker = Worker(store, commands, lease_seconds=60)
    pending_plan(store, origin.head)
    comment = pr_comment("/deploy approve guestbook")
    assert _deliver(client, comment, "0b989ba4-242f-11e5-81e1-c7b6966d2516").status_code == 202
    first = worker.run_once()
    assert first is not None and first.message.startswith("approved")
    log = ApprovalLog(store)
    app = deployer(web).config.app("guestbook")
    assert app is not None
    for n in range(NEWER_APPROVALS):
        log.approve(
            manual_request(app, origin.head),
            who="writer",
            how="comment",
            detail=f"https://github.com/Codertocat/Hello-World/pull/7#issuecomment-{n}",
        )
    approvals, jobs = len(log.recent(limit=1000)), _approved_jobs(store)
    assert approvals == NEWER_APPROVALS + 1
    # The same comment again, under a delivery id the receiver has not seen (a recovered
    # delivery, another hook): it is queued, and the worker must recognise it.
    again = _deliver(client, comment, "6f1a36d2-242f-11e5-9d1b-0b3f6cbd7e4a")
    assert again.status_code == 202
    command = store.get(again.get_json()["jobs"][0]["id"])
    assert command is not None and command.trigger is Trigger.COMMAND
    outcome = worker.step(command)  # the approved jobs queued above are not run here
    assert outcome.message == f"already approved: job {log.recent(limit=1000)[-1].job_id}"
    assert len(log.recent(limit=1000)) == approvals and _approved_jobs(store) == jobs


def test_an_earlier_approval_is_found_by_its_comment_and_app_only(store: SqlStore) -> None:
    """The lookup is exact: another app's approval from the same comment is not this one's."""
    log = ApprovalLog(store)
    from webhook.model import SyncRequest

    def request(app: str) -> SyncRequest:
        return SyncRequest(
            app=app, repo="o/r", commit="a" * 40, ref="refs/heads/main", trigger=Trigger.MANUAL
        )

    url = "https://github.com/o/r/pull/1#issuecomment-1"
    _, mine = log.approve(request("one"), who="w", how="comment", detail=url)
    for n in range(NEWER_APPROVALS):
        log.approve(request("one"), who="w", how="comment", detail=f"{url}{n}")
    assert log.earlier("one", url) == mine
    assert log.earlier("two", url) is None
    assert log.earlier("one", url + "x") is None


def test_the_lookup_uses_its_index_not_a_scan(tmp_path: Path) -> None:
    """On SQLite the planner says so; the migration added the index (schema 7)."""
    opened = open_store(f"sqlite:///{tmp_path / 'deployer.db'}")
    assert isinstance(opened, SqlStore)
    try:
        with opened.database.read() as cur:
            cur.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM approvals WHERE app = ? AND detail = ? "
                "ORDER BY id LIMIT 1",
                ("one", "url"),
            )
            plan = " ".join(str(tuple(row)) for row in cur.fetchall())
    finally:
        opened.close()
    assert "USING INDEX approvals_app_detail (app=? AND detail=?)" in plan, plan
