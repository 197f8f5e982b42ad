"""Edges of reading a push that mutation testing showed unguarded: when GitHub's file lists
cannot be trusted (a forced push, as many commits as GitHub lists, none at all), a deleted
branch, a payload without a ref, and the reasons a delivery is ignored, which GitHub shows
to whoever looks at the hook's deliveries. GitHub's published example payloads."""

from __future__ import annotations

import pytest

from tests.github.examples import branch_push
from tests.test_events import edit_push, names
from webhook.events import MAX_PUSH_COMMITS, AppIndex, Ignored, decide
from webhook.settings import DeployerConfig


@pytest.fixture
def index(config: DeployerConfig) -> AppIndex:
    return AppIndex(config.apps)


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
    assert decide("push", payload, index, "d") == Ignored(f"no app's folder changed in {after[:7]}")
    other = edit_push(["apps/redis/deployment.yaml"])
    other["repository"]["full_name"] = "someone/else"  # type: ignore[index]
    assert decide("push", other, index, "d") == Ignored("repository someone/else is not configured")
    branch = edit_push(["apps/redis/deployment.yaml"])
    branch["ref"] = "refs/heads/feature"
    assert decide("push", branch, index, "d") == Ignored(
        "branch feature of Codertocat/Hello-World is not tracked by any app"
    )
