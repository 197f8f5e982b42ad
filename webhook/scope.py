"""Narrow a job to the apps its change touched, when the event could not say (``diff_base``).

A merged pull request's payload lists no files, nor does a pull request's, and a push's lists
can be cut short. Such jobs are queued for every app of the branch with a ``diff_base``; this
step diffs the commit against it in the git mirror first. An untouched app's job ends at once
as succeeded with ``result["untouched"]``, and GitHub hears nothing of it: an app the change
did not touch gets no status. A touched one is reported from then on and runs as usual.
"""

from __future__ import annotations

import logging

from webhook.engine import InfrastructureError, SyncEngine, SyncError
from webhook.model import Job, JobState, StepOutcome
from webhook.queue import JobStore
from webhook.worker import SyncStep

log = logging.getLogger(__name__)


def scoped(step: SyncStep, engine: SyncEngine, store: JobStore) -> SyncStep:
    """``step``, run only for jobs whose change touches their app."""

    def run(job: Job) -> StepOutcome:
        app = engine.config.app(job.app)
        if job.diff_base is None or app is None:
            return step(job)
        try:
            touched = engine.touches(app, job.commit, job.diff_base)
        except (InfrastructureError, SyncError) as exc:
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


def worker_step(engine: SyncEngine, store: JobStore) -> SyncStep:
    """The worker's whole step: narrow by git diff, then preview or sync."""
    from webhook.preview import PreviewStep, dispatch

    return scoped(dispatch(engine, PreviewStep(engine)), engine, store)
