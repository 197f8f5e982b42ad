"""GitHub's own example payloads (npm ``@octokit/webhooks-examples``, pinned), for tests.

``scripts/fetch-test-data`` installs and caches the package; ``examples()`` reads its index.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def examples_dir() -> Path:
    if env := os.environ.get("WEBHOOK_EXAMPLES_DIR"):
        return Path(env)
    out = subprocess.run(
        [str(ROOT / "scripts" / "fetch-test-data")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


@functools.cache
def _index() -> dict[str, list[dict[str, Any]]]:
    data = json.loads((examples_dir() / "api.github.com" / "index.json").read_text())
    return {entry["name"]: entry["examples"] for entry in data}


def example(event: str, *, where: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of the first published example of ``event`` matching ``where``."""
    for payload in _index()[event]:
        if all(payload.get(key) == value for key, value in (where or {}).items()):
            return copy.deepcopy(payload)
    raise LookupError(f"no {event} example with {where}")


def branch_push() -> dict[str, Any]:
    """The published push of a branch (``refs/heads/master`` of Codertocat/Hello-World)."""
    return example("push", where={"ref": "refs/heads/master"})


def merged_pull_request(merge_sha: str = "1" * 40) -> dict[str, Any]:
    """The published closed pull_request, made merged as GitHub would send it."""
    payload = example("pull_request", where={"action": "closed"})
    pull = payload["pull_request"]
    pull["merged"] = True
    pull["merged_at"] = pull.get("closed_at") or "2019-05-15T15:20:33Z"
    pull["merge_commit_sha"] = merge_sha
    return payload
