"""The read API and probes, over the Flask test client (``test_serve`` drives a real server)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import SECRET
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from webhook.settings import RepoConfig
from webhook.web.context import deployer


def test_probes(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["apps"] == 4


def test_apps_jobs_and_job_views(client: FlaskClient) -> None:
    body = Delivery("push", branch_push(), SECRET)
    jobs = client.post("/webhooks/github", data=body.body, headers=body.headers()).get_json()
    apps = {a["name"]: a for a in client.get("/api/apps").get_json()["apps"]}
    assert apps["guestbook"]["latest_job"]["state"] == "queued"
    assert apps["staging"]["latest_job"] is None
    listed = client.get("/api/apps/guestbook/jobs").get_json()["jobs"]
    assert [j["id"] for j in listed] == [jobs["jobs"][0]["id"]]
    one = client.get(f"/api/jobs/{listed[0]['id']}").get_json()
    assert one["commit"] == branch_push()["after"] and one["trigger"] == "push"


def test_unknown_app_and_job_are_404(client: FlaskClient) -> None:
    assert client.get("/api/apps/nope/jobs").status_code == 404
    assert client.get("/api/jobs/999").status_code == 404
    assert (
        client.post(
            "/api/apps/nope/sync", headers={"Authorization": "Bearer admin-token-for-tests"}
        ).status_code
        == 404
    )


def test_manual_sync_with_bad_revision_or_unreachable_repo(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    auth = {"Authorization": "Bearer admin-token-for-tests"}
    bad = client.post("/api/apps/guestbook/sync", headers=auth, json={"revision": "main"})
    assert bad.status_code == 400
    # The branch head is asked of the repository itself; an unreachable one is a 503 that
    # says so, not a guess from the job records.
    ctx = deployer(app)
    missing = RepoConfig(clone_url=f"file://{tmp_path}/missing.git")
    config = ctx.config.model_copy(update={"repos": {"Codertocat/Hello-World": missing}})
    replace(ctx, config=config).init_app(app)
    down = client.post("/api/apps/guestbook/sync", headers=auth)
    assert down.status_code == 503 and "cannot read the repository" in down.get_json()["error"]


def test_status_pages_show_apps_and_escape_job_text(client: FlaskClient) -> None:
    body = Delivery("push", branch_push(), SECRET)
    job_id = client.post("/webhooks/github", data=body.body, headers=body.headers()).get_json()[
        "jobs"
    ][0]["id"]
    index = client.get("/")
    assert index.status_code == 200 and b"guestbook" in index.data and b"queued" in index.data
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and branch_push()["after"].encode() in page.data
    assert client.get("/jobs/424242").status_code == 404


def test_metrics_are_counted_from_the_records(client: FlaskClient, app: Flask) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from webhook.model import JobState, StepOutcome

    body = Delivery("push", branch_push(), SECRET)
    client.post("/webhooks/github", data=body.body, headers=body.headers())
    store = deployer(app).store
    job = store.claim("w", lease_seconds=30)
    store.finish(job.id, "w", StepOutcome(state=JobState.SUCCEEDED, message="ok"))
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }
    assert samples[("deployer_deliveries_total", ())] == 1
    assert samples[("deployer_jobs", (("app", job.app), ("state", "succeeded")))] == 1
    assert samples[("deployer_jobs_waiting", ())] == 2
    assert samples[("deployer_app_synced", (("app", job.app),))] == 1.0
    assert samples[("deployer_github_reports_pending", ())] == 5  # 3 queued, running, done
    assert samples[("deployer_github_report_lag_seconds", ())] >= 0
