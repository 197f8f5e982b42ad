"""``POST /api/apps/<app>/rollback`` over the Flask test client and a real SQLite store:
who may, what it picks, what it refuses, and what a pause does to the next jobs.
(``test_cli_remote`` drives the same endpoints through a real ``serve`` and cluster.)"""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import REPO
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore

AUTH = {"Authorization": "Bearer admin-token-for-tests"}
A, B, C = "a" * 40, "b" * 40, "c" * 40


def _request(commit: str, trigger: Trigger = Trigger.PUSH, **extra: object) -> SyncRequest:
    return SyncRequest(
        app="guestbook",
        repo=REPO,
        commit=commit,
        ref="refs/heads/master",
        trigger=trigger,
        **extra,  # type: ignore[arg-type]
    )


def _deployed(store: SqlStore, commit: str, state: JobState = JobState.SUCCEEDED) -> None:
    job = store.enqueue([_request(commit)]).jobs[0].job
    claimed = store.claim("w", lease_seconds=60)
    assert claimed is not None and claimed.id == job.id
    store.finish(job.id, "w", StepOutcome(state=state, message=state.value))


def test_rollback_needs_the_token_a_known_app_and_a_json_object(client: FlaskClient) -> None:
    assert client.post("/api/apps/guestbook/rollback").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/apps/guestbook/rollback", headers=wrong).status_code == 401
    assert client.post("/api/apps/nope/rollback", headers=AUTH).status_code == 404
    for body in (b"[1]", b"{", b'{"to": 7}', b'{"reason": []}'):
        answer = client.post("/api/apps/guestbook/rollback", data=body, headers=AUTH)
        assert answer.status_code == 400, body


def test_rollback_refuses_without_an_earlier_success(client: FlaskClient, store: SqlStore) -> None:
    _deployed(store, A)
    _deployed(store, B, JobState.FAILED)
    answer = client.post("/api/apps/guestbook/rollback", headers=AUTH)
    assert answer.status_code == 409
    assert "no successful commit deployed before the current one" in answer.get_json()["error"]
    assert store.pauses.get("guestbook") is None


def test_rollback_goes_to_the_success_before_the_current_one_and_pauses(
    client: FlaskClient, store: SqlStore
) -> None:
    _deployed(store, A)
    _deployed(store, B, JobState.FAILED)
    _deployed(store, C)
    answer = client.post("/api/apps/guestbook/rollback", json={"reason": "bad c"}, headers=AUTH)
    assert answer.status_code == 202, answer.get_json()
    job = answer.get_json()["job"]
    assert (job["commit"], job["trigger"], job["approved"], job["state"]) == (
        A,
        "manual",
        True,
        "queued",
    )
    pause = store.pauses.get("guestbook")
    assert pause is not None and (pause.commit, pause.by, pause.reason) == (
        A,
        "token:admin",
        "bad c",
    )
    listed = {a["name"]: a for a in client.get("/api/apps").get_json()["apps"]}
    assert (
        listed["guestbook"]["paused"]["description"]
        == f"paused: rolled back to {A[:7]} by token:admin"
    )
    assert listed["redis"]["paused"] is None
    page = client.get("/").get_data(as_text=True)
    assert f"paused: rolled back to {A[:7]} by token:admin" in page


def test_a_second_rollback_goes_further_back_not_forward(
    client: FlaskClient, store: SqlStore
) -> None:
    _deployed(store, A)
    _deployed(store, B)
    _deployed(store, C)
    first = client.post("/api/apps/guestbook/rollback", headers=AUTH).get_json()["job"]
    assert first["commit"] == B
    assert store.claim("w", lease_seconds=60) is not None
    store.finish(first["id"], "w", StepOutcome(state=JobState.SUCCEEDED, message="ok"))
    second = client.post("/api/apps/guestbook/rollback", headers=AUTH)
    assert second.status_code == 202 and second.get_json()["job"]["commit"] == A
    assert store.pauses.get("guestbook").commit == A  # type: ignore[union-attr]


def test_rollback_to_a_named_commit_by_prefix(client: FlaskClient, store: SqlStore) -> None:
    _deployed(store, A)
    _deployed(store, B)
    _deployed(store, C)
    answer = client.post("/api/apps/guestbook/rollback", json={"to": A[:7]}, headers=AUTH)
    assert answer.status_code == 202 and answer.get_json()["job"]["commit"] == A
    short = client.post("/api/apps/guestbook/rollback", json={"to": "aaa"}, headers=AUTH)
    assert short.status_code == 409
    failed_only = client.post("/api/apps/guestbook/rollback", json={"to": "d" * 40}, headers=AUTH)
    assert failed_only.status_code == 409


def test_a_paused_app_records_pushes_and_drift_as_skipped_but_runs_approvals_and_previews(
    client: FlaskClient, store: SqlStore
) -> None:
    _deployed(store, A)
    _deployed(store, B)
    rolled = client.post("/api/apps/guestbook/rollback", headers=AUTH).get_json()["job"]
    pushed = store.enqueue([_request(C)]).jobs[0].job
    drift = store.enqueue([_request(C, Trigger.DRIFT)]).jobs[0].job
    for skipped in (pushed, drift):
        assert skipped.state is JobState.OUT_OF_SYNC and skipped.finished_at is not None
        assert skipped.message.startswith(f"paused: rolled back to {A[:7]} by token:admin;")
    # The rollback, queued before them, was not superseded by the skipped push.
    assert store.get(rolled["id"]).state is JobState.QUEUED  # type: ignore[union-attr]
    # Each skipped job is reported (the outbox), so GitHub hears why the commit waits.
    reported = {r.job_id: r.state for r in store.pending_reports(limit=500)}
    assert reported[pushed.id] is JobState.OUT_OF_SYNC
    approved = store.enqueue([_request(C, Trigger.MANUAL, approved=True)]).jobs[0].job
    assert approved.state is JobState.QUEUED
    pr = (PullRequestRef(number=5, head_sha=C),)
    preview = store.enqueue([_request(C, Trigger.PREVIEW, pull_requests=pr)]).jobs[0].job
    assert preview.state is JobState.QUEUED
    # A later deployment (here the approval; after a resume, its job) supersedes the
    # skipped push, so its commit ends with a final status, not a pending one forever.
    assert store.get(pushed.id).state is JobState.SUPERSEDED  # type: ignore[union-attr]
