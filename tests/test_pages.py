"""The status page through Flask's test client: what an app page and a job page show, from job
records written through the real store (SQLite), and that text from repositories (diffs,
object names, errors) stays text. The browser tests are in tests/test_browser_pages.py."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.access import (
    Origin,
    csrf_token,
    github_env,
    manual_config,
    setup_github,
    sign_in,
)
from tests.github.api_server import GitHubApiServer
from tests.pipeline import Clock
from webhook.model import JobState, Pause, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app

REPO = "Codertocat/Hello-World"
SHA = "c0ffee" + "1" * 34
HOSTILE = '<script>alert("x")</script>'
DIFF = (
    "--- live/ConfigMap/shop/web\n"
    "+++ desired/ConfigMap/shop/web\n"
    "@@ -1,3 +1,3 @@\n"
    " data:\n"
    f"-  v: '1 {HOSTILE}'\n"
    "+  v: '2'\n"
)


def _request(app: str, commit: str = SHA, trigger: Trigger = Trigger.PUSH) -> SyncRequest:
    return SyncRequest(app=app, repo=REPO, commit=commit, ref="refs/heads/master", trigger=trigger)


def run(
    store: SqlStore,
    clock: Clock,
    request: SyncRequest,
    state: JobState,
    *,
    took: float = 4.0,
    message: str = "done",
    **result: Any,
) -> int:
    """One job through the store as the worker leaves it, ``took`` seconds long."""
    job = store.enqueue([request]).jobs[0].job
    claimed = store.claim("w", lease_seconds=60)
    assert claimed is not None and claimed.id == job.id
    clock.now += took
    assert store.finish(job.id, "w", StepOutcome(state=state, message=message, result=result))
    clock.now += 60
    return job.id


@pytest.fixture
def clock(store: SqlStore) -> Clock:
    clock = Clock(1_780_000_000.0)
    store.clock = clock  # type: ignore[method-assign]
    return clock


def _config(*, auto_sync: bool = True) -> DeployerConfig:
    return DeployerConfig.model_validate(
        {
            "apps": [
                {"name": "shop", "repo": REPO, "path": "apps/shop", "namespace": "shop"},
                {
                    "name": "admin",
                    "repo": REPO,
                    "path": "apps/admin",
                    "namespace": "admin",
                    "auto_sync": auto_sync,
                },
            ]
        }
    )


def _client(env: Environment, store: SqlStore, **changes: Any) -> FlaskClient:
    return create_app(_config(), replace(env, **changes), store).test_client()


@pytest.fixture
def web(env: Environment, store: SqlStore) -> FlaskClient:
    return _client(env, store)


def text(page: bytes) -> str:
    """The page's visible text, tags dropped and whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.decode()))


def synced(store: SqlStore, clock: Clock, **extra: Any) -> int:
    return run(
        store,
        clock,
        _request("shop"),
        JobState.SUCCEEDED,
        message="2 objects, 1 changed, healthy in 4.0s",
        created=["ConfigMap shop/web"],
        unchanged=["Service shop/web"],
        health=[
            {"object": "ConfigMap shop/web", "status": "Current", "message": "ready"},
            {"object": "Service shop/web", "status": "InProgress", "message": "no endpoints"},
        ],
        hooks=[
            {
                "object": "Job shop/migrate",
                "phase": "PreSync",
                "status": "succeeded",
                "message": "completed",
                "deleted": True,
            },
        ],
        duration=3.9,
        **extra,
    )


def test_app_page_shows_state_health_deployed_commit_last_run_history_and_mode(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    first = synced(store, clock)
    failed = run(
        store,
        clock,
        _request("shop", "d" * 40),
        JobState.FAILED,
        took=2.0,
        message="render failed",
        error="render failed",
        error_kind="render",
    )
    page = web.get("/apps/shop")
    assert page.status_code == 200
    shown = text(page.data)
    assert "failed" in shown and f"#{failed}" in shown
    # The deployed commit is the last success, not the failed newer one, linked to GitHub.
    deployed = re.search(rb'id="deployed">(.*?)</td>', page.data, re.S)
    assert deployed is not None
    assert f'href="https://github.com/{REPO}/commit/{SHA}"'.encode() in deployed.group(1)
    assert f"#{first}".encode() in deployed.group(1)
    assert "took 2.0s" in shown  # the last run: the failed one, 2 seconds long
    assert "InProgress" in text(re.search(rb'id="health".*?</td>', page.data, re.S).group(0))  # type: ignore[union-attr]
    history = re.search(rb'<table id="history">.*?</table>', page.data, re.S)
    assert history is not None and history.group(0).count(b"<tr>") == 3  # header + 2 jobs
    assert "4.0s" in text(history.group(0))
    assert "auto" in text(re.search(rb'id="mode">.*?</td>', page.data, re.S).group(0))  # type: ignore[union-attr]
    assert b'http-equiv="refresh"' not in page.data  # nothing running: no refresh


def test_index_shows_each_app_with_its_state_health_and_deployed_commit(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    synced(store, clock)
    page = web.get("/")
    row = re.search(rb'<tr class="app" id="app-shop">.*?</tr>', page.data, re.S)
    assert row is not None
    shown = text(row.group(0))
    assert "succeeded" in shown and "InProgress" in shown and "4.0s" in shown
    assert f"/{REPO}/commit/{SHA}".encode() in row.group(0)
    assert b'href="/apps/shop"' in row.group(0)
    assert "no job yet" in text(re.search(rb'id="app-admin">.*?</tr>', page.data, re.S).group(0))  # type: ignore[union-attr]


def test_commit_links_go_to_the_github_enterprise_server(
    env: Environment, store: SqlStore, clock: Clock
) -> None:
    job = synced(store, clock)
    web = _client(env, store, github_api_url="https://ghe.example.com/api/v3")
    link = f'href="https://ghe.example.com/{REPO}/commit/{SHA}"'.encode()
    assert link in web.get("/apps/shop").data
    assert link in web.get(f"/jobs/{job}").data
    assert b"github.com/" not in web.get("/").data


def test_pages_with_queued_or_running_work_refresh_themselves(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    done = synced(store, clock)
    queued = store.enqueue([_request("shop", "e" * 40)]).jobs[0].job
    for path in ("/", "/apps/shop", f"/jobs/{queued.id}"):
        assert re.search(rb'<meta http-equiv="refresh" content="\d+">', web.get(path).data), path
    assert b'http-equiv="refresh"' not in web.get(f"/jobs/{done}").data
    assert b'http-equiv="refresh"' not in web.get("/apps/admin").data
    assert b"<script" not in web.get("/apps/shop").data  # no JavaScript anywhere


def test_job_page_lists_objects_with_action_and_health_and_hooks(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    job = synced(store, clock)
    page = web.get(f"/jobs/{job}").data
    objects = re.search(rb'<table id="objects">.*?</table>', page, re.S)
    assert objects is not None
    rows = [text(r) for r in re.findall(rb"<tr class=\"object.*?</tr>", objects.group(0), re.S)]
    assert rows == [
        " ConfigMap shop/web created Current ready ",
        " Service shop/web unchanged InProgress no endpoints ",
    ]
    hooks = re.search(rb'<table id="hooks">.*?</table>', page, re.S)
    assert hooks is not None
    assert "PreSync Job shop/migrate succeeded (deleted) completed" in text(hooks.group(0))
    assert "took 4.0s" in text(page)


def test_failed_job_shows_its_kind_and_first_cause_before_anything_else(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    job = run(
        store,
        clock,
        _request("shop"),
        JobState.FAILED,
        message="apply failed",
        error="ConfigMap shop/web: field is immutable",
        errors=["ConfigMap shop/web: field is immutable", "Service shop/web: port invalid"],
        error_kind="apply",
        failed=[{"object": "ConfigMap shop/web", "error": "field is immutable"}],
        configured=["Service shop/web"],
    )
    page = web.get(f"/jobs/{job}").data
    failure = re.search(rb'<div class="failure" id="failure">.*?</div>', page, re.S)
    assert failure is not None
    assert text(failure.group(0)).strip().startswith("apply ConfigMap shop/web: field is immutable")
    assert "Service shop/web: port invalid" in text(failure.group(0))
    assert page.index(b'id="failure"') < page.index(b'id="objects"')
    rows = re.findall(rb'<tr class="object (\w+)">', page)
    assert rows == [b"failed", b"configured"]  # the failed object first


def test_diff_is_rendered_line_by_line_with_added_and_removed_lines_marked(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    job = run(
        store,
        clock,
        _request("shop", trigger=Trigger.PREVIEW),
        JobState.SUCCEEDED,
        message="0 to create, 1 to change",
        diff=DIFF,
        dry_run=True,
    )
    page = web.get(f"/jobs/{job}").data
    lines = re.findall(rb'<span class="line (\w+)">(.*?)\n</span>', page)
    assert [kind for kind, _ in lines] == [b"file", b"file", b"hunk", b"context", b"del", b"add"]
    assert lines[4][1] == b"-  v: &#39;1 &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;"
    assert lines[5][1] == b"+  v: &#39;2&#39;"


def test_hostile_object_names_hooks_and_errors_are_shown_as_text(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    job = run(
        store,
        clock,
        _request("shop"),
        JobState.FAILED,
        message=HOSTILE,
        error=f"render: {HOSTILE}",
        error_kind=HOSTILE,
        errors=[f"render: {HOSTILE}", f"second {HOSTILE}"],
        created=[f"ConfigMap shop/{HOSTILE}"],
        health=[
            {
                "object": f"ConfigMap shop/{HOSTILE}",
                "status": '"><img src=x onerror=1>',
                "message": HOSTILE,
            }
        ],
        hooks=[{"object": HOSTILE, "phase": HOSTILE, "status": HOSTILE, "message": HOSTILE}],
        diff=f"+{HOSTILE}\n",
    )
    for path in ("/", "/apps/shop", f"/jobs/{job}"):
        page = web.get(path).data
        assert b"<script" not in page and b"<img" not in page, path
        assert b"&lt;script&gt;" in page, path
    page = web.get(f"/jobs/{job}").data
    assert page.count(b"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 9


def test_pause_and_recent_approvals_show_on_the_app_page(
    web: FlaskClient, store: SqlStore, clock: Clock
) -> None:
    synced(store, clock)
    store.pauses.put(
        Pause(app="shop", commit=SHA, by="token:ops", paused_at=clock.now, reason="bad release")
    )
    approved, _ = ApprovalLog(store).approve(
        _request("shop", trigger=Trigger.MANUAL), who="writer", how="page"
    )
    ApprovalLog(store).approve(_request("admin", trigger=Trigger.MANUAL), who="other", how="token")
    page = web.get("/apps/shop").data
    pause = re.search(rb'id="pause">.*?</td>', page, re.S)
    assert pause is not None
    shown = text(pause.group(0))
    assert f"paused: rolled back to {SHA[:7]} by token:ops" in shown and "bad release" in shown
    approvals = re.search(rb'<table id="approvals">.*?</table>', page, re.S)
    assert approvals is not None and "writer page" in text(approvals.group(0))
    assert f"#{approved.id}" in text(approvals.group(0))
    assert "other" not in text(approvals.group(0))  # the admin app's approval
    assert b"rolled back to" in web.get("/").data


def test_unknown_app_is_a_404(web: FlaskClient) -> None:
    assert web.get("/apps/nope").status_code == 404


# --- manual apps: the pending diff and the Approve button --------------------------------


@pytest.fixture
def signed(tmp_path: Path, github_api: GitHubApiServer, store: SqlStore) -> tuple[Any, Origin]:
    setup_github(github_api)
    origin = Origin(tmp_path)
    app = create_app(manual_config(origin), github_env(tmp_path, github_api), store)
    return app, origin


def _plan(store: SqlStore, clock: Clock, commit: str) -> int:
    return run(
        store,
        clock,
        SyncRequest(
            app="guestbook",
            repo=REPO,
            commit=commit,
            ref="refs/heads/master",
            trigger=Trigger.MERGE,
        ),
        JobState.OUT_OF_SYNC,
        message="out of sync: 0 to create, 1 to change; awaiting approval",
        configured=["ConfigMap guestbook/web"],
        dry_run=True,
        diff=DIFF,
    )


def test_manual_app_shows_the_pending_diff_and_approve_for_a_writer_only(
    signed: tuple[Any, Origin], github_api: GitHubApiServer, store: SqlStore, clock: Clock
) -> None:
    app, origin = signed
    plan = _plan(store, clock, origin.head)
    reader = sign_in(app.test_client(), github_api, "gho_reader")
    page = reader.get("/apps/guestbook").data
    assert b'id="pending-diff"' in page and b'<span class="line add">+  v: &#39;2&#39;' in page
    assert "manual" in text(page) and b'id="approve"' not in page

    writer = sign_in(app.test_client(), github_api, "gho_writer")
    page = writer.get("/apps/guestbook").data
    assert b'id="approve"' in page and f"/jobs/{plan}/approve".encode() in page
    answer = writer.post(f"/jobs/{plan}/approve", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 302
    [approval] = ApprovalLog(store).for_job(plan)
    assert approval.who == "writer" and approval.commit == origin.head
    after = writer.get("/apps/guestbook").data
    assert b'id="pending-diff"' not in after  # the approved job is queued: nothing pending
    assert b'http-equiv="refresh"' in after


def test_a_plan_stays_approvable_after_a_merge_found_not_to_touch_its_app(
    signed: tuple[Any, Origin], github_api: GitHubApiServer, store: SqlStore, clock: Clock
) -> None:
    """A merge of unknown scope queued while the plan was still being made replaces nothing
    (only waiting jobs are replaced); narrowing then finds the app untouched and the merge's
    job ends after the plan: the newest job, but not the one awaiting approval."""
    app, origin = signed
    planning = SyncRequest(
        app="guestbook",
        repo=REPO,
        commit=origin.head,
        ref="refs/heads/master",
        trigger=Trigger.PUSH,
    )
    (plan,) = store.enqueue([planning]).jobs
    assert store.claim("w", lease_seconds=60) is not None
    docs_merge = SyncRequest(
        app="guestbook",
        repo=REPO,
        commit="d" * 40,
        ref="refs/heads/master",
        trigger=Trigger.MERGE,
        diff_base="parent",
    )
    (merge,) = store.enqueue([docs_merge]).jobs
    assert store.finish(
        plan.job.id,
        "w",
        StepOutcome(state=JobState.OUT_OF_SYNC, message="awaiting approval", result={"diff": DIFF}),
    )
    assert store.claim("w", lease_seconds=60) is not None
    untouched = StepOutcome(state=JobState.SUCCEEDED, message="no", result={"untouched": True})
    assert store.finish(merge.job.id, "w", untouched)
    newest = [j.id for j in store.jobs_for_app("guestbook")][:2]
    assert newest == [merge.job.id, plan.job.id]
    writer = sign_in(app.test_client(), github_api, "gho_writer")
    page = writer.get("/apps/guestbook").data
    assert b'id="approve"' in page and f"/jobs/{plan.job.id}/approve".encode() in page
    assert b'id="pending-diff"' in page


def test_the_app_page_of_an_app_one_may_not_read_is_a_404(
    signed: tuple[Any, Origin], github_api: GitHubApiServer
) -> None:
    app, _ = signed
    writer = sign_in(app.test_client(), github_api, "gho_writer")
    assert writer.get("/apps/infra").status_code == 404
    assert writer.get("/apps/guestbook").status_code == 200
