"""The status page: apps with their latest job, one page per job (GitHub links here), the
audit trail of approvals, and the Approve button.

It reads job records only; it never queries a cluster or GitHub (approving asks git, in
``approvals``). The HTML lives in ``templates/`` and the CSS in ``static/``; Jinja
autoescapes every value in ``.html`` templates, so a commit message, an object name or an
error from a manifest or a tool cannot inject markup. Only apps the viewer may read are
shown (``access``); one they may not read is answered like one that does not exist.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from webhook.model import JobState, Trigger
from webhook.queue.audit import ApprovalLog
from webhook.web.access import can_approve, principal, readable_app, visible
from webhook.web.approvals import RevisionRefused, RevisionUnavailable, approve
from webhook.web.context import deployer

bp = Blueprint("pages", __name__)


@bp.app_template_filter("utc")
def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@bp.get("/")
def index() -> str:
    ctx = deployer()
    apps = visible(ctx.config.apps)
    approvals = ApprovalLog(ctx.store).recent(apps=[app.name for app in apps], limit=20)
    return render_template(
        "apps.html",
        title="Apps",
        apps=apps,
        latest=ctx.store.latest_jobs(),
        approvals=approvals,
        paused=ctx.store.pauses.all(),
    )


def _not_found() -> tuple[str, int]:
    return render_template("not_found.html", title="Not found", message="No such job."), 404


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> tuple[str, int]:
    ctx = deployer()
    found = ctx.store.get(job_id)
    app = readable_app(found.app, ctx.config) if found is not None else None
    if found is None or app is None:
        return _not_found()
    result = json.dumps(found.result, indent=2, sort_keys=True) if found.result else ""
    title = f"Job #{found.id}: {found.app} at {found.commit[:7]}"
    who = principal()
    approvable = (
        found.state is JobState.OUT_OF_SYNC
        and found.trigger is not Trigger.PREVIEW
        and who is not None
        and who.kind == "user"
        and can_approve(app)
    )
    approvals = ApprovalLog(ctx.store).for_job(found.id)
    return render_template(
        "job.html",
        title=title,
        job=found,
        result=result,
        approvable=approvable,
        approvals=approvals,
    ), 200


@bp.post("/jobs/<int:job_id>/approve")
def approve_job(job_id: int) -> Response | tuple[str, int]:
    """The Approve button: the plan's commit, for a signed-in user who can write to the
    repository (the form's CSRF token was checked by ``access``)."""
    ctx = deployer()
    found = ctx.store.get(job_id)
    app = readable_app(found.app, ctx.config) if found is not None else None
    if found is None or app is None:
        return _not_found()
    who = principal()
    if who is None or who.kind != "user" or not can_approve(app):
        message = f"Approving {app.name} needs write access to {app.repo}."
        return render_template("not_found.html", title="Not allowed", message=message), 403
    if found.state is not JobState.OUT_OF_SYNC or found.trigger is Trigger.PREVIEW:
        message = f"Job #{found.id} is not a plan awaiting approval."
        return render_template("not_found.html", title="Nothing to approve", message=message), 409
    try:
        queued, _ = approve(app.name, found.commit, who=who.label, how="page", detail="page")
    except (RevisionRefused, RevisionUnavailable) as exc:
        return render_template("not_found.html", title="Not approved", message=str(exc)), 409
    return redirect(url_for("pages.job", job_id=queued.id))
