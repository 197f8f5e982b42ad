from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from tests.github.examples import branch_push, example, merged_pull_request
from webhook.affected import RecordedInputs, inputs_key
from webhook.events import AppIndex, Ignored, Pong, decide
from webhook.model import PullRequestRef, Trigger
from webhook.settings import AppConfig, DeployerConfig


def known(apps: Iterable[AppConfig], *, preview_forks: bool = False) -> AppIndex:
    """An index where every app's last render read nothing outside its folder (plain apps)."""
    by_name = {app.name: app for app in apps}

    def inputs(names: Sequence[str]) -> dict[str, RecordedInputs]:
        return {
            n: RecordedInputs(key=inputs_key(by_name[n]), commit="c" * 40, paths=()) for n in names
        }

    return AppIndex(by_name.values(), preview_forks=preview_forks, inputs=inputs)


def names(decision: object) -> list[str]:
    assert isinstance(decision, list), decision
    return [request.app for request in decision]


def edit_push(files: list[str]) -> dict[str, object]:
    """The published branch push, as a follow-up push (not a branch creation) of ``files``."""
    payload = branch_push()
    payload["created"] = False
    payload["commits"][0].update(added=[], modified=files, removed=[])
    return payload


def test_ping_is_answered(config: DeployerConfig) -> None:
    assert isinstance(decide("ping", example("ping"), known(config.apps), "d"), Pong)


def test_push_deploys_only_apps_whose_folder_changed(config: DeployerConfig) -> None:
    payload = edit_push(["apps/redis/deployment.yaml", "README.md", "apps/redisx/a.yaml"])
    decision = decide("push", payload, known(config.apps), "d1")
    assert names(decision) == ["redis"]
    request = decision[0]  # type: ignore[index]
    assert request.commit == payload["after"]
    assert request.trigger is Trigger.PUSH
    assert request.ref == "refs/heads/master"


def test_push_with_removed_file_touches_its_app(config: DeployerConfig) -> None:
    payload = edit_push([])
    payload["commits"][0]["removed"] = ["docs/index.yaml"]  # type: ignore[index]
    assert names(decide("push", payload, known(config.apps), "d")) == ["docs"]


def test_branch_creation_cannot_be_trusted_so_every_app_of_the_branch_is_affected(
    config: DeployerConfig,
) -> None:
    # The published example is a branch creation that adds README.md.
    decision = decide("push", branch_push(), known(config.apps), "d")
    assert names(decision) == ["guestbook", "redis", "docs"]


def test_push_with_capped_file_list_affects_every_app(config: DeployerConfig) -> None:
    payload = edit_push([f"other/{i}" for i in range(3000)])
    assert names(decide("push", payload, known(config.apps), "d")) == [
        "guestbook",
        "redis",
        "docs",
    ]


def test_push_of_unrelated_files_is_ignored(config: DeployerConfig) -> None:
    decision = decide("push", edit_push(["README.md"]), known(config.apps), "d")
    assert isinstance(decision, Ignored)


def test_tag_push_and_branch_deletion_are_ignored(config: DeployerConfig) -> None:
    index = known(config.apps)
    tag = example("push", where={"ref": "refs/tags/simple-tag", "created": True})
    deletion = branch_push()
    deletion.update(deleted=True, after="0" * 40, head_commit=None)
    assert "not a branch" in decide("push", tag, index, "d").reason  # type: ignore[union-attr]
    assert "deleted" in decide("push", deletion, index, "d").reason  # type: ignore[union-attr]


def test_push_to_an_untracked_branch_or_repo_is_ignored(config: DeployerConfig) -> None:
    index = known(config.apps)
    other_branch = branch_push()
    other_branch["ref"] = "refs/heads/feature"
    other_repo = branch_push()
    other_repo["repository"]["full_name"] = "someone/else"
    assert isinstance(decide("push", other_branch, index, "d"), Ignored)
    assert isinstance(decide("push", other_repo, index, "d"), Ignored)


def test_merged_pull_request_deploys_the_merge_commit_and_remembers_the_head(
    config: DeployerConfig,
) -> None:
    payload = merged_pull_request("a" * 40)
    payload["pull_request"]["base"]["ref"] = "master"
    decision = decide("pull_request", payload, known(config.apps), "d")
    assert names(decision) == ["guestbook", "redis", "docs"]
    request = decision[0]  # type: ignore[index]
    assert request.commit == "a" * 40
    assert request.trigger is Trigger.MERGE
    pull = payload["pull_request"]
    assert request.pull_requests == (
        PullRequestRef(number=pull["number"], head_sha=pull["head"]["sha"]),
    )


def test_unmerged_close_and_other_actions_are_ignored(config: DeployerConfig) -> None:
    index = known(config.apps)
    closed = example("pull_request", where={"action": "closed"})
    closed["pull_request"]["base"]["ref"] = "master"
    labeled = example("pull_request", where={"action": "labeled"})
    assert "without merging" in decide("pull_request", closed, index, "d").reason  # type: ignore[union-attr]
    assert isinstance(decide("pull_request", labeled, index, "d"), Ignored)
    assert isinstance(decide("issues", {"action": "opened"}, index, "d"), Ignored)


def test_lookup_stays_cheap_with_thousands_of_apps() -> None:
    """Lookups walk a file's parent folders (timed in bench/, not here)."""
    apps = [
        AppConfig(name=f"app-{i}", repo="acme/gitops", path=f"apps/app-{i}", namespace="ns")
        for i in range(5000)
    ]
    index = known(apps)
    files = [f"apps/app-{i}/deployment.yaml" for i in range(0, 5000, 2)]
    touched = index.touched("acme/gitops", "main", files)
    assert [a.name for a in touched] == [f"app-{i}" for i in range(0, 5000, 2)]


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_pull_request_update_previews_its_head_for_every_app_of_the_base_branch(
    config: DeployerConfig, action: str
) -> None:
    payload = example("pull_request", where={"action": action})
    pull = payload["pull_request"]
    decision = decide("pull_request", payload, known(config.apps), "d")
    assert isinstance(decision, list)
    assert [r.app for r in decision] == ["guestbook", "redis", "docs"]
    head = PullRequestRef(number=pull["number"], head_sha=pull["head"]["sha"])
    for request in decision:
        assert request.trigger is Trigger.PREVIEW
        assert request.commit == pull["head"]["sha"]
        assert request.pull_requests == (head,)
        assert request.lane == f"{request.app}#pr-{pull['number']}"


def test_pull_request_from_a_fork_gets_no_preview_unless_allowed(config: DeployerConfig) -> None:
    payload = example("pull_request", where={"action": "opened"})
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    ignored = decide("pull_request", payload, known(config.apps), "d")
    assert isinstance(ignored, Ignored)
    assert "fork" in ignored.reason
    allowed = decide("pull_request", payload, known(config.apps, preview_forks=True), "d")
    assert isinstance(allowed, list) and len(allowed) == 3


def test_pull_request_whose_fork_was_deleted_is_untrusted(config: DeployerConfig) -> None:
    payload = example("pull_request", where={"action": "synchronize"})
    payload["pull_request"]["head"]["repo"] = None
    assert isinstance(decide("pull_request", payload, known(config.apps), "d"), Ignored)


def test_pull_request_into_an_untracked_branch_gets_no_preview(config: DeployerConfig) -> None:
    payload = example("pull_request", where={"action": "opened"})
    payload["pull_request"]["base"]["ref"] = "feature"
    decision = decide("pull_request", payload, known(config.apps), "d")
    assert isinstance(decision, Ignored) and "not tracked" in decision.reason
