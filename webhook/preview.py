"""The sync step of a pull request preview: what merging would change, never applied.

Owns: turning a ``Trigger.PREVIEW`` job into a server-side dry run of the PR's head commit
and its redacted diff, and ``dispatch``, which routes each job to this step or to the
engine's own. Must not touch: the queue, GitHub, anything that writes to a cluster (it
calls only the engine's dry run and diff).
"""

from __future__ import annotations

import logging

from webhook.engine import InfrastructureError, SyncEngine, SyncError
from webhook.model import Job, JobState, StepOutcome, Trigger
from webhook.worker import SyncStep

log = logging.getLogger(__name__)

#: A diff longer than this is cut before it is stored; a comment shows even less.
MAX_DIFF_CHARS = 60_000


class PreviewStep:
    """``Job -> StepOutcome`` for previews: a dry run and a diff, Secret data redacted."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine

    def __call__(self, job: Job) -> StepOutcome:
        app = self.engine.config.app(job.app)
        if app is None:
            return StepOutcome(state=JobState.FAILED, message=f"app {job.app!r} is not configured")
        try:
            result = self.engine.sync(app, job.commit, dry_run=True)
        except InfrastructureError as exc:
            message = f"infrastructure: {exc}"[:500]
            return StepOutcome(
                state=JobState.FAILED,
                message=message,
                result={"error_kind": "infrastructure", "error": message, "dry_run": True},
            )
        record = result.to_dict()
        if not result.ok:
            return StepOutcome(
                state=JobState.FAILED, message=f"would fail: {result.summary()}", result=record
            )
        if not result.changed:
            return StepOutcome(
                state=JobState.SUCCEEDED,
                message=f"no changes: {result.total} objects unchanged",
                result=record,
            )
        message = (
            f"{len(result.created)} to create, {len(result.configured)} to change, "
            f"{len(result.pruned)} to delete"
        )
        record["diff"] = self._diff(job)
        return StepOutcome(state=JobState.SUCCEEDED, message=message, result=record)

    def _diff(self, job: Job) -> str:
        app = self.engine.config.app(job.app)
        assert app is not None
        try:
            text = self.engine.diff(app, job.commit)
        except (SyncError, InfrastructureError) as exc:
            log.warning("preview job %s: no diff: %s", job.id, exc)
            return f"(diff unavailable: {exc})\n"
        if len(text) > MAX_DIFF_CHARS:
            text = text[:MAX_DIFF_CHARS] + "\n… (diff cut)\n"
        return text


def dispatch(engine: SyncEngine, preview: SyncStep) -> SyncStep:
    """The worker's step: previews to ``preview``, every other job to ``engine.run``."""

    def step(job: Job) -> StepOutcome:
        if job.trigger is Trigger.PREVIEW:
            return preview(job)
        return engine.run(job)

    return step
