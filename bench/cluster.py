"""A throwaway control plane for a benchmark: ``scripts/test-cluster up``, then ``down``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_cluster(folder: Path, *, nodes: int) -> Iterator[Path]:
    """Yields the admin kubeconfig; stops everything it started, even on failure."""
    script = str(ROOT / "scripts/test-cluster")
    subprocess.run(
        [script, "up", str(folder), "--nodes", str(nodes)], check=True, capture_output=True
    )
    try:
        yield folder / "kubeconfig"
    finally:
        subprocess.run([script, "down", str(folder)], capture_output=True)
