"""The preview step on the real control plane: a plan and a redacted diff, never an apply."""

from __future__ import annotations

import base64

from kubernetes import client as k8s

from tests.gitops import GitOps, cm, dump
from webhook.model import Job, JobState, PullRequestRef, Trigger
from webhook.steps import run_job


def preview_job(sha: str, trigger: Trigger = Trigger.PREVIEW) -> Job:
    return Job(
        id=9,
        app="shop",
        repo="acme/gitops",
        commit=sha,
        ref="refs/pull/2/head",
        trigger=trigger,
        state=JobState.RUNNING,
        pull_requests=(PullRequestRef(number=2, head_sha=sha),),
    )


def secret(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {"password": base64.b64encode(value.encode()).decode()},
    }


def test_a_preview_counts_the_plan_shows_a_redacted_diff_and_applies_nothing(
    gitops: GitOps, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    first = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), cm("b"))})
    assert gitops.sync(first).ok
    head = gitops.commit(
        {"apps/shop/app.yaml": dump(cm("a", "2"), cm("c"), secret("db", "hunter2-secret"))}
    )
    outcome = run_job(gitops.engine(prune=True), preview_job(head))
    assert outcome.state is JobState.SUCCEEDED
    assert outcome.message == "2 to create, 1 to change, 1 to delete"
    diff = outcome.result["diff"]
    assert "ConfigMap" in diff and "hunter2-secret" not in diff
    assert base64.b64encode(b"hunter2-secret").decode() not in diff
    core = k8s.CoreV1Api(k8s_api_client)
    names = {m.metadata.name for m in core.list_namespaced_config_map(namespace).items}
    assert {"a", "b"} <= names and "c" not in names
    assert core.read_namespaced_config_map("a", namespace).data == {"value": "1"}
    assert [s.metadata.name for s in core.list_namespaced_secret(namespace).items] == []


def test_a_preview_that_would_fail_says_why(gitops: GitOps) -> None:
    head = gitops.commit({"apps/shop/app.yaml": "kind: ConfigMap\nmetadata: {name: x}\n"})
    outcome = run_job(gitops.engine(), preview_job(head))
    assert outcome.state is JobState.FAILED
    assert outcome.message.startswith("would fail: ")


def test_an_unchanged_preview_says_so(gitops: GitOps) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"))})
    assert gitops.sync(sha).ok
    outcome = run_job(gitops.engine(), preview_job(sha))
    assert (outcome.state, outcome.message) == (
        JobState.SUCCEEDED,
        "no changes: 1 objects unchanged",
    )
    assert "diff" not in outcome.result


def test_only_previews_are_dry_run_every_other_job_of_an_auto_sync_app_applies(
    gitops: GitOps, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"))})
    core = k8s.CoreV1Api(k8s_api_client)

    def names() -> set[str]:
        return {m.metadata.name for m in core.list_namespaced_config_map(namespace).items}

    planned = run_job(gitops.engine(), preview_job(sha))
    assert planned.message == "1 to create, 0 to change, 0 to delete"
    assert "a" not in names()
    applied = run_job(gitops.engine(), preview_job(sha, Trigger.PUSH))
    assert applied.state is JobState.SUCCEEDED and "diff" not in (applied.result or {})
    assert "a" in names()


def test_a_preview_counts_a_right_and_a_wrong_guess_of_a_secret_value_alike(
    gitops: GitOps,
) -> None:
    live = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), secret("db", "hunter2-secret"))})
    assert gitops.sync(live).ok
    outcomes = []
    for guess in ("hunter2-secret", "wrong-guess"):
        head = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), secret("db", guess))})
        outcomes.append(run_job(gitops.engine(), preview_job(head)))
    right, wrong = outcomes
    assert right.message == wrong.message == "0 to create, 1 to change, 0 to delete"
    assert right.result is not None and wrong.result is not None
    for key in ("created", "configured", "unchanged"):
        assert right.result[key] == wrong.result[key]
