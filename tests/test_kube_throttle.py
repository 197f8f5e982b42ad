"""A busy API server's 429 is waited out as its ``Retry-After`` asks, on writes too.

The real kube-apiserver answers 429 only when its priority-and-fairness queues overflow,
which cannot be brought about on demand and deterministically here; so these tests talk to
a tiny local HTTP server that serves just enough discovery for a ``Cluster`` and answers
the first requests of an apply 429. Everything on our side (``Cluster``, the ``kubernetes``
client, urllib3) is the real code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from webhook.kube import throttle
from webhook.kube.client import ApiError, Cluster

CONFIGMAPS = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "configmaps",
            "singularName": "configmap",
            "namespaced": True,
            "kind": "ConfigMap",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        }
    ],
}


class BusyServer:
    """Answers discovery; answers the first ``busy`` PATCHes 429 with ``retry_after``."""

    def __init__(self, busy: int, retry_after: str | None) -> None:
        self.busy = busy
        self.retry_after = retry_after
        self.patches: list[float] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: object, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                found = {
                    "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.4"},
                    "/api": {"kind": "APIVersions", "versions": ["v1"]},
                    "/apis": {"kind": "APIGroupList", "groups": []},
                    "/api/v1": CONFIGMAPS,
                }.get(self.path.split("?")[0])
                self._send(200 if found else 404, found or {"kind": "Status"}, {})

            def do_PATCH(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = yaml.safe_load(self.rfile.read(length))
                owner.patches.append(len(owner.patches))
                if len(owner.patches) <= owner.busy:
                    headers = {"Retry-After": owner.retry_after} if owner.retry_after else {}
                    status = {"kind": "Status", "code": 429, "reason": "TooManyRequests"}
                    self._send(429, status, headers)
                    return
                self._send(200, body, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cluster(server: BusyServer, tmp_path: Path) -> Cluster:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "busy", "cluster": {"server": server.url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "busy", "context": {"cluster": "busy", "user": "u"}}],
                "current-context": "busy",
            }
        )
    )
    return Cluster(context="busy", cache_dir=tmp_path / "cache", kubeconfig=kubeconfig)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits between sends, recorded instead of slept (the test stays fast)."""
    seen: list[float] = []
    monkeypatch.setattr(throttle.time, "sleep", seen.append)
    yield seen


CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "n"},
    "data": {"k": "v"},
}


def test_an_apply_answered_429_is_sent_again_after_retry_after(
    tmp_path: Path, waits: list[float]
) -> None:
    server = BusyServer(busy=2, retry_after="3")
    try:
        cluster = _cluster(server, tmp_path)
        before = throttle.THROTTLED.count
        resource = cluster.resource("v1", "ConfigMap")
        applied = cluster.apply(resource, CONFIG_MAP, dry_run=False, force=False)
        cluster.close()
    finally:
        server.close()
    assert applied["data"] == {"k": "v"}
    assert len(server.patches) == 3  # two 429s, then the apply that landed
    assert waits == [3.0, 3.0]
    assert throttle.THROTTLED.count - before == 2


def test_retries_are_bounded_and_the_last_429_is_an_error(
    tmp_path: Path, waits: list[float]
) -> None:
    server = BusyServer(busy=100, retry_after="600")
    try:
        cluster = _cluster(server, tmp_path)
        resource = cluster.resource("v1", "ConfigMap")
        with pytest.raises(ApiError) as raised:
            cluster.apply(resource, CONFIG_MAP, dry_run=False, force=False)
        cluster.close()
    finally:
        server.close()
    assert raised.value.status == 429
    assert len(server.patches) == throttle.ATTEMPTS
    assert waits == [throttle.MAX_WAIT] * (throttle.ATTEMPTS - 1)  # 600 s asked, 10 s waited


def test_without_retry_after_the_wait_grows() -> None:
    assert [throttle.retry_after({}, n) for n in range(3)] == [0.25, 0.5, 1.0]
    assert throttle.retry_after({"Retry-After": "Fri, 27 Nov 2026 10:00:00 GMT"}, 0) == 0.25
