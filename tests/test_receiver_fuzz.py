"""Fuzzing ``POST /webhooks/github``: headers, bodies, content types, encodings and sizes.

Whatever arrives, the receiver never answers 5xx, never stores a job for a delivery
without a valid signature, and its memory stays bounded. Signed deliveries are fuzzed too
(a leaked or rotated secret puts a hostile sender past the signature). The examples are
few (CI time); ``--hypothesis-seed`` replays a failure.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.test import create_environ, run_wsgi_app

from tests.conftest import SECRET
from tests.github.deliveries import github_signature
from tests.github.examples import branch_push
from tests.profiles import examples
from webhook.queue import sqlite_store
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app

PROFILE = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HEADER_NAMES = (
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Hook-ID",
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "Content-Encoding",
    "Transfer-Encoding",
    "Content-Type",
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json; charset=latin-1",
        "",
    ]
)
header_value = st.text(
    st.characters(min_codepoint=32, max_codepoint=126), max_size=80
)  # what an HTTP header can carry
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def _bodies() -> st.SearchStrategy[bytes]:
    push = json.dumps(branch_push()).encode()
    return st.one_of(
        st.binary(max_size=2048),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([push, push.decode().encode("utf-16"), b"payload=" + push, b"[" * 5000]),
        st.integers(0, 100_000).map(lambda n: b"{" + b" " * n + b"}"),
    )


def _receiver(tmp: Path, config: DeployerConfig) -> Any:
    env = Environment(
        webhook_secret=SECRET, database_url=f"sqlite:///{tmp / 'fuzz.db'}", max_body_bytes=65536
    )
    store = sqlite_store(tmp / "fuzz.db")
    return create_app(config, env, store).test_client(), store


def test_unsigned_or_badly_signed_deliveries_never_fail_the_server_nor_queue_a_job(
    tmp_path: Path, config: DeployerConfig
) -> None:
    web, store = _receiver(tmp_path, config)

    @PROFILE
    @given(
        headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_value, max_size=8),
        body=_bodies(),
        content_type=CONTENT_TYPES,
        method=st.sampled_from(["POST", "PUT", "GET"]),
    )
    def deliver(headers: dict[str, str], body: bytes, content_type: str, method: str) -> None:
        headers = {k: v for k, v in headers.items() if k != "Content-Type"}
        if headers.get("X-Hub-Signature-256") == github_signature(SECRET, body):
            headers.pop("X-Hub-Signature-256")  # astronomically unlikely; keep it unsigned
        answer = web.open(
            "/webhooks/github",
            method=method,
            data=body,
            headers={**headers, "Content-Type": content_type},
        )
        assert answer.status_code < 500, answer.get_data()[:200]
        assert store.latest_jobs() == {}

    deliver()
    store.close()


def test_signed_deliveries_of_any_shape_never_fail_the_server(
    tmp_path: Path, config: DeployerConfig
) -> None:
    web, store = _receiver(tmp_path, config)

    @PROFILE
    @given(
        event=st.sampled_from(["push", "pull_request", "ping", "issues", "", " push "])
        | header_value,
        body=_bodies(),
        content_type=CONTENT_TYPES,
        delivery=header_value,
    )
    def deliver(event: str, body: bytes, content_type: str, delivery: str) -> None:
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": github_signature(SECRET, body),
            "Content-Type": content_type,
        }
        answer = web.post("/webhooks/github", data=body, headers=headers)
        assert answer.status_code < 500, answer.get_data()[:200]

    deliver()
    store.close()


class Endless:
    """A request body that never ends (a hostile sender streaming without a length)."""

    def __init__(self) -> None:
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        self.sent += size
        return b"0" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def test_memory_stays_bounded_by_the_body_limit_whatever_is_sent(
    tmp_path: Path, config: DeployerConfig
) -> None:
    """A body streamed without a length, without end: the receiver reads one byte past its
    limit (64 KiB here), answers 413, and allocates about that much, not what was sent."""
    web, store = _receiver(tmp_path, config)
    endless = Endless()
    tracemalloc.start()
    environ = create_environ(
        "/webhooks/github",
        method="POST",
        headers={"Content-Type": "application/json", "X-GitHub-Event": "push"},
    )
    environ.pop("CONTENT_LENGTH", None)  # chunked, as a server that frames it hands it on
    environ.update({"wsgi.input": endless, "wsgi.input_terminated": True})
    _, status, _ = run_wsgi_app(web.application, environ, buffered=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert status.startswith("413")
    assert endless.sent <= 2 * 65536 + 1
    assert peak < 1024 * 1024, f"peak {peak} bytes"
    store.close()
