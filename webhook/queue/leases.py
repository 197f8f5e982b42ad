"""Named leases in the store: one replica at a time does a fleet-wide chore.

Several ``worker`` replicas share one store; a chore that must run once per interval
across all of them (the drift check, the recovery of missed deliveries) takes a named lease
here first. ``take`` succeeds when the lease is free, expired, or already ours, and holds it
for ``seconds``; it is never released early, so whichever replica wakes first after it
expires takes the next turn: one turn per lease period, whoever runs it. Writes go through
the database's write lock (``BEGIN IMMEDIATE`` or the advisory lock), so two replicas never
both win. Clocks of replicas must agree to well under a lease, as for job leases.
Must not touch: jobs, deliveries.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from webhook.queue.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at {real} NOT NULL
)
"""


def replica_id() -> str:
    """A name for this process among replicas: host, pid and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leases:
    """Named, expiring leases in ``database`` (created by ``schema.migrate``)."""

    def __init__(self, database: Database[Any], clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    def take(self, name: str, owner: str, *, seconds: float) -> bool:
        """Hold ``name`` for ``seconds`` from now if it is free, expired or ours already."""
        with self.database.write() as cur:
            now = self.clock()
            cur.execute("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)",
                    (name, owner, now + seconds),
                )
                return True
            if row["owner"] != owner and float(row["expires_at"]) > now:
                return False
            cur.execute(
                "UPDATE leases SET owner = ?, expires_at = ? WHERE name = ?",
                (owner, now + seconds, name),
            )
            return True

    def holder(self, name: str) -> tuple[str, float] | None:
        """Who holds ``name`` and until when (expired or not), or None if never taken."""
        with self.database.read() as cur:
            cur.execute("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
            row = cur.fetchone()
        return None if row is None else (str(row["owner"]), float(row["expires_at"]))
