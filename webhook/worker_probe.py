"""The worker's own small HTTP endpoint: ``/healthz`` and ``/readyz`` for the kubelet,
``/metrics`` for Prometheus.

A worker process has no web server, yet in a Deployment of its own (PostgreSQL) it needs a
liveness probe that notices a hung worker, and its metrics (syncs, GitHub calls) need a
scrape target. Why HTTP rather than an exec probe on a heartbeat file: the kubelet answers an
``httpGet`` probe itself, while an exec probe starts a process (here a Python interpreter)
in the container every period; and the same port serves ``/metrics``. Why not the lease
heartbeat: it proves the process lives, not that its sync loops move. The check is the
worker's ``stalled()``: a loop with no progress for ``stall_seconds`` (stuck in the store, or
in a step running that long) answers 503 naming it; the kubelet restarts the container and
the job's lease lapses, so another worker takes it over.

It serves nothing else and reads no request body; it binds where ``--health-bind`` says
(inside the pod network: the chart routes it to no Ingress).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from webhook import telemetry

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    server: ProbeServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/readyz"):
            stalled = self.server.stalled()
            status = 503 if stalled else 200
            body = json.dumps({"ok": not stalled, "stalled": stalled}).encode()
            self._answer(status, body, "application/json")
        elif path == "/metrics":
            body, content_type = telemetry.exposition()
            self._answer(200, body, content_type)
        else:
            self._answer(404, b'{"error": "not found"}', "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("probe: " + format, *args)  # every 10 s from the kubelet: not INFO


class ProbeServer(ThreadingHTTPServer):
    """Answers the probes from ``stalled()`` (names of stuck loops; empty when healthy)."""

    daemon_threads = True

    def __init__(self, bind: str, stalled: Callable[[], list[str]]) -> None:
        host, _, port = bind.rpartition(":")
        super().__init__((host.strip("[]") or "0.0.0.0", int(port)), _Handler)
        self.stalled = stalled

    def start(self) -> threading.Thread:
        """Serve in a daemon thread; ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="probe", daemon=True)
        thread.start()
        return thread
