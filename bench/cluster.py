"""A throwaway control plane for a benchmark: ``scripts/test-cluster up``, then ``down``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_cluster(folder: Path, *, nodes: int, controller_qps: float = 0) -> Iterator[Path]:
    """Yields the admin kubeconfig; stops everything it started, even on failure.

    ``controller_qps`` raises the controller-manager's and scheduler's client rate limit
    (``scripts/test-cluster --controller-qps``); 0 keeps their defaults, as the tests do.
    """
    script = str(ROOT / "scripts/test-cluster")
    qps = ["--controller-qps", str(controller_qps)] if controller_qps else []
    subprocess.run(
        [script, "up", str(folder), "--nodes", str(nodes), *qps], check=True, capture_output=True
    )
    try:
        yield folder / "kubeconfig"
    finally:
        subprocess.run([script, "down", str(folder)], capture_output=True)
