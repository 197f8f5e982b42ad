"""Faults with real processes: what a 202 promised survives the process that gave it."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.processes import DeployerProcess

SECRET = b"faults test secret"


def test_a_web_process_killed_right_after_202_keeps_the_job(
    tmp_path: Path, database_url: str
) -> None:
    env = {"GITHUB_WEBHOOK_SECRET": SECRET.decode(), "DEPLOYER_DATABASE_URL": database_url}
    web = DeployerProcess(tmp_path, env)
    web.start()
    try:
        delivery = Delivery("push", branch_push(), SECRET)
        accepted = requests.post(
            f"{web.url}/webhooks/github", data=delivery.body, headers=delivery.headers(), timeout=10
        )
        web.kill9()  # at once: no graceful shutdown, no chance to flush anything
        assert accepted.status_code == 202, accepted.text
        jobs = {j["id"]: j["app"] for j in accepted.json()["jobs"]}
        assert sorted(jobs.values()) == ["db", "web"]

        web.start()
        for job_id, app in jobs.items():
            job = requests.get(f"{web.url}/api/jobs/{job_id}", timeout=10).json()
            assert (job["app"], job["commit"], job["state"]) == (
                app,
                branch_push()["after"],
                "queued",
            )
        # GitHub's "Redeliver" after the crash sends the same GUID: nothing is doubled.
        again = requests.post(
            f"{web.url}/webhooks/github", data=delivery.body, headers=delivery.headers(), timeout=10
        )
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert web.stop() == 0
    finally:
        if web.proc is not None and web.proc.poll() is None:
            web.kill9()
