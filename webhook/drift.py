"""Drift: every resync interval, compare each app's branch head and live state to the record.

This catches deliveries that never arrived (a new head with no job) and changes made to the
cluster by hand (live state differs from the last deployed commit). It only enqueues jobs;
the worker and the engine decide whether to apply (``auto_sync``) or report. An app paused
by a rollback is not checked at all: its live state is meant to differ from the branch head
until someone resumes it.

Replicas: every worker process runs a poller, but a round runs once per interval across all
of them: a replica first takes the store's ``drift`` lease for most of an interval
(``queue.leases``), and a replica that finds it held skips its turn.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from webhook.model import JobState, SyncRequest, Trigger
from webhook.queue import JobStore
from webhook.queue.leases import Leases, replica_id
from webhook.settings import AppConfig, DeployerConfig

log = logging.getLogger(__name__)
#: The name of the store lease that makes a round fleet-wide.
LEASE = "drift"
#: A round holds the lease for this share of the interval: short enough that the replica
#: that ran the last round wins the next one on time, long enough that no other replica
#: runs one in between.
LEASE_SHARE = 0.9


class DriftProbe(Protocol):
    """What drift needs from the sync engine."""

    def head(self, app: AppConfig) -> str: ...

    def live_drift(self, app: AppConfig, revision: str) -> bool: ...


class DriftPoller:
    def __init__(
        self,
        config: DeployerConfig,
        store: JobStore,
        probe: DriftProbe,
        interval: float,
        *,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.probe = probe
        self.interval = interval
        self.owner = owner or replica_id()
        self.leases = Leases(store.database)

    def _request(self, app: AppConfig, commit: str) -> SyncRequest:
        return SyncRequest(
            app=app.name,
            repo=app.repo,
            commit=commit,
            ref=f"refs/heads/{app.branch}",
            trigger=Trigger.DRIFT,
        )

    def check(
        self, app: AppConfig, heads: dict[tuple[str, str], str] | None = None
    ) -> SyncRequest | None:
        """A drift job for ``app``, or None when the record matches git and the cluster.

        ``heads`` remembers branch heads within one round: apps sharing a repo and branch
        cost one ``git ls-remote``, not one each.
        """
        pause = self.store.pauses.get(app.name)
        if pause is not None:
            log.debug("drift: %s skipped: %s", app.name, pause.describe())
            return None
        heads = {} if heads is None else heads
        key = (app.repo.lower(), app.branch)
        if key not in heads:
            heads[key] = self.probe.head(app)
        head = heads[key]
        # A comment command's job deploys nothing: the newest job that can is what counts.
        recent = self.store.jobs_for_app(app.name, limit=20)
        job = next((j for j in recent if j.trigger is not Trigger.COMMAND), None)
        if job is not None and not job.state.final:
            return None  # a sync is already on its way
        if job is None or job.commit != head:
            log.info(
                "drift: %s head is %s, last job had %s",
                app.name,
                head[:7],
                job.commit[:7] if job else "none",
            )
            return self._request(app, head)
        if job.state is JobState.OUT_OF_SYNC:
            return None  # already reported; waits for approval
        if self.probe.live_drift(app, head):
            log.info("drift: %s live state differs from %s", app.name, head[:7])
            return self._request(app, head)
        return None

    def check_all(self) -> list[SyncRequest]:
        requests = []
        heads: dict[tuple[str, str], str] = {}
        for app in self.config.apps:
            try:
                request = self.check(app, heads)
            except Exception as exc:  # one unreachable repo or cluster must not stop the rest
                log.warning("drift check of %s failed: %s", app.name, exc)
                continue
            if request is not None:
                requests.append(request)
        if requests:
            self.store.enqueue(requests)
        return requests

    def turn(self) -> list[SyncRequest] | None:
        """One round if this replica wins the interval's lease, else None (another one ran
        or runs it)."""
        try:
            if not self.leases.take(LEASE, self.owner, seconds=self.interval * LEASE_SHARE):
                return None
        except Exception as exc:  # no store: nothing could be enqueued anyway
            log.warning("drift: cannot take the round's lease: %s", exc)
            return None
        log.debug("drift: round by %s", self.owner)
        return self.check_all()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.wait(self.interval):
                try:
                    self.turn()
                except Exception:  # the loop must outlive any one round
                    log.exception("drift round failed")
        finally:
            self.store.database.close()
