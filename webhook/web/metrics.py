"""``GET /metrics``: Prometheus metrics, from the job records and from the processes.

What the store holds is counted from it at scrape time (jobs per state, the queue, the
outbox, each app's last run): the same records feed the status page, the API, the GitHub
reports and these metrics, so they never disagree, and every replica answers alike. What
happens without a record (a refused delivery, a GitHub API call, a sync's duration) is
counted where it happens (``webhook.telemetry``) and added here, from every process of the
pod in multi-process mode. Nothing here touches a cluster or GitHub.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Blueprint, Response, jsonify
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from webhook import telemetry
from webhook.model import JobState
from webhook.queue import StoreStats
from webhook.web.access import can_read, principal
from webhook.web.context import deployer

bp = Blueprint("metrics", __name__)


class StoreCollector(Collector):
    """Reads the store once per scrape."""

    def __init__(self, stats: Callable[[], StoreStats], clock: Callable[[], float]) -> None:
        self._stats = stats
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._stats()
        jobs = GaugeMetricFamily(
            "deployer_jobs", "Sync jobs on record, by app and state.", labels=["app", "state"]
        )
        for (app, state), count in sorted(stats.jobs.items()):
            jobs.add_metric([app, state], count)
        yield jobs
        queued = GaugeMetricFamily("deployer_jobs_waiting", "Jobs queued or running.")
        queued.add_metric(
            [],
            sum(n for (_, s), n in stats.jobs.items() if s in ("queued", "running")),
        )
        yield queued
        depth = GaugeMetricFamily(
            "deployer_queue_depth", "Jobs waiting for a worker (queued, not yet claimed)."
        )
        depth.add_metric([], stats.jobs_in(JobState.QUEUED))
        yield depth
        oldest_job = GaugeMetricFamily(
            "deployer_queue_oldest_job_age_seconds",
            "Age of the oldest job waiting for a worker (0 when none waits): workers stuck or "
            "too few.",
        )
        queued_at = stats.oldest_queued_at
        oldest_job.add_metric([], max(0.0, self._clock() - queued_at) if queued_at else 0.0)
        yield oldest_job
        deliveries = CounterMetricFamily(
            "deployer_deliveries", "GitHub deliveries accepted (each once)."
        )
        deliveries.add_metric([], stats.deliveries)
        yield deliveries
        signed = CounterMetricFamily(
            "deployer_webhook_signatures",
            "GitHub deliveries accepted, by the webhook secret whose signature matched: "
            "'previous' still counting up means a hook still signs with the old secret.",
            labels=["secret"],
        )
        for secret in ("current", "previous"):
            signed.add_metric([secret], stats.signed_with.get(secret, 0))
        yield signed
        reports = GaugeMetricFamily(
            "deployer_github_reports_pending", "Job state changes not yet reported to GitHub."
        )
        reports.add_metric([], stats.reports_pending)
        yield reports
        age = GaugeMetricFamily(
            "deployer_github_report_lag_seconds",
            "Age of the oldest unreported state change (0 when none): GitHub down or slow.",
        )
        oldest = stats.oldest_report_at
        age.add_metric([], max(0.0, self._clock() - oldest) if oldest is not None else 0.0)
        yield age
        synced = GaugeMetricFamily(
            "deployer_app_last_sync_timestamp_seconds",
            "When each app's latest deployment job finished, by its final state.",
            labels=["app", "state"],
        )
        duration = GaugeMetricFamily(
            "deployer_app_last_sync_duration_seconds",
            "How long each app's latest finished deployment job ran.",
            labels=["app", "state"],
        )
        healthy = GaugeMetricFamily(
            "deployer_app_synced", "1 when the app's latest finished job succeeded.", labels=["app"]
        )
        for app, job in sorted(stats.last_finished.items()):
            state = job.state.value
            synced.add_metric([app, state], job.finished_at or 0.0)
            if job.started_at is not None and job.finished_at is not None:
                duration.add_metric([app, state], job.finished_at - job.started_at)
            healthy.add_metric([app], 1.0 if job.state is JobState.SUCCEEDED else 0.0)
        yield synced
        yield duration
        yield healthy


@bp.get("/metrics")
def metrics() -> Response | tuple[Response, int]:
    """Every app's figures, by name: a signed-in user who cannot read every app's
    repository is refused (a 403 naming why) rather than shown the names of apps whose
    repositories they cannot see. Prometheus scrapes with a ``read`` token."""
    who = principal()
    ctx = deployer()
    if who is not None and who.kind == "user" and not all(can_read(a) for a in ctx.config.apps):
        message = (
            "/metrics names every app: it needs an API token (DEPLOYER_API_TOKENS) or read "
            "access to every app's repository"
        )
        return jsonify({"error": message}), 403
    store = ctx.store
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store.stats, store.clock))  # the records' own clock
    body, content_type = telemetry.exposition(registry)
    return Response(body, content_type=content_type)
