"""The long-lived parent of ``webhook-deployer serve``: two children, signals passed on.

``serve`` checks the configuration and the environment (every error at once, before anything
starts), then replaces itself with this module (``os.execv``, same PID): the parent that lives
as long as the deployer then holds none of what the checks loaded (pydantic, YAML, the
store's drivers), about 50 MB resident less. It imports the standard library only.

    python -m webhook.supervise BIND [--config FILE]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from types import FrameType


def main(argv: list[str]) -> int:
    bind, extra = argv[0], argv[1:]
    base = [sys.executable, "-m", "webhook.cli"]
    # One web process: the receiver answers in milliseconds, so threads suffice, and each
    # further gunicorn process cost about 50 MB resident (BENCHMARKS.md, "Footprint").
    # Without gunicorn's master: this parent watches the web process already.
    web = ["web", *extra, "--bind", bind, "--single-process", "--threads", "8"]
    children = [
        subprocess.Popen([*base, *web]),
        subprocess.Popen([*base, "worker", *extra]),
    ]
    stopping = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping.is_set() and all(child.poll() is None for child in children):
        time.sleep(0.2)
    forward(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    return 0 if stopping.is_set() and all(c in (0, -signal.SIGTERM) for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
