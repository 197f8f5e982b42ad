"""The durable job store: one design, an embedded SQLite store, a shared PostgreSQL one."""

from __future__ import annotations

from webhook.queue.base import DeliveryKey, Enqueued, EnqueueResult, JobStore, Report


def open_store(url: str) -> JobStore:
    """``sqlite:///path`` (default ``./deployer.db``) or ``postgresql://...``."""
    if url.startswith("sqlite://"):
        from webhook.queue.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite://").removeprefix("/") or "deployer.db")
    if url.startswith(("postgres://", "postgresql://")):
        from webhook.queue.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(
        f"DEPLOYER_DATABASE_URL: unsupported store {url.split(':', 1)[0]!r}; "
        "use sqlite:///PATH or postgresql://..."
    )


__all__ = ["DeliveryKey", "EnqueueResult", "Enqueued", "JobStore", "Report", "open_store"]
