"""Outgoing notifications of sync results, delivered to real HTTP receivers on loopback.

The jobs are real store records (SQLite), finished through the store as a worker finishes
them; the receivers are real HTTP servers in threads that answer as scripted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.webhook_receiver import SECRET_PATH, Receiver
from webhook.cli import main
from webhook.model import JobState, StepOutcome, SyncRequest, Trigger
from webhook.notify import MissingWebhookUrl, Notifier, Target, targets_from
from webhook.queue import SqlStore, open_store
from webhook.settings import DeployerConfig


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def _config(targets: list[dict[str, Any]]) -> DeployerConfig:
    apps = [
        {"name": n, "repo": "acme/gitops", "path": f"apps/{n}", "namespace": n}
        for n in ("shop", "blog")
    ]
    return DeployerConfig.model_validate(
        {"apps": apps, "notifications": targets, "public_url": "https://deploy.example"}
    )


def _finish(store: SqlStore, app: str, state: JobState, message: str) -> int:
    request = SyncRequest(
        app=app, repo="acme/gitops", commit="a" * 40, ref="refs/heads/main", trigger=Trigger.PUSH
    )
    job = store.enqueue([request]).jobs[0].job
    claimed = store.claim("w", lease_seconds=60)
    assert claimed is not None and claimed.id == job.id
    store.finish(job.id, "w", StepOutcome(state=state, message=message))
    return job.id


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """The store on SQLite and on PostgreSQL: the outbox's SQL is common to both."""
    opened = open_store(database_url)
    yield opened
    opened.close()


def test_a_receiver_failing_twice_gets_exactly_one_delivery(
    store: SqlStore, receivers: list[Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    flaky = Receiver(fail=2)
    receivers.append(flaky)
    config = _config([{"url_env": "HOOK_URL", "kind": "json"}])
    notifier = Notifier(store, config, targets_from(config, {"HOOK_URL": flaky.url}), backoff=0)
    job_id = _finish(store, "shop", JobState.SUCCEEDED, "deployed: 2 objects")
    # The deployer's own lines at DEBUG; other libraries stay at INFO at most, as
    # ``logs.configure`` sets them in every process.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="webhook")

    sent = [notifier.round() for _ in range(6)]

    assert sent == [0, 0, 1, 0, 0, 0]
    assert flaky.refused == 2 and len(flaky.received) == 1
    [got] = flaky.received
    assert got["key"] == f"webhook-deployer-{job_id}-json:HOOK_URL"
    assert got["body"]["id"] == got["key"]
    assert (got["body"]["app"], got["body"]["state"], got["body"]["job"]) == (
        "shop",
        "succeeded",
        job_id,
    )
    assert got["body"]["url"] == f"https://deploy.example/jobs/{job_id}"
    [row] = notifier.outbox.all()
    assert (row.state, row.attempts, row.last_error) == ("delivered", 3, "HTTP 500")
    assert SECRET_PATH not in caplog.text and "not-a-real-secret" not in caplog.text
    assert "HTTP 500" in caplog.text


def test_two_notifiers_on_one_store_deliver_once(
    store: SqlStore, receivers: list[Receiver]
) -> None:
    """Two worker processes' notifiers share the outbox: one row per job and target."""
    receiver = Receiver()
    receivers.append(receiver)
    config = _config([{"url_env": "HOOK_URL"}])
    targets = targets_from(config, {"HOOK_URL": receiver.url})
    first, second = Notifier(store, config, targets), Notifier(store, config, targets)
    _finish(store, "shop", JobState.FAILED, "apply: denied")
    for _ in range(3):
        first.round()
        second.round()
    assert len(receiver.received) == 1


def test_targets_hear_only_their_apps_in_their_format(
    store: SqlStore, receivers: list[Receiver]
) -> None:
    slack, teams, everything = Receiver(), Receiver(), Receiver()
    receivers.extend([slack, teams, everything])
    config = _config(
        [
            {"url_env": "SLACK_URL", "kind": "slack", "apps": ["shop"]},
            {"url_env": "TEAMS_URL", "kind": "teams", "apps": ["blog"]},
            {"url_env": "ALL_URL", "kind": "json"},
        ]
    )
    environ = {"SLACK_URL": slack.url, "TEAMS_URL": teams.url, "ALL_URL": everything.url}
    notifier = Notifier(store, config, targets_from(config, environ))
    _finish(store, "shop", JobState.FAILED, "apply: <!channel> boom")
    _finish(store, "blog", JobState.SUCCEEDED, "deployed")
    notifier.round()

    [to_slack] = [r["body"] for r in slack.received]
    assert to_slack["text"].startswith(":x: *shop: failed to deploy aaaaaaa*")
    assert "&lt;!channel&gt; boom" in to_slack["text"] and "<!channel>" not in to_slack["text"]
    [to_teams] = [r["body"] for r in teams.received]
    card = to_teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == "blog: deployed aaaaaaa"
    assert card["content"]["actions"][0]["url"].startswith("https://deploy.example/jobs/")
    assert sorted(r["body"]["app"] for r in everything.received) == ["blog", "shop"]


def test_previews_queue_states_and_untouched_apps_are_not_notified(
    store: SqlStore, receivers: list[Receiver]
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    config = _config([{"url_env": "HOOK_URL"}])
    notifier = Notifier(store, config, [Target(config.notifications[0], receiver.url)])
    _finish(store, "shop", JobState.OUT_OF_SYNC, "out of sync: awaiting approval")
    request = SyncRequest(
        app="blog",
        repo="acme/gitops",
        commit="b" * 40,
        ref="refs/heads/main",
        trigger=Trigger.PUSH,
    )
    job = store.enqueue([request]).jobs[0].job
    store.claim("w", lease_seconds=60)
    untouched = StepOutcome(state=JobState.SUCCEEDED, message="x", result={"untouched": True})
    store.finish(job.id, "w", untouched)
    notifier.round()
    assert receiver.received == []


def test_a_missing_url_variable_is_named_at_start() -> None:
    config = _config([{"url_env": "SLACK_URL", "kind": "slack"}])
    with pytest.raises(MissingWebhookUrl, match="not set: SLACK_URL"):
        targets_from(config, {})


def test_the_config_refuses_unknown_apps_and_urls_in_place_of_names() -> None:
    with pytest.raises(ValueError, match="unknown app"):
        _config([{"url_env": "X", "apps": ["nope"]}])
    with pytest.raises(ValueError, match="environment variable name"):
        _config([{"url_env": "https://hooks.slack.com/services/T/B/x"}])


def test_check_config_names_a_missing_url_variable(tmp_path: Path) -> None:
    config = tmp_path / "deployer.yaml"
    app = {"name": "shop", "repo": "acme/gitops", "path": "apps/shop", "namespace": "shop"}
    target = {"url_env": "TEAMS_URL", "kind": "teams"}
    config.write_text(yaml.safe_dump({"apps": [app], "notifications": [target]}))
    args = ["check-config", "--config", str(config)]
    missing = CliRunner().invoke(main, args, env={"TEAMS_URL": None})
    assert missing.exit_code == 2
    assert "notifications: environment variable(s) not set: TEAMS_URL" in missing.output
    secret = "https://example.invalid/webhook/not-a-real-secret"
    present = CliRunner().invoke(main, args, env={"TEAMS_URL": secret})
    assert present.exit_code == 0 and secret not in present.output
