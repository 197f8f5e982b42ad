"""The long-lived parent of ``webhook-deployer serve``: two children, kept running, signals
passed on.

``serve`` checks the configuration and the environment (every error at once, before anything
starts), then replaces itself with this module (``os.execv``, same PID): the parent that lives
as long as the deployer then holds none of what the checks loaded (pydantic, YAML, the
store's drivers), about 50 MB resident less. It imports the standard library only.

A child that exits on its own is started again, as gunicorn's master restarts a worker: after
a second, twice as long each time it exits again, at most 30 s, and a second again once it
has run a minute. The web process crashing must not take the sync worker's jobs down with it
(nor the other way round); a job its worker held is claimed again when the lease ends. Only
SIGTERM or SIGINT stops ``serve``: both children are told to drain, and waited for.

    python -m webhook.supervise BIND [--config FILE]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

#: Seconds before a child that exited is started again: the first time, and at most.
FIRST_PAUSE, LONGEST_PAUSE = 1.0, 30.0
#: A child that ran this long counts as healthy: its next restart waits FIRST_PAUSE again.
HEALTHY_AFTER = 60.0


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    pause: float = FIRST_PAUSE
    due: float = field(default=0.0)

    def start(self) -> None:
        self.process, self.started = subprocess.Popen(self.argv), time.monotonic()

    def exited(self) -> int | None:
        """The exit code of a process that has ended since the last look, else None."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is not None:
            self.process = None
        return code


def _say(message: str) -> None:
    """One line in the deployer's log format (``DEPLOYER_LOG_FORMAT``), without its logging."""
    when = datetime.now(UTC).isoformat(timespec="milliseconds")
    if os.environ.get("DEPLOYER_LOG_FORMAT", "json").lower() == "text":
        line = f"{when} ERROR webhook.supervise: {message}"
    else:
        entry = {"time": when, "level": "ERROR", "logger": "webhook.supervise", "message": message}
        line = json.dumps(entry)
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    bind, extra = argv[0], argv[1:]
    base = [sys.executable, "-m", "webhook.cli"]
    # One web process: the receiver answers in milliseconds, so threads suffice, and each
    # further gunicorn process cost about 50 MB resident (BENCHMARKS.md, "Footprint").
    # Without gunicorn's master: this parent restarts the web process itself.
    web = ["web", *extra, "--bind", bind, "--single-process", "--threads", "8"]
    children = [_Child("web", [*base, *web]), _Child("worker", [*base, "worker", *extra])]
    for child in children:
        child.start()
    # Plain values, no locks: the handler runs in the main thread between two bytecodes, and
    # one taking a lock the interrupted code holds (an Event's) would wait forever.
    stopping: list[int] = []
    told: set[int] = set()  # each child is told once: a second SIGTERM is not a second drain

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for child in children:
            process = child.process
            if process is not None and process.pid not in told and process.poll() is None:
                told.add(process.pid)
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping:
        time.sleep(0.2)
        now = time.monotonic()
        for child in children:
            code = child.exited()
            if code is not None:
                if now - child.started >= HEALTHY_AFTER:
                    child.pause = FIRST_PAUSE
                child.due = now + child.pause
                _say(
                    f"the {child.name} process exited with {code}; "
                    f"starting it again in {child.pause:.0f}s"
                )
                child.pause = min(child.pause * 2, LONGEST_PAUSE)
            elif child.process is None and now >= child.due and not stopping:
                child.start()
    forward(signal.SIGTERM, None)
    codes = [child.process.wait() for child in children if child.process is not None]
    return 0 if all(c in (0, -signal.SIGTERM) for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
