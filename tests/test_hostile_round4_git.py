"""Round 4, git: file names that git's default output quotes, and diffs of millions of paths.

A merge or a preview names no files, so the worker asks git which paths the commit changed
and skips the apps it did not touch. git quoted every name holding a byte over 0x7f, a
quote, a backslash or a control character (``core.quotePath``): ``"apps/guestbook/caf\\303\\251
.yaml"`` is under no app folder, so a pull request adding such a file to an app got a preview
that said the app was not touched, and its merge was never deployed.

Real git repositories (served as file:// URLs), the real store, the worker and the engine's
narrowing; the step that would apply is a recorder (the apply is not what is tested).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.gitrepo import commit, git, init
from webhook import sources
from webhook.affected import RecordedInputs, inputs_key
from webhook.engine import SyncEngine
from webhook.errors import Unavailable
from webhook.model import Job, JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment, RepoConfig
from webhook.sources import ChangeTooLarge, Mirrors, Remote
from webhook.steps import narrowed
from webhook.worker import Worker

#: Names git's default output writes in C quotes, each under the guestbook app's folder.
QUOTED_NAMES = (
    "apps/guestbook/café.yaml",
    'apps/guestbook/say "hi".yaml',
    "apps/guestbook/back\\slash.yaml",
    "apps/guestbook/tab\there.yaml",
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init(tmp_path / "origin", branch="master")


def _engine(config: DeployerConfig, repo: Path, tmp_path: Path) -> SyncEngine:
    config = config.model_copy(update={"repos": {REPO: RepoConfig(clone_url=f"file://{repo}")}})
    return SyncEngine(config, Environment(webhook_secret=b"-"), cache_dir=tmp_path / "cache")


class Recorder:
    """The step past narrowing: records which apps would have been synced or previewed."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, Trigger]] = []

    def __call__(self, job: Job) -> StepOutcome:
        self.ran.append((job.app, job.trigger))
        return StepOutcome(state=JobState.SUCCEEDED, message="applied")


@pytest.mark.parametrize("name", QUOTED_NAMES, ids=["utf8", "quote", "backslash", "tab"])
def test_a_file_name_git_would_quote_still_touches_its_app(
    name: str, repo: Path, tmp_path: Path, config: DeployerConfig, store: SqlStore
) -> None:
    base = commit(repo, {"apps/guestbook/a.yaml": "a", "apps/redis/r.yaml": "r"})
    head = commit(repo, {name: "kind: ConfigMap\n"})
    engine = _engine(config, repo, tmp_path)
    remote = Remote(url=f"file://{repo}")
    assert engine.mirrors.changed_paths(REPO, remote, "parent", head) == [name]
    assert engine.mirrors.changed_paths(REPO, remote, base, head) == [name]

    pr = PullRequestRef(number=7, head_sha=head)
    store.enqueue(
        [
            SyncRequest(
                app=app,
                repo=REPO,
                commit=head,
                ref=ref,
                trigger=trigger,
                pull_requests=(pr,),
                diff_base=diff_base,
            )
            for app in ("guestbook", "redis")
            for trigger, ref, diff_base in (
                (Trigger.PREVIEW, "refs/pull/7/head", base),
                (Trigger.MERGE, "refs/heads/master", "parent"),
            )
        ]
    )
    for app_config in config.apps:  # each app's last render read only its own folder
        known = RecordedInputs(key=inputs_key(app_config), commit=base, paths=())
        store.record_inputs(app_config.name, known)
    step = Recorder()
    worker = Worker(store, narrowed(step, engine, store))
    finished = [worker.run_once() for _ in range(4)]
    # The preview shows the change and the merge deploys it; redis stays untouched.
    assert sorted(step.ran) == [("guestbook", Trigger.MERGE), ("guestbook", Trigger.PREVIEW)]
    untouched = [j.app for j in finished if j is not None and j.result == {"untouched": True}]
    assert untouched == ["redis", "redis"]


def test_a_root_commit_lists_names_as_written(repo: Path, tmp_path: Path) -> None:
    root = commit(repo, {QUOTED_NAMES[0]: "x", "docs/ok.yaml": "y"})
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{repo}")
    assert sorted(mirrors.changed_paths(REPO, remote, "parent", root)) == sorted(
        ["docs/ok.yaml", QUOTED_NAMES[0]]
    )


def test_a_diff_of_more_paths_than_the_bound_is_not_held_and_counts_as_touching_every_app(
    repo: Path,
    tmp_path: Path,
    config: DeployerConfig,
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pull request naming millions of files would be held whole in memory; the bound is
    lowered here so a test commit of a few files passes it."""
    monkeypatch.setattr(sources, "MAX_CHANGED_PATHS", 5)
    commit(repo, {"apps/guestbook/a.yaml": "a"})
    head = commit(repo, {f"docs/many/{i}.yaml": str(i) for i in range(12)})
    engine = _engine(config, repo, tmp_path)
    with pytest.raises(ChangeTooLarge, match="more than 5 paths changed"):
        engine.mirrors.changed_paths(REPO, Remote(url=f"file://{repo}"), "parent", head)
    store.enqueue(
        [
            SyncRequest(
                app="guestbook",
                repo=REPO,
                commit=head,
                ref="refs/heads/master",
                trigger=Trigger.MERGE,
                diff_base="parent",
            )
        ]
    )
    step = Recorder()
    Worker(store, narrowed(step, engine, store)).run_once()
    # Too many to tell: synced, as an unknown scope always is (never skipped).
    assert step.ran == [("guestbook", Trigger.MERGE)]
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_diff_that_hangs_is_killed_after_the_git_timeout(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paths are read as a stream, which ``subprocess``'s own timeout cannot bound: a
    ``git diff`` that stops writing must still end, as an outage (retried), not hold the
    worker. The real git runs behind a wrapper first on ``PATH`` that sleeps before a diff."""
    first = commit(repo, {"apps/guestbook/a.yaml": "a"})
    head = commit(repo, {"apps/guestbook/a.yaml": "b"})
    mirrors = Mirrors(tmp_path / "cache")
    remote = Remote(url=f"file://{repo}")
    mirrors.ensure_commit(REPO, remote, head)
    real = shutil.which("git")
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    wrapper = wrappers / "git"
    wrapper.write_text(
        f'#!/bin/sh\ncase " $* " in *" diff "*) exec sleep 30 ;; esac\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}:{os.environ['PATH']}")
    monkeypatch.setattr(sources, "GIT_TIMEOUT", 0.5)
    with pytest.raises(Unavailable, match="git took longer than"):
        mirrors.changed_paths(REPO, remote, first, head)  # else: 30 s, then no paths
