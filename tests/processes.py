"""Run ``webhook-deployer`` as a real process on a free port, for tests and benchmarks."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import IO

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    command: str,
    config: Path,
    port: int,
    env: Mapping[str, str],
    *,
    log: IO[bytes] | int = subprocess.DEVNULL,
    extra: Sequence[str] = (),
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """``webhook-deployer COMMAND --config CONFIG --bind 127.0.0.1:PORT``, with ``env`` added
    to this process's environment; output to ``log``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webhook.cli",
            command,
            "--config",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            *extra,
        ],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
    )


#: What a race's children import: loaded once, in the fork server, not in every child.
PRELOAD = [
    "webhook.queue",
    "webhook.queue.postgres",  # psycopg: 0.2-0.3 s of CPU in each child of a PostgreSQL race
    "webhook.worker",
    "tests.queue.test_races",
    "tests.queue.test_deliveries",
    "tests.test_worker",
]


def children() -> ForkServerContext:
    """A multiprocessing context whose children fork from one server process that has
    already imported the store: a child starts in milliseconds instead of the second or
    more a fresh interpreter spends importing it, and is a real process all the same (its
    own memory, its own connection). Children get their inputs as arguments: they inherit
    the environment the fork server started with, not the test's."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 30
) -> None:
    """Return once ``/readyz`` answers 200; fail with the log if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting: a slow answer
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not become ready:\n{_tail(log)}")


def probed_worker(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``webhook-deployer worker`` of no apps on SQLite in ``tmp`` whose probe the
    environment binds (``DEPLOYER_WORKER_HEALTH_BIND``), once the probe answers: the process
    and the probe's URL. Its output goes to ``tmp/worker.log``."""
    config = tmp / "deployer.yaml"
    config.write_text("apps: []\nresync_interval: 0\n")
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_WEBHOOK_SECRET": "probed worker secret",
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp / 'deployer.db'}",
        "DEPLOYER_WORKER_HEALTH_BIND": url.removeprefix("http://"),
    }
    log = tmp / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webhook.cli", "worker", "--config", str(config)],
            env=env,
            stdout=out,
            stderr=out,
        )
    wait_ready(url, proc, log)
    return proc, url


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""


def write_config(tmp: Path, apps: Sequence[str] = ("web", "db")) -> Path:
    """A config for the example payloads' repository (Codertocat/Hello-World, master) whose
    clone URL does not exist: jobs are accepted, and fail if a worker runs them."""
    import yaml

    path = tmp / "deployer.yaml"
    repo = "Codertocat/Hello-World"
    apps_config = [
        {"name": a, "repo": repo, "branch": "master", "path": f"apps/{a}", "namespace": a}
        for a in apps
    ]
    repos = {repo: {"clone_url": f"file://{tmp}/missing.git"}}
    path.write_text(yaml.safe_dump({"resync_interval": 0, "apps": apps_config, "repos": repos}))
    return path


class DeployerProcess:
    """One ``webhook-deployer web`` (or ``serve``) process in its own session, logging to
    ``log_path``, so a test can kill it like an operator or the kernel would."""

    def __init__(self, tmp: Path, env: Mapping[str, str], command: str = "web") -> None:
        self.tmp, self.command = tmp, command
        self.env = {"DEPLOYER_CACHE_DIR": str(tmp / "cache"), **env}
        self.config = write_config(tmp)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{command}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = spawn(
                self.command, self.config, self.port, self.env, log=log, new_session=True
            )
        wait_ready(self.url, self.proc, self.log_path)

    def kill9(self) -> None:
        """SIGKILL to the whole process group: gunicorn's master and workers at once."""
        import signal

        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        import signal

        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
