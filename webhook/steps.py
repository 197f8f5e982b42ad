"""What a job does, in order: narrow, then preview, or plan and await approval, or sync.

Owns: the worker's step (``Job -> StepOutcome``) and every policy decision on the way:
- **narrow**: a job queued with a ``diff_base`` first diffs its commit in the git mirror; an
  app the change did not touch ends at once, and GitHub hears nothing of it;
- **preview**: a pull request's head is dry-run and diffed, never applied;
- **plan**: an app with ``auto_sync: false`` is dry-run and waits (OUT_OF_SYNC), with its
  redacted diff, for approval;
- **sync**: an automatic app, or an approved job, is applied by the engine;
- **record**: the engine's ``SyncResult`` becomes the job's outcome, and what the render of a
  branch commit read becomes the app's recorded inputs (a failed render forgets them), which
  the receiver and narrowing use (``webhook.affected``); a preview's render records nothing.
An unreachable dependency (``errors.Unavailable``) is turned into an outcome here, once, and
so is a commit its remote lacks (``sources.CommitMissing``): GitHub may announce a commit
before it can be fetched, so the worker retries both with the same growing pause; a missing
commit that never comes ends as a ``source`` failure naming the commit and the remote.
Must not touch: the queue's rows (only ``resolve_scope``), GitHub, the cluster directly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from webhook.affected import RecordedInputs, inputs_key
from webhook.engine import SyncEngine
from webhook.errors import Unavailable
from webhook.model import Job, JobState, StepOutcome, Trigger
from webhook.result import SyncResult
from webhook.settings import AppConfig
from webhook.sources import CommitMissing
from webhook.sync_error import SyncError
from webhook.text import cut
from webhook.worker import SyncStep, check_lease

log = logging.getLogger(__name__)

#: A diff longer than this is cut before it is stored; a comment shows even less.
MAX_DIFF_CHARS = 60_000
#: How a Secret's identity reads in a result (``ObjectRef.__str__``).
SECRET_PREFIX = "Secret "
#: An infrastructure message is cut to this before it is stored and reported.
MAX_MESSAGE_CHARS = 500


class InputsStore(Protocol):
    """Where an app's recorded render inputs live (the job store)."""

    def record_inputs(self, app: str, recorded: RecordedInputs | None) -> None: ...

    def recorded_inputs(
        self, apps: Sequence[str], *, unless_waiting: bool = True
    ) -> Mapping[str, RecordedInputs]: ...


class ScopeStore(InputsStore, Protocol):
    """What narrowing needs from the job store: the app's inputs, marking a job as touching."""

    def resolve_scope(self, job_id: int) -> object: ...


#: A render failing here leaves the app's inputs unknown: a fix may come from any file.
_INPUTS_UNKNOWN = ("source", "render")


def _remember(store: InputsStore | None, app: AppConfig, job: Job, result: SyncResult) -> None:
    """Keep what the render of this branch commit read as the app's inputs."""
    if store is None or job.trigger is Trigger.PREVIEW:
        return
    if result.inputs is not None:
        key = inputs_key(app)
        store.record_inputs(
            app.name, RecordedInputs(key=key, commit=job.commit, paths=result.inputs)
        )
    elif result.error_kind in _INPUTS_UNKNOWN:
        store.record_inputs(app.name, None)


def _outcome(state: JobState, message: str, result: SyncResult) -> StepOutcome:
    return StepOutcome(state=state, message=message, result=result.to_dict())


def _unavailable(exc: Unavailable | CommitMissing, *, dry_run: bool) -> StepOutcome:
    kind = "infrastructure"
    cause = str(exc)
    if isinstance(exc, CommitMissing):
        # Retried as an outage is; its kind makes the final state GitHub's ``failure``.
        kind, cause = "source", f"{cause} (not pushed there, or removed by a force-push)"
    message = cut(f"{kind}: {cause}", MAX_MESSAGE_CHARS)
    # ``unavailable``: the worker queues the job again, after a pause, a few times.
    record: dict[str, Any] = {"error_kind": kind, "error": message, "unavailable": True}
    if dry_run:
        record["dry_run"] = True
    return StepOutcome(state=JobState.FAILED, message=message, result=record)


def sync(
    engine: SyncEngine, app: AppConfig, job: Job, store: InputsStore | None = None
) -> StepOutcome:
    """Apply the job's commit: succeeded when the result is, failed otherwise."""
    result = engine.sync(app, job.commit, before_tier=check_lease)
    _remember(store, app, job, result)
    state = JobState.SUCCEEDED if result.ok else JobState.FAILED
    return _outcome(state, result.summary(), result)


def plan(
    engine: SyncEngine, app: AppConfig, job: Job, store: InputsStore | None = None
) -> StepOutcome:
    """Dry-run a manual app's commit; anything to change waits for approval."""
    result = engine.sync(app, job.commit, dry_run=True)
    _remember(store, app, job, result)
    if not result.ok:
        return _outcome(JobState.FAILED, result.summary(), result)
    if not result.changed:
        return _outcome(JobState.SUCCEEDED, f"in sync: {result.total} objects unchanged", result)
    parts = [f"{len(result.created)} to create", f"{len(result.configured)} to change"]
    if result.pruned:
        parts.append(f"{len(result.pruned)} to prune")
    message = f"out of sync: {', '.join(parts)}; awaiting approval"
    # The redacted diff waits with the plan: the status page shows it beside Approve.
    record = result.to_dict()
    record["diff"] = _diff(engine, app, job)
    return StepOutcome(state=JobState.OUT_OF_SYNC, message=message, result=record)


def _values_uncompared(result: SyncResult) -> SyncResult:
    """Count every live Secret as "to change": whether a PR author's guessed value equals the
    live one must not show in a preview's counts, as it does not show in its diff. The
    objects to change are sorted by name: in apply order, where a live Secret stood (among
    its tier, or moved last) would tell it as well."""
    secrets = tuple(ref for ref in result.unchanged if ref.startswith(SECRET_PREFIX))
    unchanged = tuple(ref for ref in result.unchanged if ref not in secrets)
    configured = tuple(sorted(result.configured + secrets))
    return replace(result, unchanged=unchanged, configured=configured)


def preview(engine: SyncEngine, app: AppConfig, job: Job) -> StepOutcome:
    """A pull request's plan: what merging would change, with its redacted diff."""
    result = _values_uncompared(engine.sync(app, job.commit, dry_run=True, secrets_compared=False))
    if not result.ok:
        return _outcome(JobState.FAILED, f"would fail: {result.summary()}", result)
    if not result.changed:
        return _outcome(JobState.SUCCEEDED, f"no changes: {result.total} objects unchanged", result)
    message = (
        f"{len(result.created)} to create, {len(result.configured)} to change, "
        f"{len(result.pruned)} to delete"
    )
    record = result.to_dict()
    record["diff"] = _diff(engine, app, job, preview=True)
    return StepOutcome(state=JobState.SUCCEEDED, message=message, result=record)


def _diff(engine: SyncEngine, app: AppConfig, job: Job, *, preview: bool = False) -> str:
    try:
        text = engine.diff(app, job.commit, preview=preview)
    except (SyncError, Unavailable, CommitMissing) as exc:
        log.warning("job %s: no diff: %s", job.id, exc)
        return f"(diff unavailable: {exc})\n"
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + "\n… (diff cut)\n"
    return text


def run_job(engine: SyncEngine, job: Job, store: InputsStore | None = None) -> StepOutcome:
    """Preview, sync or plan the job's app at its commit, as the job and the app say; what
    a sync or plan rendered becomes the app's recorded inputs in ``store``."""
    app = engine.config.app(job.app)
    if app is None:
        return StepOutcome(state=JobState.FAILED, message=f"app {job.app!r} is not configured")
    if job.trigger is Trigger.COMMAND:
        # Only ``webhook.commands`` may run a comment command: never sync one here.
        return StepOutcome(
            state=JobState.FAILED,
            message="comment commands need GitHub credentials (GITHUB_TOKEN or a GitHub App)",
        )
    is_preview = job.trigger is Trigger.PREVIEW
    try:
        if is_preview:
            return preview(engine, app, job)
        if app.auto_sync or job.approved:
            return sync(engine, app, job, store)
        return plan(engine, app, job, store)
    except (Unavailable, CommitMissing) as exc:
        return _unavailable(exc, dry_run=is_preview)


def narrowed(step: SyncStep, engine: SyncEngine, store: ScopeStore) -> SyncStep:
    """``step``, run only for jobs whose change touches their app (see the module doc)."""

    def run(job: Job) -> StepOutcome:
        app = engine.config.app(job.app)
        if job.diff_base is None or app is None:
            return step(job)
        try:
            recorded = store.recorded_inputs([app.name], unless_waiting=False).get(app.name)
            touched = engine.touches(app, job.commit, job.diff_base, recorded)
        except (Unavailable, SyncError) as exc:
            # Cannot tell: syncing an untouched app is a harmless no-op, skipping one is not.
            log.warning("job %s: cannot narrow by git diff (%s); syncing", job.id, exc)
            touched = True
        if not touched:
            return StepOutcome(
                state=JobState.SUCCEEDED,
                message=f"{app.path} not touched by {job.commit[:7]}",
                result={"untouched": True},
            )
        store.resolve_scope(job.id)
        return step(job)

    return run


def worker_step(engine: SyncEngine, store: ScopeStore) -> SyncStep:
    """The worker's whole step: narrow by git diff, then preview, sync or plan."""
    return narrowed(lambda job: run_job(engine, job, store), engine, store)
