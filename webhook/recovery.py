"""Missed deliveries: read a webhook's recent deliveries back from GitHub, process the lost ones.

GitHub does not retry a delivery that failed (the deployer was down, the network failed, the
answer took over ten seconds). At start and every ``recover_deliveries.interval``, one
replica (the store's ``recover-deliveries`` lease) lists the recent deliveries of each
configured repository hook and of the GitHub App's hook, keeps the GUIDs that GitHub never
got a 2xx for and that the store never accepted, fetches each one's payload and enqueues
it exactly as the receiver would, under the same (hook id, GUID) mark: a delivery recovered
here and redelivered later is accepted once. The payload needs no signature: the
authenticated API served it. Reads only, at most ``max_per_round`` deliveries a round,
``pace`` seconds apart. A recovered push older than a job its app already has is not
deployed (the newer job won; an older commit never follows a newer one).
Drift checks (``drift.py``) stay the last safety net.
Must not touch: git, the cluster, GitHub beyond these reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from webhook.events import AppIndex, Ignored, Pong, decide
from webhook.github_hooks import HookDelivery
from webhook.model import SyncRequest
from webhook.queue import DeliveryKey, JobStore
from webhook.queue.leases import Leases, replica_id
from webhook.settings import DeployerConfig

log = logging.getLogger(__name__)
#: The store lease that makes a round fleet-wide.
LEASE = "recover-deliveries"
#: Pages of 100 deliveries read per hook and round, at most.
MAX_PAGES = 5
#: What the deliveries key records as the "secret" that vouched for a recovered delivery.
RECOVERED = "recovered"


class DeliveriesApi(Protocol):
    """What recovery needs from ``webhook.github.GitHubClient``."""

    def hook_deliveries(
        self, repo: str | None, hook_id: str | None, *, cursor: str | None = None
    ) -> tuple[list[HookDelivery], str | None]: ...

    def hook_delivery(
        self, repo: str | None, hook_id: str | None, delivery_id: int
    ) -> tuple[dict[str, str], Any]: ...


@dataclass
class Hook:
    """A repository's hook, or the GitHub App's (``repo`` None; its id learned from a delivery)."""

    repo: str | None
    hook_id: str | None

    def __str__(self) -> str:
        return f"hook {self.hook_id} of {self.repo}" if self.repo else "the App's hook"


@dataclass(frozen=True)
class Recovered:
    hook_id: str
    delivery: str
    event: str
    jobs: tuple[int, ...]


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Recovery:
    """Rounds of recovery over the hooks in ``config.recover_deliveries``."""

    def __init__(
        self,
        config: DeployerConfig,
        store: JobStore,
        github: DeliveriesApi,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = config.recover_deliveries
        self.store = store
        self.github = github
        self.index = AppIndex(config.apps, preview_forks=config.preview_forks)
        self.owner = owner or replica_id()
        self.clock = clock
        self.sleep = sleep
        self.leases = Leases(store.database)
        self.hooks = [Hook(h.repo, str(h.hook_id)) for h in self.settings.hooks]
        if self.settings.app_hook:
            self.hooks.append(Hook(None, None))

    def turn(self) -> list[Recovered] | None:
        """A round if this replica wins the interval's lease, else None."""
        seconds = max(self.settings.interval * 0.9, 1.0)
        try:
            if not self.leases.take(LEASE, self.owner, seconds=seconds):
                return None
        except Exception as exc:  # no store: nothing could be enqueued anyway
            log.warning("recovery: cannot take the round's lease: %s", exc)
            return None
        return self.round()

    def round(self) -> list[Recovered]:
        """Read every hook; process what was missed, at most ``max_per_round`` in all."""
        budget = self.settings.max_per_round
        recovered: list[Recovered] = []
        for hook in self.hooks:
            try:
                missed = self._missed(hook)
                for attempt in missed[:budget]:
                    found = self._process(hook, attempt)
                    budget -= 1
                    if found is not None:
                        recovered.append(found)
            except Exception as exc:  # one hook GitHub will not show must not stop the rest
                log.warning("recovery: %s: %s", hook, exc)
        if recovered:
            log.info("recovery: %d missed deliveries processed", len(recovered))
        return recovered

    def _missed(self, hook: Hook) -> list[HookDelivery]:
        """The hook's recent deliveries that never got a 2xx nor reached the store, oldest
        first, one (the newest attempt) per GUID."""
        cutoff = self.clock() - self.settings.lookback
        attempts: list[HookDelivery] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page, cursor = self.github.hook_deliveries(hook.repo, hook.hook_id, cursor=cursor)
            self.sleep(self.settings.pace)
            attempts.extend(page)
            if cursor is None or any(_time(d.delivered_at) < cutoff for d in page):
                break
        recent = [d for d in attempts if _time(d.delivered_at) >= cutoff]
        answered = {d.guid for d in recent if 200 <= d.status_code < 300}
        newest: dict[str, HookDelivery] = {}
        for attempt in sorted(recent, key=lambda d: _time(d.delivered_at)):
            if attempt.guid not in answered and attempt.event != "ping":
                newest[attempt.guid] = attempt
        missed = sorted(newest.values(), key=lambda d: _time(d.delivered_at))
        if hook.hook_id is not None:
            accepted = self.store.accepted(hook.hook_id, [d.guid for d in missed])
            missed = [d for d in missed if d.guid not in accepted]
        return missed

    def _process(self, hook: Hook, attempt: HookDelivery) -> Recovered | None:
        headers, payload = self.github.hook_delivery(hook.repo, hook.hook_id, attempt.id)
        self.sleep(self.settings.pace)
        hook_id = headers.get("x-github-hook-id") or hook.hook_id
        if hook_id is None:
            log.warning("recovery: delivery %s names no hook; skipped", attempt.guid)
            return None
        if hook.hook_id is None:
            hook.hook_id = hook_id  # the App's hook: known from now on
            if self.store.accepted(hook_id, [attempt.guid]):
                return None
        event = headers.get("x-github-event") or attempt.event
        guid = headers.get("x-github-delivery") or attempt.guid
        key = DeliveryKey(hook_id=hook_id, delivery=guid, signed_with=RECOVERED)
        requests: list[SyncRequest] = []
        try:
            if not isinstance(payload, dict):
                raise ValueError("payload is not a JSON object")
            decision = decide(event, payload, self.index, guid)
        except ValueError as exc:
            log.warning("recovery: delivery %s (%s) refused: %s", guid, event, exc)
            decision = Ignored(str(exc))
        if not isinstance(decision, (Ignored, Pong)):
            requests = self._current(decision, _time(attempt.delivered_at))
        result = self.store.enqueue(requests, delivery=key)
        if result.duplicate:
            return None
        jobs = tuple(e.job.id for e in result.jobs)
        log.info("recovery: delivery %s (%s) missed; jobs %s", guid, event, list(jobs))
        return Recovered(hook_id=hook_id, delivery=guid, event=event, jobs=jobs)

    def _current(self, requests: list[SyncRequest], sent_at: float) -> list[SyncRequest]:
        """Drop requests whose lane has a job created after GitHub sent this delivery: that
        job came from a later event, and an older commit must not follow it."""
        kept = []
        for request in requests:
            later = [
                job
                for job in self.store.jobs_for_app(request.app, limit=20)
                if job.lane == request.lane and job.created_at > sent_at
            ]
            if later:
                log.info(
                    "recovery: %s at %s not queued: job %s came later",
                    request.app,
                    request.commit[:7],
                    later[0].id,
                )
            else:
                kept.append(request)
        return kept

    def run(self, stop: threading.Event) -> None:
        """A round at start, then one per interval, until ``stop``."""
        try:
            while True:
                try:
                    self.turn()
                except Exception:  # the loop must outlive any one round
                    log.exception("recovery round failed")
                if stop.wait(self.settings.interval):
                    return
        finally:
            self.store.database.close()
