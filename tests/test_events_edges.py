"""Edges of reading a push that mutation testing showed unguarded: when GitHub's file lists
cannot be trusted (a forced push, as many commits as GitHub lists, none at all), a deleted
branch, a payload without a ref, and the reasons a delivery is ignored, which GitHub shows
to whoever looks at the hook's deliveries. GitHub's published example payloads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.github.examples import branch_push, example, merged_pull_request
from tests.test_events import edit_push, known, names
from webhook.events import MAX_PUSH_COMMITS, AppIndex, Ignored, Pong, decide
from webhook.settings import DeployerConfig


@pytest.fixture
def index(config: DeployerConfig) -> AppIndex:
    """Every app's inputs known (its folder only): file lists decide which apps a push
    touches, so the edges below are where those lists cannot be trusted."""
    return known(config.apps)


def every_app(index: AppIndex) -> list[str]:
    return names(decide("push", branch_push(), index, "d"))  # a new branch: every app


def test_a_forced_push_syncs_every_app_whatever_its_file_lists_say(index: AppIndex) -> None:
    payload = edit_push(["apps/redis/deployment.yaml"])
    assert names(decide("push", payload, index, "d")) == ["redis"]
    payload["forced"] = True
    decision = decide("push", payload, index, "d")
    assert names(decision) == every_app(index) and len(every_app(index)) > 1
    assert {r.diff_base for r in decision} == {None}  # type: ignore[union-attr]


def test_as_many_commits_as_github_lists_means_the_lists_may_be_cut(index: AppIndex) -> None:
    payload = edit_push(["apps/redis/deployment.yaml"])
    commit = payload["commits"][0]  # type: ignore[index]
    payload["commits"] = [commit] * (MAX_PUSH_COMMITS - 1)
    assert names(decide("push", payload, index, "d")) == ["redis"]
    payload["commits"] = [commit] * MAX_PUSH_COMMITS
    assert names(decide("push", payload, index, "d")) == every_app(index)


def test_a_push_listing_no_commits_syncs_every_app(index: AppIndex) -> None:
    """A branch moved to a commit it already had: GitHub lists no commits."""
    payload = edit_push([])
    payload["commits"] = []
    assert names(decide("push", payload, index, "d")) == every_app(index)


def test_a_deleted_branch_is_ignored_by_its_flag_alone(index: AppIndex) -> None:
    payload = edit_push(["apps/redis/deployment.yaml"])
    payload["deleted"] = True
    assert decide("push", payload, index, "d") == Ignored("branch master was deleted")


def test_a_push_without_a_ref_is_a_value_error(index: AppIndex) -> None:
    payload = edit_push(["apps/redis/deployment.yaml"])
    del payload["ref"]
    with pytest.raises(ValueError, match=r"^push payload lacks repository.full_name or ref$"):
        decide("push", payload, index, "d")
    payload = edit_push(["apps/redis/deployment.yaml"])
    payload["after"] = "not-a-sha"
    with pytest.raises(ValueError, match=r"^push payload lacks a commit SHA in 'after'$"):
        decide("push", payload, index, "d")


def test_the_reasons_for_ignoring_a_push_name_what_was_missing(index: AppIndex) -> None:
    payload = edit_push(["README.md"])
    after = str(payload["after"])
    reason = f"no app's folder, inputs or paths changed in {after[:7]}"
    assert decide("push", payload, index, "d") == Ignored(reason)
    other = edit_push(["apps/redis/deployment.yaml"])
    other["repository"]["full_name"] = "someone/else"  # type: ignore[index]
    assert decide("push", other, index, "d") == Ignored("repository someone/else is not configured")
    branch = edit_push(["apps/redis/deployment.yaml"])
    branch["ref"] = "refs/heads/feature"
    assert decide("push", branch, index, "d") == Ignored(
        "branch feature of Codertocat/Hello-World is not tracked by any app"
    )


def test_every_request_carries_the_delivery_ref_and_repository(index: AppIndex) -> None:
    push = edit_push(["apps/redis/deployment.yaml"])
    [request] = decide("push", push, index, "push-1")  # type: ignore[misc]
    assert (request.delivery, request.ref, request.repo) == (
        "push-1",
        "refs/heads/master",
        "Codertocat/Hello-World",
    )
    merged = merged_pull_request("a" * 40)
    merged["pull_request"]["base"]["ref"] = "master"
    for request in decide("pull_request", merged, index, "merge-1"):  # type: ignore[union-attr]
        assert (request.delivery, request.ref, request.commit) == (
            "merge-1",
            "refs/heads/master",
            "a" * 40,
        )
        assert request.repo == "Codertocat/Hello-World"
    opened = example("pull_request", where={"action": "opened"})
    opened["pull_request"]["base"]["ref"] = "master"
    number = opened["number"]
    for request in decide("pull_request", opened, index, "pr-1"):  # type: ignore[union-attr]
        assert (request.delivery, request.ref) == ("pr-1", f"refs/pull/{number}/head")
        assert request.diff_base == opened["pull_request"]["base"]["sha"]


def test_a_merge_without_a_usable_head_carries_no_pull_request_ref(index: AppIndex) -> None:
    merged = merged_pull_request("a" * 40)
    merged["pull_request"]["base"]["ref"] = "master"
    merged["pull_request"]["head"]["sha"] = "not-a-sha"
    assert {r.pull_requests for r in decide("pull_request", merged, index, "d")} == {()}  # type: ignore[union-attr]
    opened = example("pull_request", where={"action": "opened"})
    opened["pull_request"]["base"]["ref"] = "master"
    opened["pull_request"]["base"]["sha"] = "not-a-sha"
    assert {r.diff_base for r in decide("pull_request", opened, index, "d")} == {None}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("pull_request"), "pull_request payload lacks pull_request or repository"),
        (lambda p: p.pop("repository"), "pull_request payload lacks pull_request or repository"),
        (lambda p: p["pull_request"].pop("base"), "pull_request lacks base or head"),
        (lambda p: p["pull_request"].pop("head"), "pull_request lacks base or head"),
        (
            lambda p: p["pull_request"]["head"].update(sha="x"),
            "pull_request lacks number, base.ref or head.sha",
        ),
        (
            lambda p: p["pull_request"].update(number="7"),
            "pull_request lacks number, base.ref or head.sha",
        ),
        (lambda p: p.update(action=7), "pull_request 'action' has the wrong type (int)"),
    ],
)
def test_a_malformed_pull_request_is_a_value_error_saying_what_is_missing(
    index: AppIndex, change: Any, message: str
) -> None:
    opened = example("pull_request", where={"action": "opened"})
    opened["pull_request"]["base"]["ref"] = "master"
    change(opened)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        decide("pull_request", opened, index, "d")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["pull_request"]["base"].pop("ref"),
            "merged pull_request lacks base.ref, number or merge_commit_sha",
        ),
        (
            lambda p: p["pull_request"].update(merge_commit_sha="x"),
            "merged pull_request lacks base.ref, number or merge_commit_sha",
        ),
        (
            lambda p: p["pull_request"].update(number="2"),
            "merged pull_request lacks base.ref, number or merge_commit_sha",
        ),
    ],
)
def test_a_malformed_merge_is_a_value_error_saying_what_is_missing(
    index: AppIndex, change: Any, message: str
) -> None:
    merged = merged_pull_request("a" * 40)
    merged["pull_request"]["base"]["ref"] = "master"
    change(merged)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        decide("pull_request", merged, index, "d")


def test_the_reasons_for_ignoring_other_deliveries(index: AppIndex) -> None:
    assert decide("ping", {"zen": "Keep it simple."}, index, "d") == Pong("Keep it simple.")
    assert decide("ping", {}, index, "d") == Pong("")
    assert decide("issues", {}, index, "d") == Ignored("event 'issues' does not deploy")
    closed = example("pull_request", where={"action": "closed"})
    closed["pull_request"]["merged"] = False
    number = closed["number"]
    assert decide("pull_request", closed, index, "d") == Ignored(
        f"pull request #{number} was closed without merging"
    )
    closed["action"] = "labeled"
    assert decide("pull_request", closed, index, "d") == Ignored(
        f"pull request #{number} labeled: only merges deploy"
    )
    elsewhere = example("pull_request", where={"action": "opened"})
    elsewhere["repository"]["full_name"] = "someone/else"
    assert decide("pull_request", elsewhere, index, "d") == Ignored(
        "repository someone/else is not configured"
    )
    untracked = merged_pull_request("a" * 40)
    untracked["pull_request"]["base"]["ref"] = "feature"
    assert decide("pull_request", untracked, index, "d") == Ignored(
        "branch feature of Codertocat/Hello-World is not tracked by any app"
    )
    assert AppIndex(()).on_branch("Codertocat/Hello-World", "master") == ()


def test_only_a_fast_forward_with_cut_lists_carries_its_before_as_the_diff_base(
    index: AppIndex,
) -> None:
    """``before`` is a diff base only when the lists are cut short *and* the push moved the
    branch forward: a forced push (or a created branch) dropped or added history that a diff
    from ``before`` would not show, and whole lists need no diff at all."""
    listed = edit_push(["apps/redis/deployment.yaml"])
    listed["before"] = "b" * 40
    assert {r.diff_base for r in decide("push", listed, index, "d")} == {None}  # type: ignore[union-attr]
    cut = edit_push([])
    cut["before"] = "b" * 40
    assert {r.diff_base for r in decide("push", cut, index, "d")} == {"b" * 40}  # type: ignore[union-attr]
    for flag in ("forced", "created"):
        moved = {**cut, flag: True}
        assert {r.diff_base for r in decide("push", moved, index, "d")} == {None}, flag  # type: ignore[union-attr]
