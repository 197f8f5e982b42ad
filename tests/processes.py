"""Run ``webhook-deployer`` as a real process on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
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


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
