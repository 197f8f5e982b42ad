"""``/metrics`` after real runs, parsed with prometheus_client's own parser: names, types and
values as Prometheus asks (``_total`` counters, ``_seconds`` histograms, base units).

Three real runs: the in-process pipeline (a signed merge through the receiver, the worker
with the real engine on the real API server, the reporter to the local OpenAPI-validated
GitHub server); the real ``serve`` process, whose gunicorn workers and sync worker are
separate processes adding up in one scrape; and the worker's own probe endpoint, which
fails its liveness check while a sync loop is stuck.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.pipeline import CONTEXT, REPO, Deployer, cm
from tests.processes import free_port, probed_worker
from tests.queue.support import request
from tests.test_serve import SECRET as SERVE_SECRET, Server, wait_final
from webhook.model import Job, JobState, StepOutcome
from webhook.queue import sqlite_store
from webhook.worker import Worker
from webhook.worker_probe import ProbeServer

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


#: Every metric the issue names, with the type Prometheus must see.
EXPECTED_TYPES = {
    "deployer_webhook_deliveries": "counter",
    "deployer_syncs": "counter",
    "deployer_sync_duration_seconds": "histogram",
    "deployer_merge_to_status_seconds": "histogram",
    "deployer_queue_depth": "gauge",
    "deployer_queue_oldest_job_age_seconds": "gauge",
    "deployer_github_api_calls": "counter",
    "deployer_github_api_errors": "counter",
    "deployer_github_rate_limit_remaining": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
}


def test_a_real_merge_is_counted_by_every_metric_the_issue_names(deployer: Deployer) -> None:
    """Counters are process-wide (other tests in this process count too): compared before
    and after the run."""
    before = samples(deployer.web.get("/metrics").get_data(as_text=True))
    forged = Delivery("push", branch_push(), b"not the secret")
    refused = deployer.web.post("/webhooks/github", data=forged.body, headers=forged.headers())
    assert refused.status_code == 401
    sha = deployer.commit(cm("settings"))
    deployer.merge(sha, HEAD)  # a push and a closed pull request
    deployer.report()
    deployer.clock.now += 7
    deployer.work()
    deployer.report()
    assert deployer.github.states(REPO, sha, CONTEXT) == ["pending", "success"]

    response = deployer.web.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    types = {name: family.type for name, family in families(text).items()}
    assert {name: types.get(name) for name in EXPECTED_TYPES} == EXPECTED_TYPES
    after = samples(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("deployer_webhook_deliveries_total", event="push", outcome="accepted") == 1
    assert delta("deployer_webhook_deliveries_total", event="pull_request", outcome="accepted") == 1
    # A forged delivery's event header is not trusted as a label.
    assert (
        delta("deployer_webhook_deliveries_total", event="unverified", outcome="signature_invalid")
        == 1
    )
    assert delta("deployer_syncs_total", app="shop", trigger="push", result="succeeded") == 1
    assert delta("deployer_sync_duration_seconds_count", app="shop", trigger="push") == 1
    # The merge's final status reached GitHub 7 s (on the store's clock) after the delivery.
    assert delta("deployer_merge_to_status_seconds_count", app="shop") == 1
    assert delta("deployer_merge_to_status_seconds_sum", app="shop") >= 7
    assert delta("deployer_merge_to_status_seconds_bucket", app="shop", le="5.0") == 0
    assert delta("deployer_merge_to_status_seconds_bucket", app="shop", le="10.0") == 1
    # pending on the merge commit, success on it and on the PR head (whose pending waited
    # ``reporter.SETTLE`` and was never needed), and one comment.
    assert delta("deployer_github_api_calls_total", operation="create_status") == 3
    assert delta("deployer_github_api_calls_total", operation="create_comment") == 1
    assert value(after, "deployer_queue_depth") == 0
    assert value(after, "deployer_queue_oldest_job_age_seconds") == 0
    assert value(after, "process_resident_memory_bytes") > 0


def test_github_errors_and_the_rate_limit_it_reports_are_read(deployer: Deployer) -> None:
    """GitHub answers a status with 502, carrying its rate-limit headers as it always does."""
    before = samples(deployer.web.get("/metrics").get_data(as_text=True))
    sha = deployer.commit(cm("settings"))
    limits = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4321"}
    deployer.github.fail_next(1, status=502, headers=limits)
    deployer.merge(sha, HEAD)
    deployer.report()
    after = samples(deployer.web.get("/metrics").get_data(as_text=True))
    key = {"operation": "create_status", "kind": "unavailable"}
    errors = value(after, "deployer_github_api_errors_total", **key)
    assert errors - value(before, "deployer_github_api_errors_total", **key) == 1
    assert value(after, "deployer_github_rate_limit_remaining") == 4321


def test_the_queue_gauges_read_the_store(deployer: Deployer) -> None:
    sha = deployer.commit(cm("settings"))
    deployer.merge(sha, HEAD)
    deployer.clock.now += 42
    found = samples(deployer.web.get("/metrics").get_data(as_text=True))
    assert value(found, "deployer_queue_depth") == 1  # the push's job; the PR's coalesces
    assert value(found, "deployer_queue_oldest_job_age_seconds") == pytest.approx(42, abs=1)


# --- several processes, one scrape ------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.kill(signal.SIGKILL)  # the whole process group, as tests/test_serve.py does


def test_serve_adds_up_its_processes_in_one_scrape(server: Server) -> None:
    """gunicorn answers with either of its two workers, and the syncs are counted in the
    worker process: every scrape still shows every count, exactly once."""
    accepted = server.deliver(Delivery("push", branch_push(), SERVE_SECRET))
    assert accepted.status_code == 202
    for _ in range(3):
        forged = server.deliver(Delivery("push", branch_push(), b"wrong"))
        assert forged.status_code == 401
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(  # refused by the server before a thread or the receiver sees it
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(25 * 1024 * 1024 + 1).encode() + b"\r\n\r\n{"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
    for job in accepted.json()["jobs"]:
        assert wait_final(server, job["id"])["state"] == "failed"  # the repo does not exist
    for _ in range(6):  # enough scrapes to meet both gunicorn workers
        found = samples(requests.get(f"{server.url}/metrics", timeout=10).text)
        forged_count = value(
            found,
            "deployer_webhook_deliveries_total",
            event="unverified",
            outcome="signature_invalid",
        )
        assert forged_count == 3
        too_large = {"event": "unverified", "outcome": "too_large"}
        assert value(found, "deployer_webhook_deliveries_total", **too_large) == 1
        assert (
            value(found, "deployer_webhook_deliveries_total", event="push", outcome="accepted") == 1
        )
        for app in ("web", "db"):
            assert (
                value(found, "deployer_syncs_total", app=app, trigger="push", result="failed") == 1
            )
        assert value(found, "process_resident_memory_bytes") > 0


# --- the worker's liveness -------------------------------------------------------------------


def test_the_worker_probe_fails_while_a_sync_loop_is_stuck_and_recovers(tmp_path: Path) -> None:
    """The stuck sync is the test's own step blocking on an event: a stand-in for a sync
    hung in git or a cluster call, which cannot be provoked on demand."""
    store = sqlite_store(tmp_path / "deployer.db")
    release = threading.Event()
    started = threading.Event()

    def hung(job: Job) -> StepOutcome:
        started.set()
        release.wait(30)
        return StepOutcome(state=JobState.SUCCEEDED, message="ok")

    worker = Worker(store, hung, concurrency=1, poll_interval=0.02, lease_seconds=30)
    port = free_port()
    probe = ProbeServer(f"127.0.0.1:{port}", lambda: worker.stalled(0.5))
    probe.start()
    runner = threading.Thread(target=worker.run)
    runner.start()
    url = f"http://127.0.0.1:{port}"
    try:
        time.sleep(0.1)
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        store.enqueue([request()])
        assert started.wait(10)
        deadline = time.monotonic() + 10
        while requests.get(f"{url}/healthz", timeout=5).status_code == 200:
            assert time.monotonic() < deadline, "the stuck loop was never noticed"
            time.sleep(0.1)
        answer = requests.get(f"{url}/healthz", timeout=5)
        assert answer.status_code == 503 and answer.json()["stalled"] == ["sync-0"]
        release.set()
        deadline = time.monotonic() + 10
        while requests.get(f"{url}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the loop moved on but stayed unhealthy"
            time.sleep(0.05)
        metrics = requests.get(f"{url}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert families(metrics.text)["deployer_syncs"].type == "counter"
    finally:
        release.set()
        worker.stop()
        runner.join(30)
        probe.shutdown()
        probe.server_close()


def test_the_worker_serves_its_probe_where_the_environment_says(tmp_path: Path) -> None:
    """``DEPLOYER_WORKER_HEALTH_BIND`` stands for ``--health-bind``: a real worker process."""
    proc, url = probed_worker(tmp_path)
    try:
        assert requests.get(f"{url}/healthz", timeout=5).json()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(30)
