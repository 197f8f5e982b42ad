"""``webhook-deployer status`` and ``history`` print job messages, which quote repositories
and tools (a chart's ``fail`` text is a PR author's): against a real ``webhook-deployer web``
process, such a message reaches the operator's terminal as text, never as control
sequences (cursor moves, a retitled window, a line overwritten by a carriage return) nor as
a row of its own in the table."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import REPO, SECRET
from tests.processes import free_port, spawn, wait_ready
from webhook.cli import main
from webhook.model import JobState, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore

#: A clear screen, a window title, a bell, a carriage return over the line, and a fake row.
HOSTILE = "render: fail: \x1b[2J\x1b]0;owned\x07\rall good\nweb  auto  succeeded  fake"


@pytest.fixture
def server(tmp_path: Path, store: SqlStore) -> Iterator[str]:
    """A web process over the test's store, whose one job failed with ``HOSTILE``."""
    request = SyncRequest(
        app="web", repo=REPO, commit="a" * 40, ref="refs/heads/master", trigger=Trigger.PUSH
    )
    job = store.enqueue([request]).jobs[0].job
    assert store.claim("w", lease_seconds=60) is not None
    store.finish(job.id, "w", StepOutcome(state=JobState.FAILED, message=HOSTILE))
    config = tmp_path / "deployer.yaml"
    app = {"name": "web", "repo": REPO, "branch": "master", "path": "apps/web", "namespace": "web"}
    config.write_text(yaml.safe_dump({"apps": [app]}))
    port, log_path = free_port(), tmp_path / "web.log"
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp_path / 'deployer.db'}",
    }
    with open(log_path, "ab") as log:
        proc = spawn("web", config, port, env, log=log, extra=["--workers", "1"])
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args", [["status"], ["status", "web"], ["history", "web"]])
def test_a_hostile_job_message_reaches_the_terminal_as_text(server: str, args: list[str]) -> None:
    shown = CliRunner().invoke(main, args, env={"DEPLOYER_SERVER": server})
    assert shown.exit_code == 0, shown.output
    assert not any(ch in shown.output for ch in "\x1b\x07\r"), repr(shown.output)
    (line,) = [line for line in shown.output.splitlines() if "render: fail" in line]
    assert "\\x1b[2J\\x1b]0;owned\\x07\\rall good\\nweb  auto  succeeded  fake" in line
