"""Health probes, the JSON read API and the manual sync (approval) endpoint.

Reads come from the job store only; a page view never reaches a cluster or GitHub. An
approval asks ``approvals`` which commit it may deploy: the branch head, or a commit the
branch reaches, never the newest job of any lane (a PR preview's commit is not approved).
Who may read an app or approve it is ``access``'s business: an app the caller may not see
is answered like one that does not exist. A rollback deploys an earlier successful commit and
pauses the app (``queue.pauses``) until a resume, which lifts the pause and syncs the branch
head; both need the right to approve (``_approver``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from webhook.model import Job, Pause
from webhook.queue import JobStore
from webhook.queue.audit import ApprovalLog, How
from webhook.settings import AppConfig, DeployerConfig
from webhook.text import is_commit_sha
from webhook.web.access import Principal, can_approve, can_read, principal, readable_app, visible
from webhook.web.approvals import (
    RevisionRefused,
    RevisionUnavailable,
    approve,
    approved_revision,
    manual_request,
)
from webhook.web.context import deployer
from webhook.web.rollbacks import NoRollbackTarget, rollback_target

bp = Blueprint("api", __name__)


def _store() -> JobStore:
    return deployer().store


def _config() -> DeployerConfig:
    return deployer().config


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify({"status": "ok"}), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    try:
        _store().ping()
    except Exception as exc:  # any store failure means "not ready", never a 500
        return jsonify({"status": "unavailable", "store": type(exc).__name__}), 503
    return jsonify({"status": "ready", "apps": len(_config().apps)}), 200


def _app_entry(app: AppConfig, latest: dict[str, Any], paused: dict[str, Pause]) -> Any:
    pause = paused.get(app.name)
    return {
        "name": app.name,
        "repo": app.repo,
        "branch": app.branch,
        "path": app.path,
        "namespace": app.namespace,
        "auto_sync": app.auto_sync,
        "latest_job": latest[app.name].to_dict() if app.name in latest else None,
        "paused": pause.to_dict() if pause is not None else None,
    }


@bp.get("/api/apps")
def apps() -> Response:
    latest, paused = _store().latest_jobs(), _store().pauses.all()
    return jsonify({"apps": [_app_entry(app, latest, paused) for app in visible(_config().apps)]})


@bp.get("/api/apps/<name>")
def app_status(name: str) -> tuple[Response, int]:
    app = readable_app(name, _config())
    if app is None:
        return jsonify({"error": f"no app named {name!r}"}), 404
    return jsonify(_app_entry(app, _store().latest_jobs(), _store().pauses.all())), 200


@bp.get("/api/apps/<name>/jobs")
def app_jobs(name: str) -> tuple[Response, int]:
    if readable_app(name, _config()) is None:
        return jsonify({"error": f"no app named {name!r}"}), 404
    limit = min(max(request.args.get("limit", 50, type=int) or 50, 1), 500)
    jobs = _store().jobs_for_app(name, limit=limit)
    return jsonify({"app": name, "jobs": _with_approvals(jobs)}), 200


def _with_approvals(jobs: list[Job]) -> list[dict[str, Any]]:
    """Each job's record with the approvals that queued it or approved its plan."""
    approvals = ApprovalLog(_store()).for_jobs(job.id for job in jobs)
    return [
        {**job.to_dict(), "approvals": [a.to_dict() for a in approvals[job.id]]} for job in jobs
    ]


@bp.get("/api/jobs/<job:job_id>")
def job(job_id: int) -> tuple[Response, int]:
    found = _store().get(job_id)
    app = _config().app(found.app) if found is not None else None
    if found is None or app is None or not can_read(app):
        return jsonify({"error": f"no job {job_id}"}), 404
    return jsonify(_with_approvals([found])[0]), 200


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _approver(name: str) -> tuple[AppConfig, Principal] | tuple[None, tuple[Response, int]]:
    """The app and the caller allowed to change what it runs (approve, roll back, resume):
    an API token with the ``approve`` scope, or a signed-in user with write access."""
    who = principal()
    app = readable_app(name, _config())
    if app is None:
        return None, _error(404, f"no app named {name!r}")
    if who is None or not can_approve(app):
        return None, _error(
            403 if who is not None and who.kind in ("token", "user") else 401,
            "this needs an API token with the 'approve' scope (DEPLOYER_API_TOKENS) "
            "or a signed-in user with write access to the repository",
        )
    return app, who


def _body() -> dict[str, Any] | tuple[Response, int]:
    """The request's JSON object (empty body: ``{}``), or the 400 to answer."""
    raw = request.get_data()
    try:
        body: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        return _error(400, f"body is not JSON: {type(exc).__name__}")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return body


@bp.post("/api/apps/<name>/sync")
def sync(name: str) -> tuple[Response, int]:
    """Approve and apply: a manual job for the app's branch head or a commit on its branch.

    Allowed to an API token with the ``approve`` scope and to a signed-in user who can
    write to the app's repository (whose POST also carries the CSRF token)."""
    found = _approver(name)
    if not isinstance(found[0], AppConfig):
        return found[1]
    app, who = found
    raw = request.get_data()
    try:
        body: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        return _error(400, f"body is not JSON: {type(exc).__name__}")
    if not isinstance(body, dict):
        return _error(400, 'body must be a JSON object such as {"revision": "<sha>"}')
    revision = body.get("revision")
    if revision is not None and (not isinstance(revision, str) or not is_commit_sha(revision)):
        return _error(400, "'revision' must be a full 40-character commit SHA")
    how: How = "token" if who.kind == "token" else "page"
    try:
        job, approval = approve(app.name, revision, who=who.label, how=how, detail=who.name)
    except RevisionRefused as exc:
        return _error(409, str(exc))
    except RevisionUnavailable as exc:
        return _error(503, str(exc))
    return jsonify({"job": job.to_dict(), "approval": approval.to_dict()}), 202


@bp.post("/api/apps/<name>/rollback")
def rollback(name: str) -> tuple[Response, int]:
    """Deploy an earlier successful commit (``{"to": "<sha>"}``, default the one before the
    current) and pause pushes and drift repair for the app until it is resumed."""
    found = _approver(name)
    if not isinstance(found[0], AppConfig):
        return found[1]
    app, who = found
    body = _body()
    if not isinstance(body, dict):
        return body
    to, reason = body.get("to"), body.get("reason", "")
    if (to is not None and not isinstance(to, str)) or not isinstance(reason, str):
        return _error(400, "'to' must be a commit SHA (7+ characters) and 'reason' a string")
    try:
        commit = rollback_target(app.name, _store().jobs_for_app(app.name, limit=500), to)
    except NoRollbackTarget as exc:
        return _error(409, str(exc))
    pause = Pause(
        app=app.name, commit=commit, by=who.label, reason=reason[:200], paused_at=time.time()
    )
    # Paused first: a push landing between the two writes is skipped, never deployed.
    _store().pauses.put(pause)
    job = _store().enqueue([manual_request(app, commit)]).jobs[0].job
    return jsonify({"job": job.to_dict(), "paused": pause.to_dict()}), 202


@bp.post("/api/apps/<name>/resume")
def resume(name: str) -> tuple[Response, int]:
    """Lift the app's pause and sync its branch head (a manual app gets a plan to approve)."""
    found = _approver(name)
    if not isinstance(found[0], AppConfig):
        return found[1]
    app, _who = found
    try:
        head = approved_revision(app, _config(), deployer().env, None)
    except RevisionRefused as exc:
        return _error(409, str(exc))
    except RevisionUnavailable as exc:
        return _error(503, str(exc))
    lifted = _store().pauses.remove(app.name)
    job = _store().enqueue([manual_request(app, head, approved=app.auto_sync)]).jobs[0].job
    was = lifted.to_dict() if lifted is not None else None
    return jsonify({"job": job.to_dict(), "resumed": was}), 202
