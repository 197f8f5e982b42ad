"""Rows and the store's skeleton, shared by the queue's rules and its report outbox.

Queries use ``?`` placeholders; a store whose driver wants another style rewrites them.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from webhook.model import Job, JobState, PullRequestRef, Trigger

COLUMNS = (
    "id, app, repo, commit_sha, ref, trigger, state, delivery, pull_requests, approved, "
    "attempts, lease_owner, lease_expires_at, created_at, started_at, finished_at, message, "
    "result, superseded_by, lane, diff_base"
)


SCHEMA_TEMPLATE = """
CREATE TABLE IF NOT EXISTS deliveries (
    hook_id TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_at {real} NOT NULL,
    PRIMARY KEY (hook_id, delivery)
);
CREATE TABLE IF NOT EXISTS jobs (
    id {serial},
    app TEXT NOT NULL,
    repo TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    ref TEXT NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    delivery TEXT,
    pull_requests TEXT NOT NULL DEFAULT '[]',
    approved INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at {real},
    created_at {real} NOT NULL,
    started_at {real},
    finished_at {real},
    message TEXT NOT NULL DEFAULT '',
    result TEXT,
    superseded_by {bigint},
    -- jobs of one lane run one at a time and supersede each other: the app's name for
    -- deployments, app#pr-N for a pull request's previews.
    lane TEXT NOT NULL,
    diff_base TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id {serial},
    job_id {bigint} NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at {real} NOT NULL,
    next_attempt_at {real} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at {real}
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (delivered_at, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS jobs_lane_state ON jobs (lane, state);
CREATE INDEX IF NOT EXISTS jobs_app_commit ON jobs (app, commit_sha);
CREATE INDEX IF NOT EXISTS jobs_repo_commit ON jobs (repo, commit_sha);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
"""


def schema(*, serial: str, real: str, bigint: str) -> list[str]:
    """The tables in one dialect: the store's auto-increment key, float and big integer types."""
    text = SCHEMA_TEMPLATE.format(serial=serial, real=real, bigint=bigint)
    return [statement for statement in text.split(";") if statement.strip()]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, query: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


def prs_to_json(prs: Sequence[PullRequestRef]) -> str:
    return json.dumps([{"number": p.number, "head_sha": p.head_sha} for p in prs])


def prs_from_json(text: str | None) -> tuple[PullRequestRef, ...]:
    return tuple(
        PullRequestRef(number=int(p["number"]), head_sha=str(p["head_sha"]))
        for p in json.loads(text or "[]")
    )


def row_to_job(row: Sequence[Any]) -> Job:
    return Job(
        id=int(row[0]),
        app=row[1],
        repo=row[2],
        commit=row[3],
        ref=row[4],
        trigger=Trigger(row[5]),
        state=JobState(row[6]),
        delivery=row[7],
        pull_requests=prs_from_json(row[8]),
        approved=bool(row[9]),
        attempts=int(row[10]),
        lease_owner=row[11],
        lease_expires_at=row[12],
        created_at=float(row[13]),
        started_at=row[14],
        finished_at=row[15],
        message=row[16] or "",
        result=json.loads(row[17]) if row[17] else None,
        superseded_by=row[18],
        lane=row[19],
        diff_base=row[20],
    )


class SqlBase(ABC):
    """A DB-API store: a serialized write transaction, reads, and the job row."""

    clock = staticmethod(time.time)

    @abstractmethod
    def _write(self) -> AbstractContextManager[Cursor]:
        """A transaction that holds the store's write lock until it commits."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Cursor]:
        """A cursor for reads."""

    @abstractmethod
    def _insert_job(self, cur: Cursor, values: Sequence[Any]) -> int:
        """Insert a job row (all columns but id) and return its id."""

    def _get(self, cur: Cursor, job_id: int) -> Job | None:
        cur.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        row = cur.fetchone()
        return row_to_job(row) if row else None

    def _record(self, cur: Cursor, job: Job, now: float) -> None:
        """Queue a report of ``job``'s new state in the same transaction as the change."""
        cur.execute(
            "INSERT INTO outbox (job_id, state, message, created_at, next_attempt_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            (job.id, job.state.value, job.message, now, now),
        )
