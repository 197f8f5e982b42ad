"""The reporter over a real SQLite store and the local OpenAPI-validated GitHub server."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.conftest import REPO
from tests.github.api_server import GitHubApiServer, client_for
from webhook.comments import DEPLOY_MARKER, PREVIEW_MARKER
from webhook.model import Job, JobState, PullRequestRef, StepOutcome, SyncRequest, Trigger
from webhook.posted_statuses import SqlPostedStatuses
from webhook.queue import SqlStore
from webhook.reporter import Reporter
from webhook.settings import DeployerConfig

MERGE = "1" * 40
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
PR = PullRequestRef(number=2, head_sha=HEAD)
CONTEXT = "deploy/guestbook"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(store: SqlStore) -> Clock:
    clock = Clock()
    store.clock = clock  # type: ignore[method-assign]
    return clock


@pytest.fixture
def reporter(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> Reporter:
    config = config.model_copy(update={"public_url": "https://deployer.example"})
    return Reporter(store, config, client_for(github_api), clock=clock, settle=0)


def merge(
    store: SqlStore,
    commit: str = MERGE,
    app: str = "guestbook",
    pull_requests: tuple[PullRequestRef, ...] = (PR,),
) -> Job:
    """The queued job of a merged pull request (PR #2 unless told) to ``app``."""
    request = SyncRequest(
        app=app,
        repo=REPO,
        commit=commit,
        ref="refs/heads/master",
        trigger=Trigger.MERGE,
        pull_requests=pull_requests,
    )
    return store.enqueue([request]).jobs[0].job


def preview(store: SqlStore, app: str = "guestbook") -> Job:
    """The queued preview job of PR #2's head for ``app``."""
    request = SyncRequest(
        app=app,
        repo=REPO,
        commit=HEAD,
        ref="refs/pull/2/head",
        trigger=Trigger.PREVIEW,
        pull_requests=(PR,),
    )
    return store.enqueue([request]).jobs[0].job


def run(store: SqlStore, outcome: StepOutcome) -> Job:
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    finished = store.finish(job.id, "w", outcome)
    assert finished is not None
    return finished


OK = StepOutcome(state=JobState.SUCCEEDED, message="14 objects, 3 changed, healthy in 6.2s")


def test_a_queued_merge_is_pending_on_the_merge_commit_and_the_pr_head(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    job = merge(store)
    assert reporter.deliver_pending() == 1
    for sha in (MERGE, HEAD):
        status = github_api.last_status(REPO, sha, CONTEXT)
        assert status is not None
        assert (status["state"], status["description"]) == ("pending", "queued")
        assert status["target_url"] == f"https://deployer.example/jobs/{job.id}"
    assert store.pending_reports() == []


def test_pending_then_success_and_nothing_posted_twice(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store)
    reporter.deliver_pending()
    run(store, OK)
    reporter.deliver_pending()
    reporter.deliver_pending()
    for sha in (MERGE, HEAD):
        assert github_api.states(REPO, sha, CONTEXT) == ["pending", "success"]
    last = github_api.last_status(REPO, MERGE, CONTEXT)
    assert last is not None and last["description"] == OK.message


def test_a_second_event_for_the_same_merge_reports_only_to_the_new_commit(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store)
    reporter.deliver_pending()
    other = PullRequestRef(number=3, head_sha="2" * 40)
    merge(store, pull_requests=(other,))
    reporter.deliver_pending()
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending"]
    assert github_api.states(REPO, "2" * 40, CONTEXT) == ["pending"]


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (StepOutcome(state=JobState.FAILED, message="render: bad YAML"), "failure"),
        (
            StepOutcome(
                state=JobState.FAILED,
                message="infrastructure: cluster unreachable",
                result={"error_kind": "infrastructure"},
            ),
            "error",
        ),
        (
            StepOutcome(state=JobState.OUT_OF_SYNC, message="out of sync: awaiting approval"),
            "pending",
        ),
    ],
    ids=["failure", "infrastructure-error", "out-of-sync-awaits-approval"],
)
def test_final_states_map_to_what_a_pr_reader_needs(
    store: SqlStore,
    reporter: Reporter,
    github_api: GitHubApiServer,
    outcome: StepOutcome,
    state: str,
) -> None:
    merge(store)
    run(store, outcome)
    reporter.deliver_pending()
    status = github_api.last_status(REPO, HEAD, CONTEXT)
    assert status is not None
    assert (status["state"], status["description"]) == (state, outcome.message)


def test_a_superseded_commit_gets_a_final_status_naming_the_newer_one(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store, "a" * 40)
    merge(store, "b" * 40)
    reporter.deliver_pending()
    old = github_api.last_status(REPO, "a" * 40, CONTEXT)
    assert old is not None and old["state"] == "success"
    assert "superseded by bbbbbbb" in old["description"]
    assert github_api.states(REPO, "a" * 40, CONTEXT) == ["success"]


def test_long_failures_are_cut_to_140_characters(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store)
    run(store, StepOutcome(state=JobState.FAILED, message="apply: " + "denied " * 60))
    reporter.deliver_pending()
    status = github_api.last_status(REPO, MERGE, CONTEXT)
    assert status is not None and len(status["description"]) == 140


def test_an_outage_delays_reports_and_loses_none(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer, clock: Clock
) -> None:
    merge(store)
    github_api.fail_next(status=503)
    assert reporter.deliver_pending() == 0
    assert len(store.pending_reports()) == 0, "the report waits for its retry time"
    clock.now += 4
    assert reporter.deliver_pending() == 0
    assert len(github_api.calls) == 1, "nothing is sent before the backoff is over"
    clock.now += 2
    assert reporter.deliver_pending() == 1
    assert github_api.states(REPO, MERGE, CONTEXT) == ["pending"]


def test_retry_after_is_honoured(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer, clock: Clock
) -> None:
    merge(store)
    github_api.fail_next(status=429, headers={"Retry-After": "30"})
    reporter.deliver_pending()
    clock.now += 29
    assert reporter.deliver_pending() == 0
    assert len(github_api.calls) == 1
    clock.now += 2
    assert reporter.deliver_pending() == 1


def test_a_rate_limit_waits_until_the_reset(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer, clock: Clock
) -> None:
    merge(store)
    github_api.rate_limit_next(reset_at=time.time() + 300)
    reporter.deliver_pending()
    clock.now += 290
    assert reporter.deliver_pending() == 0
    clock.now += 20
    assert reporter.deliver_pending() == 1


def test_a_delayed_old_report_never_overwrites_a_newer_status(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer, clock: Clock
) -> None:
    merge(store)
    github_api.fail_next(status=502)
    reporter.deliver_pending()
    run(store, OK)
    clock.now += 3600
    reporter.deliver_pending()
    assert github_api.states(REPO, MERGE, CONTEXT) == ["success"]
    assert github_api.states(REPO, HEAD, CONTEXT) == ["success"]
    assert store.pending_reports() == []


def test_a_status_posted_before_a_restart_is_not_posted_again(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    merge(store)
    first = Reporter(store, config, client_for(github_api), clock=clock, settle=0)
    github_api.fail_next(status=502, method="POST")
    first.posted.put(REPO, MERGE, CONTEXT, "pending", "queued")  # posted, then the crash
    first.deliver_pending()
    clock.now += 10
    restarted = Reporter(
        store, config, client_for(github_api), posted=SqlPostedStatuses(store), settle=0
    )
    restarted.clock = clock
    restarted.deliver_pending()
    assert github_api.states(REPO, MERGE, CONTEXT) == []
    assert github_api.states(REPO, HEAD, CONTEXT) == ["pending"]


def test_one_comment_per_pull_request_edited_in_place(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store, app="guestbook")
    merge(store, app="redis")
    reporter.deliver_pending()
    run(store, OK)
    run(store, StepOutcome(state=JobState.FAILED, message="health: redis CrashLoopBackOff"))
    reporter.deliver_pending()
    [comment] = github_api.comments[(REPO.lower(), PR.number)]
    body = comment["body"]
    assert body.startswith(DEPLOY_MARKER)
    assert "| app | commit | result | changes | link |" in body
    assert "| guestbook | `1111111` | ✅ deployed: 14 objects" in body
    assert "❌ failed: health: redis CrashLoopBackOff" in body
    assert "(https://deployer.example/jobs/" in body


def test_a_refused_report_is_dropped_and_the_rest_go_on(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    merge(store, app="guestbook")
    merge(store, app="redis")
    github_api.fail_next(status=422)
    reporter.deliver_pending()
    assert store.pending_reports() == []
    assert github_api.states(REPO, MERGE, "deploy/redis") == ["pending"]


def test_a_preview_has_its_own_context_and_comment(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    preview(store)
    diff = "--- live/Deployment/web\n+++ desired/Deployment/web\n-  replicas: 1\n+  replicas: 2\n"
    run(
        store,
        StepOutcome(
            state=JobState.SUCCEEDED,
            message="0 to create, 1 to change, 0 to delete",
            result={"configured": ["apps/Deployment/web"], "diff": diff},
        ),
    )
    reporter.deliver_pending()
    status = github_api.last_status(REPO, HEAD, "deploy-preview/guestbook")
    assert status is not None
    assert (status["state"], status["description"]) == (
        "success",
        "0 to create, 1 to change, 0 to delete",
    )
    assert github_api.states(REPO, HEAD, CONTEXT) == []
    [comment] = github_api.comments[(REPO.lower(), PR.number)]
    assert comment["body"].startswith(PREVIEW_MARKER)
    assert "<details><summary>diff</summary>" in comment["body"]
    assert "+  replicas: 2" in comment["body"]


def test_deployments_follow_the_job_when_the_app_asks_for_them(
    store: SqlStore, config: DeployerConfig, github_api: GitHubApiServer, clock: Clock
) -> None:
    apps = [
        app.model_copy(update={"deployment_environment": "production"})
        if app.name == "guestbook"
        else app
        for app in config.apps
    ]
    reporter = Reporter(
        store,
        config.model_copy(update={"apps": tuple(apps)}),
        client_for(github_api),
        clock=clock,
        settle=0,
    )
    merge(store)
    reporter.deliver_pending()
    assert github_api.deployments.get(REPO.lower(), []) == [], "no deployment while queued"
    job = store.claim("w", lease_seconds=60)
    assert job is not None
    reporter.deliver_pending()
    store.finish(job.id, "w", OK)
    reporter.deliver_pending()
    [deployment] = github_api.deployments[REPO.lower()]
    assert deployment["environment"] == "production" and deployment["sha"] == MERGE
    states = [s["state"] for s in github_api.deployment_statuses[deployment["id"]]]
    assert states == ["in_progress", "success"]


def test_a_job_change_wakes_the_reporter_at_once(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer
) -> None:
    import threading

    first_round = threading.Event()
    deliver = reporter.deliver_pending

    def counted() -> int:
        delivered = deliver()
        first_round.set()
        return delivered

    reporter.deliver_pending = counted  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=reporter.run, args=(stop,), kwargs={"interval": 60.0})
    thread.start()
    try:
        # The first round found nothing: the reporter now sleeps for up to a minute.
        assert first_round.wait(10)
        job = merge(store)
        reporter.job_changed(job)
        deadline = time.monotonic() + 10
        while github_api.last_status(REPO, MERGE, CONTEXT) is None:
            assert time.monotonic() < deadline, "the reporter slept through the wake-up"
            time.sleep(0.01)
    finally:
        stop.set()
        reporter.wake.set()
        thread.join(10)


def test_the_retry_backoff_doubles_from_5_seconds_and_stops_at_10_minutes(
    store: SqlStore, reporter: Reporter, github_api: GitHubApiServer, clock: Clock
) -> None:
    """A long outage: the report waits 5, 10, 20 ... seconds, never more than 600, and
    nothing is sent before its time (the wait is measured from GitHub's side)."""
    merge(store)
    sent_at: list[float] = []
    for _ in range(9):
        github_api.fail_next(status=503)
        while reporter.deliver_pending() == 0 and len(github_api.calls) == len(sent_at):
            clock.now += 1
        sent_at.append(clock.now)
    waits = [later - earlier for earlier, later in itertools.pairwise(sent_at)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 600]
