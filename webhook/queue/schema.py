"""The store's schema version: the numbered steps ``webhook-deployer migrate`` applies.

Every process runs ``migrate`` when it opens the store, in one write transaction: the
database's single write lock (``BEGIN IMMEDIATE``, the advisory lock) makes processes that
start together migrate once, one after the other, and DDL is transactional in both
databases, so a crash mid-way leaves the old schema whole. A store stamped with a version
newer than this release knows is refused (``SchemaTooNew``): an old release would write rows
the new one does not expect.

Version 1 is the schema of the releases before versions were recorded (no
``schema_version`` table); its tables are created ``IF NOT EXISTS``, so the step serves
both a new store and an old one. Columns of ``jobs`` come from the fields of ``Job``
(``records.py``) and missing ones are added on every migrate; ``JOB_COLUMNS`` pins them
for this version, and a test fails when a new field is added without a new version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.queue import inputs, leases, notifications, outbox, pauses, records
from webhook.queue.database import Cursor, Database, statements

#: The newest schema this release knows; a store stamped newer is refused.
SCHEMA_VERSION = 7

BASELINE = """
CREATE TABLE IF NOT EXISTS deliveries (
    hook_id TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_at {real} NOT NULL,
    PRIMARY KEY (hook_id, delivery)
);
CREATE INDEX IF NOT EXISTS jobs_lane_state ON jobs (lane, state);
CREATE INDEX IF NOT EXISTS jobs_app_commit ON jobs (app, commit_sha);
CREATE INDEX IF NOT EXISTS jobs_repo_commit ON jobs (repo, commit_sha);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id)
"""

#: Steps after the baseline, by the version they bring the store to.
STEPS: Mapping[int, str] = {
    # Which webhook secret signed each accepted delivery, for the rotation metric; rows
    # from before had only one secret, the current one.
    2: "ALTER TABLE deliveries ADD COLUMN secret TEXT NOT NULL DEFAULT 'current'",
    # Each app's recorded render inputs, for the receiver's app index (issue #9).
    3: inputs.SCHEMA,
    # The audit trail of approvals (issue #11): who approved which commit of which app,
    # how (a PR comment, the page, an API token), when, and the job it queued.
    4: """
CREATE TABLE IF NOT EXISTS approvals (
    id {serial},
    job_id {bigint} NOT NULL,
    pending_job_id {bigint},
    app TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    who TEXT NOT NULL,
    how TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    approved_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_job ON approvals (job_id);
CREATE INDEX IF NOT EXISTS approvals_app ON approvals (app, id)
""",
    # Apps paused by a rollback (issue #10): pushes and drift leave them alone until resumed;
    # the outbox of outgoing notifications of sync results (Slack, Teams, JSON webhooks).
    5: pauses.SCHEMA + ";" + notifications.SCHEMA,
    # Named leases: one replica at a time runs the drift check and the recovery of missed
    # deliveries (``leases.py``); and ``jobs.retry_at`` (added with the other missing
    # columns of ``jobs``), when a job that met an unreachable dependency may run again.
    6: leases.SCHEMA,
    # A comment command is recognised as already run by its comment (``detail``) exactly,
    # not among the newest approvals only: an index makes that one lookup cheap.
    7: "CREATE INDEX IF NOT EXISTS approvals_app_detail ON approvals (app, detail)",
}

#: The columns of ``jobs`` at ``SCHEMA_VERSION``.
JOB_COLUMNS = frozenset(
    {
        *("id", "app", "repo", "commit_sha", "ref", "trigger", "delivery", "pull_requests"),
        *("approved", "diff_base", "state", "attempts", "lease_owner", "lease_expires_at"),
        *("created_at", "started_at", "finished_at", "message", "result", "superseded_by"),
        *("lane", "command", "retry_at"),
    }
)

_VERSIONS = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at {real} NOT NULL
)
"""


class SchemaTooNew(Exception):
    """The store was migrated by a newer release than this one."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the store's schema is version {found}, newer than this release knows "
            f"({SCHEMA_VERSION}): run the release that migrated it, or a newer one"
        )
        self.found = found


@dataclass(frozen=True)
class Migration:
    """What one ``migrate`` did: the version found (0: a new store) and the one left."""

    before: int
    after: int

    def __str__(self) -> str:
        if self.before == self.after:
            return f"store schema at version {self.after}: nothing to do"
        found = self.before or "0 (none recorded: a new store, or one from before versions)"
        return f"store schema migrated from version {found} to {self.after}"


def _run(cur: Cursor, text: str, types: Mapping[str, str]) -> None:
    for statement in statements(text, types):
        cur.execute(statement)


def _columns(cur: Cursor, table: str) -> set[str]:
    cur.execute(f"SELECT * FROM {table} LIMIT 0")
    return {str(column[0]) for column in cur.description}


def _stamped(cur: Cursor, types: Mapping[str, str]) -> int:
    _run(cur, _VERSIONS, types)
    cur.execute("SELECT MAX(version) AS v FROM schema_version")
    found = cur.fetchone()["v"]
    return int(found) if found is not None else 0


def migrate(db: Database[Any], *, clock: Callable[[], float] = time.time) -> Migration:
    """Bring the store in ``db`` to ``SCHEMA_VERSION`` under the write lock; raise
    ``SchemaTooNew`` (changing nothing) when it is stamped newer."""
    types = db.dialect.types
    with db.write() as cur:
        before = _stamped(cur, types)
        if before > SCHEMA_VERSION:
            raise SchemaTooNew(before)
        _run(cur, records.jobs_table(), types)
        missing = records.missing_job_columns(_columns(cur, "jobs"))
        _run(cur, ";".join([*missing, BASELINE, outbox.SCHEMA]), types)
        now = clock()
        for step in range(before + 1, SCHEMA_VERSION + 1):
            if step in STEPS:
                _run(cur, STEPS[step], types)
            cur.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (step, now)
            )
    return Migration(before=before, after=SCHEMA_VERSION)
