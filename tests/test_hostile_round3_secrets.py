"""Round 3 of the attacker's review: a Secret's value must not leak, nor be testable, through
any path other than the diff (which ``test_diff.py`` and ``test_hostile_github.py`` cover).

On the real control plane: a PR author writes a Secret whose data the API server cannot
take, or guesses a live Secret's value in an app that has hooks, and reads the preview.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.gitops import GitOps, dump
from tests.test_preview import preview_job
from webhook.comments import preview_comment
from webhook.kube.diff import REDACTED, redact_message
from webhook.model import Job, JobState
from webhook.steps import run_job

LIVE = "the-live-password-9f3c"
HOOK = {"argocd.argoproj.io/hook": "PreSync"}


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, **fields}


def migration() -> dict[str, Any]:
    """A PreSync hook (a ConfigMap: Current at once, so the first sync needs no nodes)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "migrate", "annotations": HOOK},
        "data": {"step": "1"},
    }


def encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def shown(job: Job) -> str:
    """Everything a preview shows anyone: its message and record, and its PR comment."""
    return json.dumps({"message": job.message, "result": job.result}) + preview_comment(
        2, [job], "https://deployer.example"
    )


def finished(sha: str, outcome: Any) -> Job:
    return replace(
        preview_job(sha), state=outcome.state, message=outcome.message, result=outcome.result
    )


def test_a_guessed_secret_value_is_not_told_by_the_hooks_a_preview_lists(
    gitops: GitOps, k8s_api_client: k8s.ApiClient
) -> None:
    """An app with a PreSync hook and a live Secret. A PR that changes only the Secret's
    value listed the hooks a merge would run when the guess was wrong, and none when it was
    right: one push, one bit. Both now read alike, hooks listed."""
    first = gitops.commit(
        {"apps/shop/app.yaml": dump(secret(stringData={"pw": LIVE}), migration())}
    )
    assert gitops.sync(first).ok
    bodies = {}
    for guess in ("a-wrong-guess", LIVE):
        head = gitops.commit(
            {"apps/shop/app.yaml": dump(secret(stringData={"pw": guess}), migration())}
        )
        outcome = run_job(gitops.engine(), preview_job(head))
        assert outcome.state is JobState.SUCCEEDED, outcome.message
        text = shown(finished(head, outcome)).replace(head, "HEAD").replace(head[:7], "HEAD")
        bodies[guess] = text.replace(f'"duration": {outcome.result["duration"]}', "")
    assert bodies["a-wrong-guess"] == bodies[LIVE]
    assert "PreSync ConfigMap" in bodies[LIVE]


def test_a_guessed_secret_value_is_not_told_by_the_order_of_the_objects_to_change(
    gitops: GitOps,
) -> None:
    """A PR changes a Service and guesses the live Secret's value. The record the page and
    the API show listed the objects to change in apply order, the Secret first (its tier
    comes before Services) when the guess was wrong, and last (counted "to change" only
    afterwards) when it was right."""
    first = gitops.commit({"apps/shop/app.yaml": dump(secret(stringData={"pw": LIVE}), web(80))})
    assert gitops.sync(first).ok
    records = {}
    for guess in ("a-wrong-guess", LIVE):
        head = gitops.commit(
            {"apps/shop/app.yaml": dump(secret(stringData={"pw": guess}), web(81))}
        )
        outcome = run_job(gitops.engine(), preview_job(head))
        assert outcome.state is JobState.SUCCEEDED, outcome.message
        records[guess] = {
            k: v for k, v in outcome.result.items() if k not in ("commit", "duration")
        }
    assert records["a-wrong-guess"] == records[LIVE]
    assert sorted(records[LIVE]["configured"]) == records[LIVE]["configured"]


def web(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": port}]},
    }


@pytest.mark.parametrize(
    "data",
    [
        {"stringData": {"pw": {"nested": "hunter2-in-a-map"}}},
        {"stringData": {"pw": ["hunter2-in-a-list"]}},
        {"data": ["hunter2-as-data"]},
        {"data": {"pw": 48151623}},
    ],
    ids=["map-value", "list-value", "list-data", "number"],
)
def test_the_api_servers_error_never_quotes_a_secrets_value(
    gitops: GitOps, data: dict[str, Any]
) -> None:
    """Server-side apply refuses a Secret whose value has the wrong type by quoting the value
    (``.stringData.pw: expected string, got &value.valueUnstructured{Value:map[...]}``): the
    status, the comment, the page and the log all carried it. The path stays, the value not."""
    head = gitops.commit({"apps/shop/app.yaml": dump(secret(**data))})
    outcome = run_job(gitops.engine(), preview_job(head))
    assert outcome.state is JobState.FAILED
    text = shown(finished(head, outcome))
    for leaked in ("hunter2", "48151623"):
        assert leaked not in text
    assert "Secret" in outcome.message and REDACTED in outcome.message


def test_an_apply_of_a_secret_that_fails_quotes_no_value_in_the_sync_record(
    gitops: GitOps,
) -> None:
    """The same through a sync (not a preview): the record the store, page and log get."""
    head = gitops.commit({"apps/shop/app.yaml": dump(secret(stringData={"pw": {"k": "hunter2"}}))})
    result = gitops.sync(head)
    assert not result.ok
    assert "hunter2" not in json.dumps(result.to_dict())


@pytest.mark.parametrize(
    ("message", "body", "kept"),
    [
        (
            "x: .data.a: expected string, got &value.valueUnstructured{Value:12345}",
            secret(data={"a": 12345}),
            "x: .data.a: expected string, got <redacted>",
        ),
        (
            'denied by policy: password "s3cr3t-value" is too weak',
            secret(stringData={"password": "s3cr3t-value"}),
            'denied by policy: password "<redacted>" is too weak',
        ),
        (
            f"admission webhook said: {encoded('decoded-secret')} / decoded-secret",
            secret(data={"k": encoded("decoded-secret")}),
            "admission webhook said: <redacted> / <redacted>",
        ),
        (
            "x: .data.a: expected string, got 12345",
            {"kind": "ConfigMap", "data": {"a": 12345}},
            "x: .data.a: expected string, got 12345",
        ),
    ],
    ids=["typed-patch", "admission-string", "admission-base64-and-decoded", "not-a-secret"],
)
def test_a_message_about_a_secret_loses_every_value_it_quotes(
    message: str, body: dict[str, Any], kept: str
) -> None:
    """What an admission webhook or policy echoes of a Secret is hidden too, in data's
    base64 and decoded forms; other kinds' messages are left as the server wrote them."""
    assert redact_message(message, body) == kept
