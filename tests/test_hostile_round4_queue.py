"""Round 4, the queue: a merge that touches no app must not cancel another app's deployment.

A merge event names no files, so each app of the branch gets a job whose scope is unknown
until the worker diffs the merge (``diff_base: parent``). That job superseded the jobs
waiting in its app's lane at once; when the diff then showed the app untouched, it deployed
nothing, and the older job's change (another merge, queued behind a burst) was lost while
its status said "the newer commit ships it". Anyone who could merge a change to the docs
could so cancel the queued deployment of every app on the branch.

Real git repositories (file:// URLs), the real store, the worker and the engine's narrowing;
the step past narrowing records what it would deploy (the apply is not what is tested).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.github.examples import merged_pull_request
from tests.gitrepo import commit, init
from webhook.affected import RecordedInputs, inputs_key
from webhook.engine import SyncEngine
from webhook.events import AppIndex, decide
from webhook.model import Job, JobState, StepOutcome, SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment, RepoConfig
from webhook.steps import narrowed
from webhook.worker import Worker


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init(tmp_path / "origin", branch="master")


class Recorder:
    """The step past narrowing: (app, commit) of every job it would deploy; a job of a
    commit in ``plans`` ends as a plan awaiting approval (a manual app)."""

    def __init__(self, plans: tuple[str, ...] = ()) -> None:
        self.ran: list[tuple[str, str]] = []
        self.plans = plans

    def __call__(self, job: Job) -> StepOutcome:
        self.ran.append((job.app, job.commit))
        if job.commit in self.plans:
            return StepOutcome(state=JobState.OUT_OF_SYNC, message="awaiting approval")
        return StepOutcome(state=JobState.SUCCEEDED, message="applied")


def _setup(
    repo: Path, tmp_path: Path, config: DeployerConfig, store: SqlStore
) -> tuple[SyncEngine, str]:
    base = commit(repo, {"apps/guestbook/a.yaml": "a", "apps/redis/r.yaml": "r", "docs/d": "d"})
    config = config.model_copy(update={"repos": {REPO: RepoConfig(clone_url=f"file://{repo}")}})
    for app in config.apps:  # each app's last render read only its own folder
        store.record_inputs(app.name, RecordedInputs(key=inputs_key(app), commit=base, paths=()))
    return SyncEngine(config, Environment(webhook_secret=b"-"), cache_dir=tmp_path / "cache"), base


def _push(app: str, sha: str) -> SyncRequest:
    """A push whose file lists named ``app``'s folder: its scope is known."""
    return SyncRequest(
        app=app, repo=REPO, commit=sha, ref="refs/heads/master", trigger=Trigger.PUSH
    )


def _merge_event(sha: str, config: DeployerConfig) -> list[SyncRequest]:
    """What the receiver queues for a merge whose event came before its push."""
    payload = merged_pull_request(sha)
    payload["pull_request"]["base"]["ref"] = "master"
    decided = decide("pull_request", payload, AppIndex(config.apps), "merge-delivery")
    assert isinstance(decided, list) and {r.diff_base for r in decided} == {"parent"}
    return decided


def _drain(worker: Worker) -> None:
    while worker.run_once() is not None:
        pass


def test_a_merge_that_touches_no_app_still_deploys_the_change_it_superseded(
    repo: Path, tmp_path: Path, config: DeployerConfig, store: SqlStore
) -> None:
    engine, _ = _setup(repo, tmp_path, config, store)
    guestbook_change = commit(repo, {"apps/guestbook/a.yaml": "a2"})
    (queued,) = store.enqueue([_push("guestbook", guestbook_change)]).jobs
    docs_merge = commit(repo, {"docs/d": "d2"})  # holds the guestbook change: its child
    merged = store.enqueue(_merge_event(docs_merge, engine.config))
    # The burst still costs one sync: the merge's job replaces the queued one...
    assert [j.id for j in merged.superseded] == [queued.job.id]
    (taker,) = [e.job for e in merged.jobs if e.job.app == "guestbook"]
    assert taker.diff_base is None  # ...and so must run, whatever its own change touched

    step = Recorder()
    _drain(Worker(store, narrowed(step, engine, store)))
    # The guestbook change is deployed, at the merge's commit; docs by the docs merge.
    assert sorted(step.ran) == [("docs", docs_merge), ("guestbook", docs_merge)]
    first = store.get(queued.job.id)
    assert first is not None and first.state is JobState.SUPERSEDED
    assert first.superseded_by == taker.id
    done = store.get(taker.id)
    assert done is not None and done.state is JobState.SUCCEEDED
    assert not (done.result or {}).get("untouched")


def test_a_merge_that_touches_no_app_and_supersedes_nothing_is_still_narrowed(
    repo: Path, tmp_path: Path, config: DeployerConfig, store: SqlStore
) -> None:
    """Only a job that replaced others is made to run: alone, an untouched app is skipped."""
    engine, _ = _setup(repo, tmp_path, config, store)
    docs_merge = commit(repo, {"docs/d": "d2"})
    merged = store.enqueue(_merge_event(docs_merge, engine.config))
    assert merged.superseded == ()
    step = Recorder()
    _drain(Worker(store, narrowed(step, engine, store)))
    assert step.ran == [("docs", docs_merge)]


def test_a_plan_replaced_by_a_merge_of_unknown_scope_is_planned_again_at_the_merge(
    repo: Path, tmp_path: Path, config: DeployerConfig, store: SqlStore
) -> None:
    """A plan awaiting approval replaced by a merge that does not touch its app is not lost:
    the merge's job runs (and, for a manual app, plans again at its newer commit)."""
    engine, _ = _setup(repo, tmp_path, config, store)
    planned = commit(repo, {"apps/guestbook/a.yaml": "a2"})
    (plan,) = store.enqueue([_push("guestbook", planned)]).jobs
    docs_merge = commit(repo, {"docs/d": "d2"})
    step = Recorder(plans=(planned, docs_merge))
    worker = Worker(store, narrowed(step, engine, store))
    _drain(worker)
    assert store.get(plan.job.id).state is JobState.OUT_OF_SYNC  # type: ignore[union-attr]

    store.enqueue(_merge_event(docs_merge, engine.config))
    _drain(worker)
    replaced = store.get(plan.job.id)
    assert replaced is not None and replaced.state is JobState.SUPERSEDED
    (newer,) = [j for j in store.jobs_for_app("guestbook") if j.commit == docs_merge]
    assert replaced.superseded_by == newer.id and newer.state is JobState.OUT_OF_SYNC
    assert ("guestbook", docs_merge) in step.ran


def test_a_newer_preview_still_supersedes_the_older_previews_of_its_pull_request(
    store: SqlStore,
) -> None:
    """A preview diffs the pull request's whole change from its base: the newest covers
    the older ones, so those need not run."""

    def preview(sha: str) -> SyncRequest:
        from webhook.model import PullRequestRef

        return SyncRequest(
            app="guestbook",
            repo=REPO,
            commit=sha,
            ref="refs/pull/3/head",
            trigger=Trigger.PREVIEW,
            pull_requests=(PullRequestRef(number=3, head_sha=sha),),
            diff_base="b" * 40,
        )

    (older,) = store.enqueue([preview("1" * 40)]).jobs
    newer = store.enqueue([preview("2" * 40)])
    assert [j.id for j in newer.superseded] == [older.job.id]
