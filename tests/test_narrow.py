"""Narrowing jobs by git diff when an event names no files: merges, previews, cut-short pushes.

Real git repositories (served as file:// URLs), the real store, the local GitHub API server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from tests.github.examples import branch_push, example, merged_pull_request
from tests.gitrepo import commit, git, init
from webhook.affected import RecordedInputs, inputs_key
from webhook.engine import SyncEngine
from webhook.events import AppIndex, decide
from webhook.model import Job, JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig, Environment, RepoConfig
from webhook.sources import Mirrors, Remote
from webhook.steps import narrowed
from webhook.worker import Worker


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init(tmp_path / "origin", branch="master")


def test_changed_paths_against_a_base_and_against_the_first_parent(
    repo: Path, tmp_path: Path
) -> None:
    root = commit(repo, {"apps/guestbook/a.yaml": "a", "apps/redis/r.yaml": "r"})
    branch_point = commit(repo, {"docs/x.yaml": "x"})
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, {"apps/redis/r.yaml": "r2"})
    git(repo, "checkout", "-q", "master")
    commit(repo, {"apps/guestbook/a.yaml": "a2"})  # moves master on after the branch point
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{repo}", token=None)
    master = git(repo, "rev-parse", "master")
    # base...head: only what the feature branch changed, not what master did meanwhile.
    assert mirrors.changed_paths(REPO, remote, master, head) == ["apps/redis/r.yaml"]
    assert mirrors.changed_paths(REPO, remote, "parent", branch_point) == ["docs/x.yaml"]
    assert sorted(mirrors.changed_paths(REPO, remote, "parent", root)) == [
        "apps/guestbook/a.yaml",
        "apps/redis/r.yaml",
    ]


def test_events_without_file_lists_carry_a_diff_base(config: DeployerConfig) -> None:
    index = AppIndex(config.apps)
    merged = merged_pull_request("a" * 40)
    merged["pull_request"]["base"]["ref"] = "master"
    assert {r.diff_base for r in decide("pull_request", merged, index, "d")} == {"parent"}  # type: ignore[union-attr]
    opened = example("pull_request", where={"action": "opened"})
    opened["pull_request"]["base"]["ref"] = "master"
    previews = decide("pull_request", opened, index, "d")
    assert {r.diff_base for r in previews} == {opened["pull_request"]["base"]["sha"]}  # type: ignore[union-attr]
    cut_short = branch_push()
    cut_short.update(created=False, before="b" * 40)
    cut_short["commits"][0].update(added=[], modified=[], removed=[])
    assert {r.diff_base for r in decide("push", cut_short, index, "d")} == {"b" * 40}  # type: ignore[union-attr]
    created = branch_push()  # a new branch: no base to diff against, every app syncs
    assert {r.diff_base for r in decide("push", created, index, "d")} == {None}  # type: ignore[union-attr]


class RecordingStep:
    """A real step standing in for the engine's apply: it records the jobs it ran, and lets
    the reporter run meanwhile, as its thread does in the worker process."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.reporter: Reporter | None = None

    def __call__(self, job: Job) -> StepOutcome:
        self.ran.append(job.app)
        if self.reporter is not None:
            self.reporter.deliver_pending()
        return StepOutcome(state=JobState.SUCCEEDED, message="applied")


def test_a_merge_syncs_and_reports_only_the_apps_it_touched(
    repo: Path,
    tmp_path: Path,
    config: DeployerConfig,
    store: SqlStore,
    github_api: GitHubApiServer,
) -> None:
    commit(repo, {"apps/guestbook/a.yaml": "a", "apps/redis/r.yaml": "r", "docs/d.yaml": "d"})
    merge_sha = commit(repo, {"apps/redis/r.yaml": "r2"})
    config = config.model_copy(update={"repos": {REPO: RepoConfig(clone_url=f"file://{repo}")}})
    engine = SyncEngine(config, Environment(webhook_secret=b"-"), cache_dir=tmp_path / "cache")
    pr = PullRequestRef(number=7, head_sha="c" * 40)
    store.enqueue(
        [
            SyncRequest(
                app=app,
                repo=REPO,
                commit=merge_sha,
                ref="refs/heads/master",
                trigger=Trigger.MERGE,
                pull_requests=(pr,),
                diff_base="parent",
            )
            for app in ("guestbook", "redis", "docs")
        ]
    )
    for app_config in config.apps:  # each app's last render read only its own folder
        known = RecordedInputs(key=inputs_key(app_config), commit=merge_sha, paths=())
        store.record_inputs(app_config.name, known)
    reporter = Reporter(store, config, client_for(github_api), settle=0)
    reporter.deliver_pending()  # queued, scope unknown: nothing to say yet
    assert github_api.calls == []

    step = RecordingStep()
    step.reporter = reporter
    worker = Worker(store, narrowed(step, engine, store))
    finished = [worker.run_once() for _ in range(3)]
    assert step.ran == ["redis"]
    by_app = {job.app: job for job in finished if job is not None}
    assert by_app["guestbook"].result == {"untouched": True}
    assert by_app["guestbook"].message == "apps/guestbook not touched by " + merge_sha[:7]
    reporter.deliver_pending()
    for sha in (merge_sha, pr.head_sha):
        assert github_api.states(REPO, sha, "deploy/redis") == ["pending", "success"]
        assert github_api.states(REPO, sha, "deploy/guestbook") == []
        assert github_api.states(REPO, sha, "deploy/docs") == []


def test_a_git_token_github_will_not_give_is_an_infrastructure_fault(
    repo: Path, tmp_path: Path, config: DeployerConfig
) -> None:
    from webhook.errors import Unavailable

    sha = commit(repo, {"apps/redis/r.yaml": "r"})
    config = config.model_copy(update={"repos": {REPO: RepoConfig(clone_url=f"file://{repo}")}})

    def no_token(repo_name: str) -> str | None:
        raise Unavailable("GitHub answered 503: no message")

    engine = SyncEngine(
        config, Environment(webhook_secret=b"-"), cache_dir=tmp_path / "c", token_for=no_token
    )
    app = config.app("redis")
    assert app is not None
    with pytest.raises(Unavailable, match="no git token for Codertocat/Hello-World"):
        engine.touches(app, sha, "parent", None)
    with pytest.raises(Unavailable):
        engine.head(app)


def test_narrowing_follows_recorded_inputs_and_paths(
    repo: Path, tmp_path: Path, config: DeployerConfig
) -> None:
    """The worker's diff uses the receiver's rule: folder, recorded inputs, ``paths:``."""
    commit(repo, {"apps/redis/r.yaml": "r", "bases/redis/k.yaml": "k", "config/redis.env": "a"})
    base_change = commit(repo, {"bases/redis/k.yaml": "k2"})
    env_change = commit(repo, {"config/redis.env": "b"})
    config = config.model_copy(update={"repos": {REPO: RepoConfig(clone_url=f"file://{repo}")}})
    engine = SyncEngine(config, Environment(webhook_secret=b"-"), cache_dir=tmp_path / "cache")
    redis = config.app("redis")
    assert redis is not None
    with_paths = redis.model_copy(update={"paths": ("config/*.env",)})
    folder_only = RecordedInputs(key=inputs_key(redis), commit=base_change, paths=())
    reads_base = RecordedInputs(key=inputs_key(redis), commit=base_change, paths=("bases/redis/",))
    assert not engine.touches(redis, base_change, "parent", folder_only)
    assert engine.touches(redis, base_change, "parent", reads_base)
    assert engine.touches(redis, base_change, "parent", None)  # unknown inputs
    assert not engine.touches(redis, env_change, "parent", reads_base)
    assert engine.touches(with_paths, env_change, "parent", reads_base)
