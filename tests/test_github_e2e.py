"""End to end on the real control plane: a signed delivery through the Flask app, the worker
with the real engine, the reporter, and the local OpenAPI-validated GitHub server."""

from __future__ import annotations

import itertools
import logging

import pytest
from kubernetes import client as k8s

from tests.github.examples import example
from tests.pipeline import CONTEXT, REPO, Deployer, cm

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def test_a_merged_pull_request_is_pending_on_its_commit_then_success_on_both_with_one_comment(
    deployer: Deployer, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    """The merge commit says ``pending`` at once; the PR head and the comment wait
    ``reporter.SETTLE``, and a sync done by then leaves them only the outcome to say."""
    sha = deployer.commit(cm("settings"))
    deployer.merge(sha, HEAD)
    deployer.report()
    deployer.work()
    deployer.report()
    assert deployer.github.states(REPO, sha, CONTEXT) == ["pending", "success"]
    assert deployer.github.states(REPO, HEAD, CONTEXT) == ["success"]
    final = deployer.github.last_status(REPO, sha, CONTEXT)
    assert final is not None and final["description"].startswith("1 objects, 1 changed")
    [comment] = deployer.github.comments[(REPO.lower(), 2)]
    assert f"| shop | `{sha[:7]}` | ✅ deployed" in comment["body"]
    live = k8s.CoreV1Api(k8s_api_client).read_namespaced_config_map("settings", namespace)
    assert live.data == {"v": "1"}


def test_a_broken_manifest_is_a_failure_with_its_reason(deployer: Deployer) -> None:
    sha = deployer.commit("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [not, a, name]}\n")
    deployer.merge(sha, HEAD)
    deployer.work()
    deployer.report()
    status = deployer.github.last_status(REPO, HEAD, CONTEXT)
    assert status is not None and status["state"] == "failure"
    assert status["description"], "the first cause is shown"
    assert deployer.github.states(REPO, HEAD, CONTEXT) == ["failure"]


def test_a_burst_of_commits_leaves_every_superseded_commit_with_a_final_status(
    deployer: Deployer,
) -> None:
    shas = [deployer.commit(cm("settings", str(i))) for i in range(4)]
    for i, sha in enumerate(shas):
        deployer.merge(sha, f"{i + 1:x}" * 40)
    deployer.work()
    deployer.report()
    for sha, newer in itertools.pairwise(shas):
        status = deployer.github.last_status(REPO, sha, CONTEXT)
        assert status is not None and status["state"] == "success"
        assert f"superseded by {newer[:7]}" in status["description"]
    assert deployer.github.states(REPO, shas[-1], CONTEXT) == ["success"]
    assert all(s != "pending" for sha in shas for s in deployer.github.states(REPO, sha, CONTEXT))


def test_a_pull_request_gets_a_preview_and_the_cluster_is_not_changed(
    deployer: Deployer,
    k8s_api_client: k8s.ApiClient,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = deployer.commit(cm("settings"))
    deployer.git("checkout", "--quiet", "-b", "feature")
    head = deployer.commit(cm("settings") + "---\n" + cm("extra"))
    payload = example("pull_request", where={"action": "opened"})
    payload["pull_request"]["head"]["sha"] = head
    payload["pull_request"]["base"]["sha"] = base  # in the repository: narrowed by the diff
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        deployer.deliver("pull_request", payload)
        deployer.work()
        deployer.report()
    assert "cannot narrow" not in caplog.text
    status = deployer.github.last_status(REPO, head, "deploy-preview/shop")
    assert status is not None
    assert (status["state"], status["description"]) == (
        "success",
        "2 to create, 0 to change, 0 to delete",
    )
    assert deployer.github.states(REPO, head, CONTEXT) == []
    [comment] = deployer.github.comments[(REPO.lower(), payload["number"])]
    assert "Preview of #" in comment["body"] and "<details>" in comment["body"]
    assert "name: extra" in comment["body"]
    maps = k8s.CoreV1Api(k8s_api_client).list_namespaced_config_map(namespace)
    assert [m.metadata.name for m in maps.items if m.metadata.name != "kube-root-ca.crt"] == []


def test_github_failing_for_a_while_delays_reports_but_loses_and_duplicates_none(
    deployer: Deployer,
) -> None:
    sha = deployer.commit(cm("settings"))
    deployer.merge(sha, HEAD)
    deployer.github.fail_next(3, status=503)
    deployer.github.fail_next(1, status=502, after_apply=True)
    deployer.report()
    deployer.work()
    for _ in range(8):
        deployer.report()
        deployer.clock.now += 700
    for commit in (sha, HEAD):
        assert deployer.github.states(REPO, commit, CONTEXT) == ["success"]
    assert len(deployer.github.comments[(REPO.lower(), 2)]) == 1
    assert deployer.store.pending_reports() == []
