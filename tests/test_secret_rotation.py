"""Webhook secret rotation: the current and the previous secret both accepted, the metric
telling which one signed each accepted delivery, the logs never holding either secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.processes import DeployerProcess
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app

CURRENT = b"rotated-in secret 7f3a"
PREVIOUS = b"rotated-out secret 91cd"


def signatures_metric(text: str) -> dict[str, float]:
    """``deployer_webhook_signatures_total`` by its ``secret`` label, from a scrape."""
    return {
        s.labels["secret"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "deployer_webhook_signatures_total"
    }


@pytest.fixture
def client(config: DeployerConfig, env: Environment, store: SqlStore) -> FlaskClient:
    rotating = Environment(
        webhook_secret=CURRENT,
        webhook_secret_previous=PREVIOUS,
        database_url=env.database_url,
        cache_dir=env.cache_dir,
        log_level="DEBUG",
    )
    return create_app(config, rotating, store).test_client()


def post(client: FlaskClient, delivery: Delivery) -> Any:
    return client.post("/webhooks/github", data=delivery.body, headers=delivery.headers())


@pytest.mark.parametrize(
    ("secret", "status", "jobs"),
    [(CURRENT, 202, 3), (PREVIOUS, 202, 3), (b"neither", 401, 0)],
    ids=["current", "previous", "neither"],
)
def test_a_delivery_signed_with_either_secret_is_accepted_and_no_other(
    client: FlaskClient, store: SqlStore, secret: bytes, status: int, jobs: int
) -> None:
    response = post(client, Delivery("push", branch_push(), secret))
    assert response.status_code == status, response.get_json()
    assert sum(len(store.jobs_for_app(a)) for a in ("guestbook", "redis", "docs")) == jobs


def test_the_previous_secret_is_named_in_a_warning_and_never_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert post(client, Delivery("push", branch_push(), CURRENT)).status_code == 202
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert post(client, Delivery("push", branch_push(), PREVIOUS)).status_code == 202
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "previous webhook secret" in warnings[0]
    assert post(client, Delivery("push", branch_push(), b"neither")).status_code == 401
    for secret in (CURRENT, PREVIOUS, b"neither"):
        assert secret.decode() not in caplog.text


def test_the_metric_counts_accepted_deliveries_by_the_secret_that_matched(
    client: FlaskClient,
) -> None:
    assert signatures_metric(client.get("/metrics").get_data(as_text=True)) == {
        "current": 0,
        "previous": 0,
    }
    for secret in (CURRENT, CURRENT, PREVIOUS, b"neither"):
        post(client, Delivery("push", branch_push(), secret))
    delivery = Delivery("push", branch_push(), PREVIOUS)
    post(client, delivery)
    assert post(client, delivery).get_json()["duplicate"] is True  # counted once
    scraped = client.get("/metrics").get_data(as_text=True)
    assert signatures_metric(scraped) == {"current": 2, "previous": 2}


@pytest.fixture
def web(tmp_path: Path, postgres_url: str) -> Iterator[DeployerProcess]:
    proc = DeployerProcess(
        tmp_path,
        {
            "GITHUB_WEBHOOK_SECRET": CURRENT.decode(),
            "GITHUB_WEBHOOK_SECRET_PREVIOUS": PREVIOUS.decode(),
            "DEPLOYER_DATABASE_URL": postgres_url,
            "DEPLOYER_LOG_LEVEL": "DEBUG",
        },
    )
    proc.start()
    yield proc
    proc.stop()


def test_a_real_web_process_on_postgresql_rotates_counts_and_keeps_secrets_out_of_its_log(
    web: DeployerProcess,
) -> None:
    codes = [
        requests.post(
            f"{web.url}/webhooks/github", data=d.body, headers=d.headers(), timeout=10
        ).status_code
        for d in (Delivery("push", branch_push(), s) for s in (CURRENT, PREVIOUS, b"neither"))
    ]
    assert codes == [202, 202, 401]
    scraped = requests.get(f"{web.url}/metrics", timeout=10).text
    assert signatures_metric(scraped) == {"current": 1, "previous": 1}
    assert web.stop() == 0
    log = web.log()
    assert log.count("signed with the previous webhook secret") == 1
    for secret in (CURRENT, PREVIOUS, b"neither"):
        assert secret.decode() not in log
