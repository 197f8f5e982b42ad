"""Upgrades of the store: a store written by release 6d300ff (before schema versions) is
migrated by ``webhook-deployer migrate`` with jobs queued and one running, on SQLite and on
PostgreSQL; processes starting together migrate once; a newer schema is refused."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from webhook.model import Job, JobState, StepOutcome, SyncRequest, Trigger
from webhook.queue import (
    SCHEMA_VERSION,
    DeliveryKey,
    SchemaTooNew,
    SqlStore,
    open_store,
    records,
    schema,
)

FIXTURES = Path(__file__).parent / "fixtures" / "store-6d300ff"


def load_old_release(url: str) -> None:
    """The fixture dump of the matching database, loaded as the old release left it."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executescript((FIXTURES / "sqlite.sql").read_text())
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute((FIXTURES / "postgres.sql").read_text().encode())


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """``webhook-deployer ARGS`` as a real process on the store at ``url``."""
    return subprocess.run(
        [sys.executable, "-m", "webhook.cli", *args],
        env={**os.environ, "DEPLOYER_DATABASE_URL": url, "GITHUB_WEBHOOK_SECRET": "s"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def raw_versions(url: str) -> list[int]:
    """The stamps, read without the store (which refuses a newer schema)."""
    query = "SELECT version FROM schema_version ORDER BY version"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return [int(row[0]) for row in conn.execute(query)]
    with psycopg.connect(url) as conn:
        return [int(row[0]) for row in conn.execute(query)]


def stamped(store: SqlStore) -> list[int]:
    with store.database.read() as cur:
        cur.execute("SELECT version FROM schema_version ORDER BY version")
        return [int(row["version"]) for row in cur.fetchall()]


def run_all(store: SqlStore) -> list[Job]:
    """Claim and finish every runnable job, as a worker would; the jobs as claimed."""
    claimed = []
    while (job := store.claim("new-worker", lease_seconds=30)) is not None:
        claimed.append(job)
        store.finish(job.id, "new-worker", StepOutcome(state=JobState.SUCCEEDED, message="ok"))
    return claimed


def test_a_store_of_the_previous_release_is_migrated_and_its_jobs_run(database_url: str) -> None:
    load_old_release(database_url)
    done = cli("migrate", url=database_url)
    assert done.returncode == 0, done.stderr
    assert f"to {SCHEMA_VERSION}" in done.stdout
    again = cli("migrate", url=database_url)
    assert again.returncode == 0 and "nothing to do" in again.stdout

    store = open_store(database_url)
    assert stamped(store) == list(range(1, SCHEMA_VERSION + 1))
    assert store.get(1) is not None and store.get(1).state is JobState.SUCCEEDED  # type: ignore[union-attr]
    # The running job's worker is gone with the old release: its lease lapsed, and it is
    # taken over (attempt 2); the queued ones run as any other.
    claimed = run_all(store)
    assert [(j.app, j.attempts) for j in claimed] == [("web", 2), ("db", 1), ("api", 1)]
    assert {store.get(j.id).state for j in claimed} == {JobState.SUCCEEDED}  # type: ignore[union-attr]
    # The old delivery marks still dedupe; a new delivery is stored with its secret.
    request = SyncRequest(
        app="db", repo="acme/gitops", commit="e" * 40, ref="refs/heads/main", trigger=Trigger.PUSH
    )
    assert store.enqueue([request], delivery=DeliveryKey(hook_id="1", delivery="guid-db")).duplicate
    fresh = DeliveryKey(hook_id="1", delivery="guid-new", signed_with="previous")
    assert store.enqueue([request], delivery=fresh).jobs[0].created
    assert store.stats().signed_with == {"current": 4, "previous": 1}
    # The old release's unreported state changes are still there for the reporter.
    assert {r.id for r in store.pending_reports()} >= set(range(1, 8))
    store.close()


def test_a_new_store_is_stamped_with_the_version_this_release_knows(database_url: str) -> None:
    store = open_store(database_url)
    assert (store.migration.before, store.migration.after) == (0, SCHEMA_VERSION)
    assert stamped(store) == list(range(1, SCHEMA_VERSION + 1))
    assert store.database.columns("jobs") == schema.JOB_COLUMNS
    store.close()
    reopened = open_store(database_url)
    assert (reopened.migration.before, reopened.migration.after) == (SCHEMA_VERSION,) * 2
    reopened.close()


def test_a_new_job_field_needs_a_new_schema_version() -> None:
    derived = {c.name for c in records.columns(Job)} | set(records.JOB_EXTRAS)
    assert derived == schema.JOB_COLUMNS, (
        "Job's columns changed: add a step to webhook/queue/schema.py, bump SCHEMA_VERSION "
        "and update JOB_COLUMNS"
    )


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "webhook.cli", "migrate"],
            env={**os.environ, "DEPLOYER_DATABASE_URL": database_url, "GITHUB_WEBHOOK_SECRET": "s"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 4, results
    outputs = sorted(out for _, out, _ in results)
    assert sum("migrated" in out for out in outputs) == 1, outputs
    store = open_store(database_url)
    assert stamped(store) == list(range(1, SCHEMA_VERSION + 1))
    store.close()


def test_a_store_migrated_by_a_newer_release_is_refused_with_one_line(
    database_url: str, tmp_path: Path
) -> None:
    store = open_store(database_url)
    with store.database.write() as cur:
        cur.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (99, 0.0))
    store.close()
    with pytest.raises(SchemaTooNew, match="version 99, newer than this release knows"):
        open_store(database_url)
    config = tmp_path / "deployer.yaml"
    config.write_text("apps: []\n")
    for command in (["migrate"], ["worker", "--config", str(config)]):
        refused = cli(*command, url=database_url)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.splitlines() == [
            f"error: the store's schema is version 99, newer than this release knows "
            f"({SCHEMA_VERSION}): run the release that migrated it, or a newer one"
        ]
    assert raw_versions(database_url) == [*range(1, SCHEMA_VERSION + 1), 99]  # nothing changed
