"""``webhook-deployer demo`` end to end, as a person (or CI) runs it: its own control plane,
sample repository, GitHub stand-in and ``serve``; every step checked by the demo itself,
and everything it started stopped again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.usefixtures("tools")
def test_demo_plays_the_whole_loop_and_cleans_up(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "webhook.cli", "demo", "--exit-after", "0", "--dir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ},
    )
    took = time.monotonic() - started
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # The demo's own checks, one line per outcome: the first deploy (shop synced, billing
    # awaiting approval), the preview, the merge, the failing change, the approval.
    outcomes = re.findall(r"([✓✗]) (\w+) job #\d+ \((\w+)\) at \w+: (\w+)", out)
    assert outcomes == [
        ("✓", "shop", "push", "succeeded"),
        ("✓", "billing", "push", "out_of_sync"),
        ("✓", "shop", "preview", "succeeded"),
        ("✓", "shop", "push", "succeeded"),
        ("✓", "shop", "push", "failed"),
        ("✓", "billing", "manual", "succeeded"),
    ], out
    assert "done: every step ended as expected" in out
    # What GitHub would have shown, printed by the stand-in as it arrived.
    assert "github: status" in out and "deploy-preview/shop: success" in out
    assert "github: comment  on PR #1:" in out and "### Preview of #1" in out
    assert ": failure: dry-run apply" in out
    assert "the page: http://127.0.0.1:" in out
    # The cluster it started is down again: no component of it is left running.
    for pid_file in (workdir / "cluster").glob("*.pid"):
        pid = int(pid_file.read_text().strip() or 0)
        assert pid == 0 or not Path(f"/proc/{pid}").exists(), pid_file.name
    print(f"demo took {took:.1f}s")
