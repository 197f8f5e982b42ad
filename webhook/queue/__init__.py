"""The durable job store: one SQL store, over an embedded SQLite file or a shared PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from webhook.queue.base import DeliveryKey, Enqueued, EnqueueResult, JobStore, Report
from webhook.queue.database import Database
from webhook.queue.doorbell import Doorbell, location_of
from webhook.queue.schema import SCHEMA_VERSION, Migration, SchemaTooNew
from webhook.queue.stats import StoreStats
from webhook.queue.store import SqlStore


def sqlite_store(path: str | Path) -> SqlStore:
    """The embedded store in the SQLite file at ``path``."""
    from webhook.queue.sqlite import SqliteDialect

    store = SqlStore(Database(SqliteDialect(path)))
    store.doorbell = Doorbell(location_of(str(Path(path).resolve())))
    return store


def open_store(url: str) -> SqlStore:
    """``sqlite:///path`` (default ``./deployer.db``) or ``postgresql://...``."""
    if url.startswith("sqlite://"):
        return sqlite_store(url.removeprefix("sqlite://").removeprefix("/") or "deployer.db")
    if url.startswith(("postgres://", "postgresql://")):
        from webhook.queue.postgres import PostgresDialect

        store = SqlStore(Database(PostgresDialect(url)))
        store.doorbell = Doorbell(location_of(url))
        return store
    raise ValueError(
        f"DEPLOYER_DATABASE_URL: unsupported store {url.split(':', 1)[0]!r}; "
        "use sqlite:///PATH or postgresql://..."
    )


__all__ = [
    "SCHEMA_VERSION",
    "Database",
    "DeliveryKey",
    "EnqueueResult",
    "Enqueued",
    "JobStore",
    "Migration",
    "Report",
    "SchemaTooNew",
    "SqlStore",
    "StoreStats",
    "open_store",
    "sqlite_store",
]
