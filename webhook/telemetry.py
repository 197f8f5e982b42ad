"""The process's own Prometheus instruments: counted where things happen, read by ``/metrics``.

What the store records exactly (queue depth, jobs per state) is read from the store at
scrape time (``webhook.web.metrics``). What it does not record is counted here, in the
process where it happens: deliveries refused before anything is stored (a bad signature),
syncs and their durations as the worker finishes them, GitHub API calls and the rate limit
GitHub reports.

Several processes answer one scrape (gunicorn's workers, and ``serve``'s worker beside
them), so the CLI turns on prometheus_client's multi-process mode first
(``webhook.metrics_dir``): each process writes its values to files in one directory and a
scrape adds them up.
Nothing here knows Flask, the queue, clusters or GitHub's client.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess as _multiprocess,
)

from webhook.metrics_dir import MULTIPROC_ENV

#: Buckets for a whole sync or a merge until GitHub shows its status: seconds to tens of
#: minutes (clone, render, apply, a health wait of up to an app's ``health_timeout``).
DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)

DELIVERIES = Counter(
    "deployer_webhook_deliveries",
    "GitHub deliveries answered, by event and outcome: accepted, duplicate, ignored, pong, "
    "signature_invalid, bad_request, too_large, unsupported_media_type.",
    ["event", "outcome"],
)
SYNCS = Counter(
    "deployer_syncs",
    "Sync jobs finished by this process's workers, by app, trigger and result (job state).",
    ["app", "trigger", "result"],
)
SYNC_DURATION = Histogram(
    "deployer_sync_duration_seconds",
    "How long a finished sync job ran, from claim to result.",
    ["app", "trigger"],
    buckets=DURATION_BUCKETS,
)
MERGE_TO_STATUS = Histogram(
    "deployer_merge_to_status_seconds",
    "From the delivery of a push or merge to its final commit status on GitHub.",
    ["app"],
    buckets=DURATION_BUCKETS,
)
GITHUB_CALLS = Counter(
    "deployer_github_api_calls",
    "Calls to GitHub's API (a paginated read counts once), by operation.",
    ["operation"],
)
GITHUB_ERRORS = Counter(
    "deployer_github_api_errors",
    "GitHub API calls that failed, by operation and kind: unavailable (retried) or rejected.",
    ["operation", "kind"],
)
GITHUB_RATE_LIMIT_REMAINING = Gauge(
    "deployer_github_rate_limit_remaining",
    "Requests left in GitHub's rate-limit window, as GitHub's latest answer said.",
    multiprocess_mode="mostrecent",
)


def exposition(*extra: CollectorRegistry) -> tuple[bytes, str]:
    """The text a scrape gets (body, content type): this process's instruments, or every
    process's in multi-process mode, then ``extra`` registries (collectors read at scrape)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        # Process metrics cannot be added up: these are the answering process's own.
        ProcessCollector(registry=registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + b"".join(generate_latest(r) for r in extra)
    return body, CONTENT_TYPE_LATEST
