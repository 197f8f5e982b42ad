"""Logs: JSON lines with context by default, text on request, secrets never printed; and a
real ``serve`` process whose every output line is JSON, through a delivery and a job."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.processes import free_port, spawn, wait_ready
from webhook import logs
from webhook.settings import ConfigError, Environment

SECRET = "log test webhook secret"
TOKEN = "ghp_logtesttoken0123456789abcdef"
ADMIN = "log-test-admin-token"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through a fresh handler; the formatter is set by each test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("webhook.tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_json_lines_carry_the_bound_context_and_the_extras(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.handlers[0].setFormatter(logs.JsonFormatter())
    with logs.bound(job=7, app="web", commit="a" * 40, delivery=None):
        logger.info("job %s started", 7, extra={"attempt": 2})
    logger.warning("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "job 7 started" and first["level"] == "INFO"
    assert (first["job"], first["app"], first["commit"], first["attempt"]) == (
        7,
        "web",
        "a" * 40,
        2,
    )
    assert "delivery" not in first  # None values are left out
    assert first["logger"] == "webhook.tests.logs" and first["time"].endswith("+00:00")
    assert "job" not in second  # the context ends with the block


def test_text_lines_on_request_show_the_same_context(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.handlers[0].setFormatter(logs.TextFormatter())
    with logs.bound(delivery="d-1"):
        logger.info("accepted")
    assert stream.getvalue().rstrip().endswith("INFO webhook.tests.logs: accepted [delivery=d-1]")


def test_every_secret_value_is_masked_in_messages_fields_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAlogtestkeyline\n-----END RSA"
    logger.handlers[0].setFormatter(logs.JsonFormatter([SECRET, TOKEN, key, "short"]))
    try:
        raise RuntimeError(f"token {TOKEN} refused")
    except RuntimeError:
        logger.exception("secret %s", SECRET, extra={"header": f"Bearer {TOKEN}"})
    logger.info("key line MIIEowIBAAKCAQEAlogtestkeyline leaked; short stays")
    text = stream.getvalue()
    for value in (SECRET, TOKEN, "MIIEowIBAAKCAQEAlogtestkeyline"):
        assert value not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries[0]["message"] == "secret <redacted>"
    assert entries[0]["header"] == "Bearer <redacted>"
    assert "token <redacted> refused" in entries[0]["exception"]
    assert "short stays" in entries[1]["message"]  # too short to mask without harm


def test_configure_debug_reaches_our_loggers_but_not_client_libraries() -> None:
    """A fresh process, as each of serve's: our handler on stderr, DEBUG for ``webhook``
    only (a client library's DEBUG prints request and response bodies, Secrets included)."""
    script = (
        "import logging; from webhook import logs\n"
        f"logs.configure('DEBUG', 'json', [{SECRET!r}, None])\n"
        f"logging.getLogger('webhook.engine').debug('applying with ' + {SECRET!r})\n"
        "logging.getLogger('kubernetes.client.rest').debug('response body: data')\n"
        "logging.getLogger('urllib3').info('connection pool')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(e["logger"], e["level"], e["message"]) for e in lines] == [
        ("webhook.engine", "DEBUG", "applying with <redacted>"),
        ("urllib3", "INFO", "connection pool"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "json"), ("text", "text"), (" JSON ", "json")]
)
def test_log_format_comes_from_the_environment(value: str | None, expected: str) -> None:
    environ = {"GITHUB_WEBHOOK_SECRET": "s"}
    if value is not None:
        environ["DEPLOYER_LOG_FORMAT"] = value
    assert Environment.from_environ(environ).log_format == expected


def test_an_unknown_log_format_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "s", "DEPLOYER_LOG_FORMAT": "xml"})
    assert caught.value.errors == ["DEPLOYER_LOG_FORMAT must be one of json, text"]


# --- a real serve process ----------------------------------------------------------------


def write_config(tmp: Path) -> Path:
    config = tmp / "deployer.yaml"
    app = {"repo": "Codertocat/Hello-World", "branch": "master", "namespace": "web"}
    config.write_text(
        yaml.safe_dump(
            {
                "resync_interval": 0,
                "apps": [{"name": "web", "path": "apps/web", **app}],
                "repos": {"Codertocat/Hello-World": {"clone_url": f"file://{tmp}/missing.git"}},
            }
        )
    )
    return config


def run_serve_through_a_delivery_and_a_job(tmp: Path) -> tuple[str, Delivery, dict[str, Any]]:
    """Start serve with every secret set, deliver a push, run its job, stop; the output."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_TOKEN": TOKEN,
        "DEPLOYER_ADMIN_TOKEN": ADMIN,
        # Reports go to a port nobody listens on: failures are logged, never with the token.
        "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp / 'deployer.db'}",
        "DEPLOYER_CACHE_DIR": str(tmp / "cache"),
        "DEPLOYER_LOG_LEVEL": "DEBUG",
        "KUBECONFIG": str(tmp / "no-kubeconfig"),
        "DEPLOYER_RETRY_SECONDS": "0.01",  # the missing repo: retried quickly, then failed
    }
    path = tmp / "serve.log"
    with path.open("wb") as out:
        proc = spawn("serve", write_config(tmp), port, env, log=out, new_session=True)
        try:
            wait_ready(url, proc, path)
            delivery = Delivery("push", branch_push(), SECRET.encode())
            accepted = requests.post(
                f"{url}/webhooks/github", data=delivery.body, headers=delivery.headers(), timeout=10
            )
            assert accepted.status_code == 202, accepted.text
            [job] = accepted.json()["jobs"]
            forged = Delivery("push", branch_push(), b"not the secret")
            requests.post(f"{url}/webhooks/github", data=forged.body, headers=forged.headers())
            requests.post(
                f"{url}/api/apps/web/sync",
                headers={"Authorization": f"Bearer {ADMIN}"},
                json={"revision": "f" * 40},
                timeout=10,
            )
            deadline = time.monotonic() + 30
            while requests.get(f"{url}/api/jobs/{job['id']}", timeout=5).json()["state"] in (
                "queued",
                "running",
            ):
                assert time.monotonic() < deadline, "the job never finished"
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return path.read_text(), delivery, job


def test_serve_logs_json_lines_with_context_and_no_secret(tmp_path: Path) -> None:
    text, delivery, job = run_serve_through_a_delivery_and_a_job(tmp_path)
    for secret in (SECRET, TOKEN, ADMIN):
        assert secret not in text
    assert logs.REDACTED not in text  # nothing even tried to print one
    entries = []
    for line in text.splitlines():
        entry = json.loads(line)  # every line of every process, gunicorn's included
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        entries.append(entry)

    def find(logger: str, **fields: Any) -> dict[str, Any]:
        found = [e for e in entries if e["logger"] == logger and fields.items() <= e.items()]
        assert found, f"no {logger} line with {fields}:\n{text[-3000:]}"
        return found[0]

    accepted = find("webhook.web.receiver", level="INFO", delivery=delivery.delivery, event="push")
    assert accepted["jobs"][0]["id"] == job["id"]
    # DEPLOYER_LOG_LEVEL reaches the gunicorn worker that runs the receiver.
    find("webhook.web.receiver", level="DEBUG", delivery=delivery.delivery)
    refused = find("gunicorn.access", path="/webhooks/github", status=401)
    find("webhook.web.receiver", level="WARNING", delivery=refused["delivery"])
    ids = {"job": job["id"], "app": "web", "commit": job["commit"], "delivery": delivery.delivery}
    started = find("webhook.worker", **ids)
    assert started["message"].startswith(f"job {job['id']}: web at")
    finished = [e for e in entries if e["logger"] == "webhook.worker" and e.get("job") == job["id"]]
    assert finished[-1]["message"].startswith(f"job {job['id']}: failed: ")
    assert ids.items() <= finished[-1].items()
    access = find("gunicorn.access", path="/webhooks/github", status=202)
    assert access["delivery"] == delivery.delivery and access["method"] == "POST"
    find("gunicorn.access", path="/api/apps/web/sync", method="POST")
    find("gunicorn.error", level="INFO")  # gunicorn's own lines, same format
