"""The status page: every app at a glance, one page per app (state, health, deployed commit,
last run, history, pause, pending diff), one page per job (objects, hooks, diff, errors;
GitHub links here), the audit trail of approvals, and the Approve button.

Pages showing queued or running work refresh themselves (``<meta http-equiv="refresh">``);
nothing needs JavaScript. What is shown is computed from records by ``views``.
It reads job records only; it never queries a cluster or GitHub (approving asks git, in
``approvals``). The HTML lives in ``templates/`` and the CSS in ``static/``; Jinja
autoescapes every value in ``.html`` templates, so a commit message, an object name or an
error from a manifest or a tool cannot inject markup. Only apps the viewer may read are
shown (``access``); one they may not read is answered like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from webhook.model import Job, JobState, Trigger
from webhook.queue import JobStore
from webhook.queue.audit import Approval, ApprovalLog
from webhook.settings import AppConfig
from webhook.web import views
from webhook.web.access import can_approve, principal, readable_app, visible
from webhook.web.approvals import RevisionRefused, RevisionUnavailable, approve, pending
from webhook.web.context import deployer

bp = Blueprint("pages", __name__)
#: Jobs read per app on its page (its history, where its deployed commit is found), and on
#: the index (fewer: one query per app, and a job's record may hold a diff).
HISTORY = 30
INDEX_JOBS = 10


@bp.app_template_filter("utc")
def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("seconds")
def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}min"


@bp.app_template_global("commit_url")
def commit_url(repo: str, sha: str) -> str:
    """The commit on GitHub, or on the GitHub Enterprise Server the deployer talks to."""
    return views.commit_url(deployer().env.github_web_url, repo, sha)


@bp.app_template_global("duration")
def duration(job: Job) -> float | None:
    return views.duration(job)


@bp.app_context_processor
def _refresh() -> dict[str, Any]:
    return {"refresh_seconds": views.REFRESH_SECONDS}


def _summaries(apps: list[AppConfig], limit: int) -> dict[str, views.AppSummary]:
    store = deployer().store
    return {app.name: views.summarize(store.jobs_for_app(app.name, limit=limit)) for app in apps}


@bp.get("/")
def index() -> str:
    ctx = deployer()
    apps = visible(ctx.config.apps)
    approvals = ApprovalLog(ctx.store).recent(apps=[app.name for app in apps], limit=20)
    summaries = _summaries(apps, INDEX_JOBS)
    return render_template(
        "apps.html",
        title="Apps",
        apps=apps,
        summaries=summaries,
        approvals=approvals,
        paused=ctx.store.pauses.all(),
        refresh=any(s.live for s in summaries.values()),
    )


def _not_found(message: str = "No such job.") -> tuple[str, int]:
    return render_template("not_found.html", title="Not found", message=message), 404


def _approvable(job: Job, app: AppConfig) -> bool:
    who = principal()
    return (
        job.state is JobState.OUT_OF_SYNC
        and job.trigger is not Trigger.PREVIEW
        and who is not None
        and who.kind == "user"
        and can_approve(app)
    )


def _approvals(store: JobStore, jobs: Iterable[Job]) -> list[Approval]:
    """Approvals that queued, or approved the plan of, any of ``jobs``: newest first."""
    found = {
        a.id: a for each in ApprovalLog(store).for_jobs(j.id for j in jobs).values() for a in each
    }
    return sorted(found.values(), key=lambda a: a.id, reverse=True)


@bp.get("/apps/<name>")
def app_page(name: str) -> tuple[str, int]:
    ctx = deployer()
    app = readable_app(name, ctx.config)
    if app is None:
        return _not_found(f"No app named {name!r}.")
    summary = _summaries([app], HISTORY)[app.name]
    waiting = pending(app.name)
    return render_template(
        "app.html",
        title=app.name,
        app=app,
        summary=summary,
        pause=ctx.store.pauses.all().get(app.name),
        approvals=_approvals(ctx.store, summary.history),
        pending=waiting,
        pending_diff=views.job_diff(waiting) if waiting is not None else [],
        approvable=waiting is not None and _approvable(waiting, app),
        refresh=summary.live,
    ), 200


@bp.get("/jobs/<job:job_id>")
def job(job_id: int) -> tuple[str, int]:
    ctx = deployer()
    found = ctx.store.get(job_id)
    app = readable_app(found.app, ctx.config) if found is not None else None
    if found is None or app is None:
        return _not_found()
    title = f"Job #{found.id}: {found.app} at {found.commit[:7]}"
    return render_template(
        "job.html",
        title=title,
        app=app,
        job=found,
        objects=views.objects(found),
        hooks=views.hooks(found),
        failure=views.failure(found),
        diff=views.job_diff(found),
        summary=(found.result or {}).get("summary"),
        approvable=_approvable(found, app),
        approvals=ApprovalLog(ctx.store).for_job(found.id),
        refresh=found.state in views.LIVE,
    ), 200


@bp.post("/jobs/<job:job_id>/approve")
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
