"""Each app's recorded inputs: what its last render read, for the receiver's app index.

The worker writes a row after each render of a branch commit (``record``) and removes it
when the render failed (the inputs are unknown again); the receiver reads the rows of the
apps on a pushed branch (``recorded``) in one query. An app with a deploy job still queued
or running is left out of what ``recorded`` returns: its inputs are about to change, so
it counts as touched (``webhook.affected``). ``schema.py`` creates the table.
Must not touch: rendering (the paths arrive as plain strings), git, the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from webhook.affected import RecordedInputs
from webhook.model import JobState
from webhook.queue.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS app_inputs (
    app TEXT PRIMARY KEY,
    inputs_key TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    paths TEXT NOT NULL,
    recorded_at {real} NOT NULL
)
"""

_PENDING = (JobState.QUEUED.value, JobState.RUNNING.value)


def record(db: Database[Any], app: str, inputs: RecordedInputs | None, now: float) -> None:
    """Keep ``inputs`` as ``app``'s recorded inputs; None forgets them (unknown)."""
    with db.write() as cur:
        cur.execute("DELETE FROM app_inputs WHERE app = ?", (app,))
        if inputs is not None:
            cur.execute(
                "INSERT INTO app_inputs (app, inputs_key, commit_sha, paths, recorded_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (app, inputs.key, inputs.commit, json.dumps(list(inputs.paths)), now),
            )


def recorded(
    db: Database[Any], apps: Sequence[str], *, unless_waiting: bool = True
) -> dict[str, RecordedInputs]:
    """The recorded inputs of ``apps`` that have some and (``unless_waiting``) no deploy job
    waiting to run. The worker narrowing a running job passes False: that job is its own."""
    wanted = set(apps)
    if not wanted:
        return {}
    # Whole-table reads: one row per configured app, and the few waiting deploy jobs
    # (``jobs_state`` index); cheaper than long IN lists for thousands of apps.
    with db.read() as cur:
        cur.execute("SELECT app, inputs_key, commit_sha, paths FROM app_inputs")
        rows = [row for row in cur.fetchall() if row["app"] in wanted]
        pending: set[str] = set()
        if unless_waiting:
            cur.execute(
                "SELECT DISTINCT app FROM jobs WHERE state IN (?, ?) AND lane = app", _PENDING
            )
            pending = {row["app"] for row in cur.fetchall()}
    found: dict[str, RecordedInputs] = {}
    for row in rows:
        paths = json.loads(row["paths"])
        if row["app"] in pending or not isinstance(paths, list):
            continue
        found[row["app"]] = RecordedInputs(
            key=row["inputs_key"], commit=row["commit_sha"], paths=tuple(map(str, paths))
        )
    return found
