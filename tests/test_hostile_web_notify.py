"""Notifications quote a failed deployment's message, which quotes repositories and tools:
in Slack and Teams it must stay text. Sent through the real notifier to a local receiver.

Teams itself cannot run here: the Teams case checks the card against the Adaptive Cards
schema's rule instead (Markdown, links included, is rendered in a ``TextBlock``; a
``TextRun`` is plain text), by asserting the message travels only in a ``TextRun``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.webhook_receiver import Receiver
from webhook.model import JobState, StepOutcome, SyncRequest, Trigger
from webhook.notify import Notifier, targets_from
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig

PHISH = (
    "apply: [Fix it here](https://evil.example/login) **now** <!channel> <https://evil.example|ok>"
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _elements(card: Any) -> Iterator[dict[str, Any]]:
    if isinstance(card, dict):
        yield card
        for value in card.values():
            yield from _elements(value)
    elif isinstance(card, list):
        for value in card:
            yield from _elements(value)


@pytest.mark.parametrize("kind", ["teams", "slack"])
def test_a_link_in_a_failed_deployments_message_stays_text(
    store: SqlStore, receiver: Receiver, kind: str
) -> None:
    config = DeployerConfig.model_validate(
        {
            "apps": [{"name": "shop", "repo": "acme/shop", "path": "k8s", "namespace": "shop"}],
            "notifications": [{"url_env": "HOOK_URL", "kind": kind}],
        }
    )
    notifier = Notifier(store, config, targets_from(config, {"HOOK_URL": receiver.url}))
    request = SyncRequest(
        app="shop", repo="acme/shop", commit="a" * 40, ref="refs/heads/main", trigger=Trigger.PUSH
    )
    job = store.enqueue([request]).jobs[0].job
    assert store.claim("w", lease_seconds=60) is not None
    store.finish(job.id, "w", StepOutcome(state=JobState.FAILED, message=PHISH))
    assert notifier.round() == 1
    [sent] = [r["body"] for r in receiver.received]
    if kind == "slack":
        assert "<!channel>" not in sent["text"] and "<https://evil" not in sent["text"]
        return
    elements = list(_elements(sent))
    assert not any(
        "evil.example" in str(e.get("text")) for e in elements if e.get("type") == "TextBlock"
    )
    [run] = [e for e in elements if e.get("type") == "TextRun"]
    assert run["text"] == PHISH
