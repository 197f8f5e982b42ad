"""Narrowing's fallbacks, fast (no cluster): a base the repository lacks syncs the app and
says so in a log line naming the job and the reason; a job without a base or without a
configured app is handed to the step as it is, without a diff. Real git, the real store;
the step records what it was given (the cluster end of this is in test_narrow_e2e.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.gitrepo import commit
from tests.test_narrow import RecordingStep, repo
from webhook.engine import SyncEngine
from webhook.model import Job, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment, RepoConfig
from webhook.steps import narrowed

__all__ = ["repo"]  # the fixture, shared with tests/test_narrow.py


def enqueue(store: SqlStore, app: str, sha: str, base: str | None) -> Job:
    request = SyncRequest(
        app=app,
        repo=REPO,
        commit=sha,
        ref="refs/heads/master",
        trigger=Trigger.PUSH,
        diff_base=base,
    )
    return store.enqueue([request]).jobs[0].job


@pytest.fixture
def engine(repo: Path, tmp_path: Path, config: DeployerConfig) -> SyncEngine:
    config = config.model_copy(update={"repos": {REPO: RepoConfig(clone_url=f"file://{repo}")}})
    return SyncEngine(config, Environment(webhook_secret=b"-"), cache_dir=tmp_path / "cache")


class Given(RecordingStep):
    """Records the jobs themselves, not only their apps."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []

    def __call__(self, job: Job) -> StepOutcome:
        self.jobs.append(job)
        return super().__call__(job)


def test_a_base_the_repository_lacks_syncs_and_logs_the_job_and_why(
    repo: Path, engine: SyncEngine, store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    sha = commit(repo, {"apps/redis/r.yaml": "r"})
    job = enqueue(store, "guestbook", sha, "f" * 40)
    step = Given()
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        narrowed(step, engine, store)(job)
    assert [j.id for j in step.jobs] == [job.id]  # synced although the diff was unknown
    [line] = [r for r in caplog.records if r.name == "webhook.steps"]
    message = line.getMessage()
    assert message.startswith(f"job {job.id}: cannot narrow by git diff (")
    assert "f" * 40 in message and message.endswith("); syncing")


def test_a_job_without_a_base_goes_to_the_step_undiffed(
    repo: Path, engine: SyncEngine, store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    sha = commit(repo, {"docs/x.yaml": "x"})  # touches no app: a diff would end the job
    job = enqueue(store, "guestbook", sha, None)
    step = Given()
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        narrowed(step, engine, store)(job)
    assert [j.id for j in step.jobs] == [job.id]
    assert caplog.records == []
    root = engine.mirrors.root  # nothing fetched: no mirror was even made
    assert not root.exists() or not any(root.iterdir())


def test_a_job_of_an_app_no_longer_configured_goes_to_the_step_as_it_is(
    repo: Path, engine: SyncEngine, store: SqlStore
) -> None:
    sha = commit(repo, {"apps/gone/x.yaml": "x"})
    job = enqueue(store, "gone", sha, "parent")
    step = Given()
    narrowed(step, engine, store)(job)
    assert step.jobs == [job]
