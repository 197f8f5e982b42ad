"""Post, then crash: a real ``worker`` process posts a status (or a comment), GitHub applies
it, and the process is killed with SIGKILL before it hears the answer or records it. The
restarted process delivers the rest and doubles nothing. Against the local GitHub API
server, which counts every request; one SQLite file shared by the test and the processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SECRET
from tests.github.api_server import GitHubApiServer
from tests.processes import write_config
from webhook.model import JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import sqlite_store

REPO = "Codertocat/Hello-World"
MERGE = "1" * 40
HEAD = "2" * 40
CONTEXT = "deploy/web"


class Worker:
    """``webhook-deployer worker`` on the test's database, talking to the local GitHub."""

    def __init__(self, tmp: Path, github: GitHubApiServer) -> None:
        self.tmp = tmp
        self.config = write_config(tmp, apps=("web",))
        self.database = tmp / "deployer.db"
        self.env = {
            **os.environ,
            "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
            "DEPLOYER_DATABASE_URL": f"sqlite:///{self.database}",
            "DEPLOYER_CACHE_DIR": str(tmp / "cache"),
            "KUBECONFIG": str(tmp / "no-kubeconfig"),
            "GITHUB_TOKEN": "ghp_crash-test-token",
            "GITHUB_API_URL": github.url,
        }
        self.log = tmp / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "webhook.cli", "worker", "--config", str(self.config)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.proc

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)

    def until_reported(self, timeout: float = 60) -> None:
        """Wait until the outbox is empty, then stop the process with SIGTERM."""
        assert self.proc is not None
        store = sqlite_store(self.database)
        try:
            deadline = time.monotonic() + timeout
            while store.pending_reports():
                assert self.proc.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.1)
        finally:
            store.close()
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log.read_text()


@pytest.fixture
def worker(tmp_path: Path, github_api: GitHubApiServer) -> Worker:
    """A merged PR's deployment, already succeeded: only its report waits in the outbox."""
    store = sqlite_store(tmp_path / "deployer.db")
    request = SyncRequest(
        app="web",
        repo=REPO,
        commit=MERGE,
        ref="refs/heads/master",
        trigger=Trigger.MERGE,
        pull_requests=(PullRequestRef(number=2, head_sha=HEAD),),
    )
    store.enqueue([request])
    job = store.claim("test", lease_seconds=60)
    assert job is not None
    store.finish(job.id, "test", StepOutcome(state=JobState.SUCCEEDED, message="deployed"))
    store.close()
    return Worker(tmp_path, github_api)


def posts(github: GitHubApiServer, suffix: str) -> int:
    return sum(1 for c in github.calls if c.method == "POST" and c.path.endswith(suffix))


def test_a_status_posted_just_before_a_crash_is_not_posted_again(
    worker: Worker, github_api: GitHubApiServer
) -> None:
    github_api.after_write(f"^POST /repos/.*/statuses/{MERGE}$", worker.kill9)
    assert worker.start().wait(60) == -signal.SIGKILL, worker.log.read_text()
    assert github_api.states(REPO, MERGE, CONTEXT) == ["success"]  # GitHub has it
    worker.start()
    worker.until_reported()
    assert posts(github_api, f"/statuses/{MERGE}") == 1
    assert github_api.states(REPO, MERGE, CONTEXT) == ["success"]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["success"]
    assert len(github_api.comments[(REPO.lower(), 2)]) == 1


def test_a_comment_posted_just_before_a_crash_is_not_posted_again(
    worker: Worker, github_api: GitHubApiServer
) -> None:
    github_api.after_write("^POST /repos/.*/issues/2/comments$", worker.kill9)
    assert worker.start().wait(60) == -signal.SIGKILL, worker.log.read_text()
    assert len(github_api.comments[(REPO.lower(), 2)]) == 1
    worker.start()
    worker.until_reported()
    assert posts(github_api, "/issues/2/comments") == 1
    assert len(github_api.comments[(REPO.lower(), 2)]) == 1
    assert github_api.states(REPO, MERGE, CONTEXT) == ["success"]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["success"]
