"""GitHub Deployments as the reporter keeps them: one per job (found again by its payload),
its statuses linked to the job's page, and a superseded job closing only a deployment it
opened. The reporter over a real SQLite store and the local GitHub API server."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from tests.test_reporter import MERGE, OK, Clock, clock, merge
from webhook.queue import SqlStore
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig

__all__ = ["clock"]  # the fixture, shared with tests/test_reporter.py


@pytest.fixture
def reporter(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> Reporter:
    apps = tuple(
        app.model_copy(update={"deployment_environment": "production"}) for app in config.apps
    )
    config = config.model_copy(update={"apps": apps, "public_url": "https://deployer.example"})
    return Reporter(store, config, client_for(github_api), clock=clock, settle=0)


def test_a_deployment_carries_its_job_and_links_each_status_to_the_job(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store)
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    reporter.deliver_pending()
    store.finish(job.id, "w", OK)
    reporter.deliver_pending()
    [deployment] = github_api.deployments[REPO.lower()]
    assert deployment["payload"] == {"deployer_job": job.id}
    statuses = github_api.deployment_statuses[deployment["id"]]
    assert [s["log_url"] for s in statuses] == [f"https://deployer.example/jobs/{job.id}"] * 2
    assert statuses[-1]["description"] == OK.message
    # Delivered again (a restart that forgot nothing): the same deployment, no new status.
    reporter._deliver(store.get(job.id), retry=True)  # type: ignore[arg-type]
    assert len(github_api.deployments[REPO.lower()]) == 1
    assert len(github_api.deployment_statuses[deployment["id"]]) == 2


def test_a_job_superseded_in_the_queue_opens_no_deployment(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store)
    merge(store, commit="2" * 40)  # supersedes the first before it ran
    reporter.deliver_pending()
    assert github_api.deployments.get(REPO.lower(), []) == []


def test_a_superseded_job_that_ran_closes_its_deployment_as_inactive(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    """A job claimed (deployment in progress) whose lease expired while a newer commit
    waited is superseded: its deployment is closed, not left in progress."""
    first = merge(store)
    job = store.claim("w", lease_seconds=60)
    assert job is not None and job.id == first.id
    reporter.deliver_pending()
    [deployment] = github_api.deployments[REPO.lower()]
    assert deployment["sha"] == MERGE
    merge(store, commit="2" * 40)
    store.clock.now += 3600  # type: ignore[attr-defined]
    reporter.clock.now += 3600  # type: ignore[attr-defined]
    store.claim("w2", lease_seconds=60)  # the first job's lease is gone: it is superseded
    reporter.deliver_pending()
    states = [s["state"] for s in github_api.deployment_statuses[deployment["id"]]]
    assert states[0] == "in_progress" and states[-1] == "inactive"
