"""Approving from the web: the revision rule (``webhook.revisions``) and the audit record.

This is the one module of the web layer that reaches git (import-linter's
``receiver-stays-fast`` names it as its only exception): an approval is rare and may wait
for a fetch; a delivery never does. The API's token approvals and the page's button both
come here, so both keep the same rule and leave the same record.
"""

from __future__ import annotations

from webhook.model import APPROVAL_WINDOW, Job, awaiting_approval
from webhook.queue.audit import Approval, ApprovalLog, How
from webhook.revisions import (
    RevisionRefused,
    RevisionUnavailable,
    approved_revision,
    manual_request,
)
from webhook.web.context import deployer

__all__ = [
    "RevisionRefused",
    "RevisionUnavailable",
    "approve",
    "approved_revision",
    "manual_request",
    "pending",
]


def pending(app: str) -> Job | None:
    """The app's newest plan awaiting approval (``model.awaiting_approval``), among its
    newest ``APPROVAL_WINDOW`` jobs."""
    return awaiting_approval(deployer().store.jobs_for_app(app, limit=APPROVAL_WINDOW))


def approve(
    app_name: str, revision: str | None, *, who: str, how: How, detail: str = ""
) -> tuple[Job, Approval]:
    """Queue an approved job for ``revision`` (None: the branch head) of the app and record
    the approval. Raises ``RevisionRefused`` (not on the branch) or ``RevisionUnavailable``.

    A plan awaiting approval at the same commit is the one approved: the new job carries its
    pull requests, so their statuses and comment follow the deployment.
    """
    ctx = deployer()
    app = ctx.config.app(app_name)
    if app is None:
        raise RevisionRefused(f"no app named {app_name!r}")
    commit = approved_revision(app, ctx.config, ctx.env, revision)
    waiting = pending(app.name)
    plan = waiting if waiting is not None and waiting.commit == commit else None
    request = manual_request(app, commit, plan=plan)
    return ApprovalLog(ctx.store).approve(request, who=who, how=how, detail=detail, pending=plan)
