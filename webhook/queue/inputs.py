"""Each app's recorded inputs: what its last render read, for the receiver's app index.

The worker writes a row after each render of a branch commit that read other inputs than
the row holds (``record``) and removes it when the render failed (the inputs are unknown
again); the receiver reads the rows of the apps on a pushed branch (``recorded``). An app
with a deploy job still queued or running is left out of what ``recorded`` returns: its
inputs are about to change, so it counts as touched (``webhook.affected``). ``schema.py``
creates the tables.

Each write bumps a generation number in the same transaction, so a process keeps every row
parsed in memory and rereads the table only when another process wrote: a delivery costs
two small queries (the generation, the waiting jobs), however many apps there are.
Must not touch: rendering (the paths arrive as plain strings), git, the cluster.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from webhook.affected import RecordedInputs
from webhook.model import JobState
from webhook.queue.database import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS app_inputs (
    app TEXT PRIMARY KEY,
    inputs_key TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    paths TEXT NOT NULL,
    recorded_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS app_inputs_generation (
    id INTEGER PRIMARY KEY,
    generation {bigint} NOT NULL
);
INSERT INTO app_inputs_generation (id, generation) VALUES (1, 0)
"""

_PENDING = (JobState.QUEUED.value, JobState.RUNNING.value)


class InputsTable:
    """The ``app_inputs`` table of ``db``, with the rows of the last generation read."""

    def __init__(self, db: Database[Any]) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._cached: tuple[int, Mapping[str, RecordedInputs]] = (-1, {})

    def record(self, app: str, inputs: RecordedInputs | None, now: float) -> None:
        """Keep ``inputs`` as ``app``'s recorded inputs; None forgets them (unknown).

        Inputs the row already holds (same settings key, same paths: most syncs) write
        nothing: no commit on the sync's path, and every reader's parsed rows stay valid.
        The row then keeps the commit of the render that first read them."""
        with self.db.read() as cur:
            cur.execute("SELECT inputs_key, paths FROM app_inputs WHERE app = ?", (app,))
            row = cur.fetchone()
        if inputs is None and row is None:
            return
        if (
            inputs is not None
            and row is not None
            and (row["inputs_key"], row["paths"]) == (inputs.key, json.dumps(list(inputs.paths)))
        ):
            return
        with self.db.write() as cur:
            cur.execute("DELETE FROM app_inputs WHERE app = ?", (app,))
            if inputs is not None:
                cur.execute(
                    "INSERT INTO app_inputs (app, inputs_key, commit_sha, paths, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (app, inputs.key, inputs.commit, json.dumps(list(inputs.paths)), now),
                )
            cur.execute("UPDATE app_inputs_generation SET generation = generation + 1")

    def recorded(
        self, apps: Sequence[str], *, unless_waiting: bool = True
    ) -> dict[str, RecordedInputs]:
        """The recorded inputs of ``apps`` that have some and (``unless_waiting``) no deploy
        job waiting to run. The worker narrowing a running job passes False: it is its own."""
        wanted = set(apps)
        if not wanted:
            return {}
        with self.db.read() as cur:
            rows = self._rows(cur)
            pending: set[str] = set()
            if unless_waiting:  # the few waiting jobs, through the ``jobs_state`` index
                cur.execute(
                    "SELECT DISTINCT app FROM jobs WHERE state IN (?, ?) AND lane = app", _PENDING
                )
                pending = {row["app"] for row in cur.fetchall()}
        return {app: rows[app] for app in wanted - pending if app in rows}

    def _rows(self, cur: Cursor) -> Mapping[str, RecordedInputs]:
        """Every row, parsed; reread only when the generation moved since the last read."""
        cur.execute("SELECT generation FROM app_inputs_generation WHERE id = 1")
        found = cur.fetchone()
        generation = int(found["generation"]) if found is not None else -1
        cached_generation, cached = self._cached
        if generation == cached_generation:
            return cached
        cur.execute("SELECT app, inputs_key, commit_sha, paths FROM app_inputs")
        rows: dict[str, RecordedInputs] = {}
        for row in cur.fetchall():
            paths = json.loads(row["paths"])
            if isinstance(paths, list):
                rows[row["app"]] = RecordedInputs(
                    key=row["inputs_key"], commit=row["commit_sha"], paths=tuple(map(str, paths))
                )
        with self._lock:
            self._cached = (generation, rows)
        return rows
