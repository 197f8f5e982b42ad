"""SIGTERM, however many times it comes, drains and ends a process: a supervisor, an operator
and Kubernetes may each send one. Real ``worker`` and ``serve`` processes.

Python runs a signal handler in the main thread between two bytecodes; a handler that took a
lock which the code it interrupted held (an Event's, the first handler's own) waited forever.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.processes import free_port, probed_worker, spawn, wait_ready
from tests.profiles import rounds

#: Back-to-back signals hung the worker in about one run of five: ten runs catch it nearly
#: always (the ``ci`` profile); the ``quick`` profile's three start three workers, not ten.
RUNS = rounds(10)


def _storm(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM again and again, as fast as it goes, until the process has gone."""
    for _ in range(200):
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.0005)


def test_a_worker_sent_sigterm_again_and_again_still_ends(tmp_path: Path) -> None:
    hung = 0
    for run in range(RUNS):
        (tmp_path / str(run)).mkdir()
        proc, _ = probed_worker(tmp_path / str(run))
        _storm(proc)
        try:
            assert proc.wait(30) in (0, -signal.SIGTERM)
        except subprocess.TimeoutExpired:
            hung += 1
            proc.kill()
            proc.wait()
    assert hung == 0, f"{hung} of {RUNS} workers never ended"


def test_serve_sent_sigterm_twice_ends_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "deployer.yaml"
    config.write_text("apps: []\nresync_interval: 0\n")
    port = free_port()
    env = {
        "GITHUB_WEBHOOK_SECRET": "signal test secret",
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp_path / 'deployer.db'}",
        "DEPLOYER_CACHE_DIR": str(tmp_path / "cache"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = spawn("serve", config, port, env, log=out)
    wait_ready(f"http://127.0.0.1:{port}", proc, log)
    _storm(proc)
    assert proc.wait(30) == 0, log.read_text()[-2000:]
