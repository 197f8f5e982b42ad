"""Outgoing notifications of sync results: Slack, Microsoft Teams, or any JSON webhook.

Owns: which finished jobs each target hears of (``notifications:`` in the config, per app or
for all), the message per kind, and the delivery loop over the notification outbox
(``webhook.queue.notifications``): rows are fed from the job records, claimed, posted, and
marked delivered only on a 2xx, so a failing receiver gets the same message again later
and a delivered one is never sent twice by the deployer. Each request carries an
``Idempotency-Key`` header (``webhook-deployer-<job>-<target>``; the JSON kind also has it
in the body as ``id``) so a receiver can drop the one duplicate left possible: a delivery
whose 2xx answer was lost.
Webhook URLs are secrets: they come from environment variables and never reach a log line.
Must not touch: the cluster, git, GitHub, the jobs table (read only, through the outbox).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from webhook.model import Job, JobState
from webhook.queue import JobStore
from webhook.queue.notifications import Notification, NotificationOutbox
from webhook.settings import DeployerConfig, NotificationConfig

log = logging.getLogger(__name__)

#: Seconds a receiver may take; Slack and Teams answer in well under one.
TIMEOUT = 10.0
#: Jobs that finished this long before a round are looked at again: worker clocks differ
#: a little, and a job's finish may commit after a round started. Rows are idempotent.
LOOKBACK = 120.0
BASE_BACKOFF = 5.0
MAX_BACKOFF = 900.0


class MissingWebhookUrl(Exception):
    """A target names an environment variable that is not set."""


@dataclass(frozen=True)
class Target:
    """A configured target with its URL read from the environment."""

    config: NotificationConfig
    url: str

    def wants(self, job: Job) -> bool:
        return not self.config.apps or job.app in self.config.apps


def targets_from(config: DeployerConfig, environ: Mapping[str, str]) -> list[Target]:
    """Every configured target; raise naming each variable that is not set."""
    missing = [t.url_env for t in config.notifications if not environ.get(t.url_env)]
    if missing:
        raise MissingWebhookUrl(
            f"notifications: environment variable(s) not set: {', '.join(missing)}"
        )
    return [Target(t, environ[t.url_env].strip()) for t in config.notifications]


def _slack_escape(text: str) -> str:
    """Slack's three control characters (a tool's error must not @channel anyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(kind: str, job: Job, key: str, job_url: str | None) -> dict[str, Any]:
    """The body for ``kind``: a Slack incoming-webhook message, a Teams Adaptive Card, or
    the plain run record."""
    ok = job.state is JobState.SUCCEEDED
    verb = "deployed" if ok else "failed to deploy"
    title = f"{job.app}: {verb} {job.commit[:7]}"
    where = f"{job.repo} {job.ref.removeprefix('refs/heads/')} ({job.trigger.value}, job #{job.id})"
    if kind == "slack":
        link = f" <{job_url}|job #{job.id}>" if job_url else ""
        icon = ":white_check_mark:" if ok else ":x:"
        text = f"{icon} *{_slack_escape(title)}*{link}\n{_slack_escape(where)}\n"
        return {"text": text + _slack_escape(job.message)}
    if kind == "teams":
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": title,
                "weight": "Bolder",
                "size": "Medium",
                "color": "Good" if ok else "Attention",
                "wrap": True,
            },
            {"type": "TextBlock", "text": where, "isSubtle": True, "wrap": True},
            # A TextBlock renders Markdown (links included); a TextRun is plain text, and the
            # message quotes repositories and tools: no link of theirs becomes clickable.
            {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": job.message}]},
        ]
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        if job_url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open job", "url": job_url}]
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        return {"type": "message", "attachments": [attachment]}
    return {
        "id": key,
        "app": job.app,
        "state": job.state.value,
        "ok": ok,
        "repo": job.repo,
        "ref": job.ref,
        "commit": job.commit,
        "trigger": job.trigger.value,
        "job": job.id,
        "message": job.message,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "url": job_url,
    }


class Notifier:
    """Feeds the outbox from finished jobs and drains it to ``targets``."""

    def __init__(
        self,
        store: JobStore,
        config: DeployerConfig,
        targets: list[Target],
        *,
        clock: Callable[[], float] = time.time,
        backoff: float = BASE_BACKOFF,
        lease: float = 60.0,
    ) -> None:
        self.store = store
        self.config = config
        self.targets = {t.config.key: t for t in targets}
        self.outbox = NotificationOutbox(store.database)
        self.clock = clock
        self.backoff = backoff
        self.lease = lease
        self.session = requests.Session()
        #: Jobs that finished before this notifier started are left to earlier ones (up to
        #: ``LOOKBACK``): a first start does not replay the whole history.
        self.since = clock() - LOOKBACK

    def _targets_for(self, job: Job) -> list[str]:
        return [key for key, target in self.targets.items() if target.wants(job)]

    def round(self) -> int:
        """Record newly finished jobs, then try every due row once; how many were sent."""
        now = self.clock()
        self.outbox.record_finished(self.since, self._targets_for, now)
        self.since = max(self.since, now - LOOKBACK)
        sent = 0
        for row in self.outbox.claim(now, lease=self.lease):
            sent += self._send(row)
        return sent

    def _send(self, row: Notification) -> int:
        target = self.targets.get(row.target)
        job = self.store.get(row.job_id)
        if target is None or job is None:  # a target removed from the config since
            self.outbox.failed(row, "target or job no longer exists", self.clock() + 3600)
            return 0
        key = f"webhook-deployer-{job.id}-{row.target}"
        body = message(target.config.kind, job, key, self._job_url(job))
        headers = {"Idempotency-Key": key, "User-Agent": "webhook-deployer"}
        try:
            answer = self.session.post(target.url, json=body, headers=headers, timeout=TIMEOUT)
            error = "" if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
        except requests.RequestException as exc:
            error = type(exc).__name__  # never str(exc): it quotes the secret URL
        if not error:
            self.outbox.delivered(row, self.clock())
            log.info("job %s: notified %s", job.id, row.target, extra={"job": job.id})
            return 1
        delay = min(self.backoff * 2.0**row.attempts, MAX_BACKOFF)
        self.outbox.failed(row, error, self.clock() + delay)
        log.warning(
            "job %s: notification to %s failed (%s, attempt %s); retrying in %.0fs",
            job.id,
            row.target,
            error,
            row.attempts + 1,
            delay,
            extra={"job": job.id},
        )
        return 0

    def _job_url(self, job: Job) -> str | None:
        base = self.config.public_url
        return f"{base.rstrip('/')}/jobs/{job.id}" if base else None

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """Rounds until ``stop`` is set; never raises."""
        while not stop.is_set():
            try:
                self.round()
            except Exception:
                log.exception("notification round failed; trying again")
            stop.wait(interval)
        self.store.database.close()
