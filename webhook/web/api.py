"""Health probes, the JSON read API, the manual sync (approval), rollback and resume.

Reads come from the job store only; a page view never reaches a cluster or GitHub. An
approval asks ``approvals`` which commit it may deploy: the branch head, or a commit the
branch reaches, never the newest job of any lane (a PR preview's commit is not approved).
A rollback deploys an earlier successful commit and pauses the app (``queue.pauses``) until
a resume, which lifts the pause and syncs the branch head. Every write asks ``_caller``.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from webhook.model import Pause, SyncRequest, Trigger
from webhook.queue import JobStore
from webhook.settings import AppConfig, DeployerConfig
from webhook.text import is_commit_sha
from webhook.web.approvals import RevisionRefused, RevisionUnavailable, approved_revision
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
    return jsonify({"apps": [_app_entry(app, latest, paused) for app in _config().apps]})


@bp.get("/api/apps/<name>")
def app_status(name: str) -> tuple[Response, int]:
    app = _config().app(name)
    if app is None:
        return jsonify({"error": f"no app named {name!r}"}), 404
    return jsonify(_app_entry(app, _store().latest_jobs(), _store().pauses.all())), 200


@bp.get("/api/apps/<name>/jobs")
def app_jobs(name: str) -> tuple[Response, int]:
    if _config().app(name) is None:
        return jsonify({"error": f"no app named {name!r}"}), 404
    limit = min(max(request.args.get("limit", 50, type=int) or 50, 1), 500)
    jobs = _store().jobs_for_app(name, limit=limit)
    return jsonify({"app": name, "jobs": [job.to_dict() for job in jobs]}), 200


@bp.get("/api/jobs/<int:job_id>")
def job(job_id: int) -> tuple[Response, int]:
    found = _store().get(job_id)
    if found is None:
        return jsonify({"error": f"no job {job_id}"}), 404
    return jsonify(found.to_dict()), 200


def _authorized() -> bool:
    """The bearer token matches, compared as bytes: any header text is a 401, never a 500."""
    token = deployer().env.admin_token
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    given = header.removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, token.encode("utf-8"))


def _caller() -> str | None:
    """Who makes this write request, or None when it carries no accepted credential.

    The one access check of the API's writes (approve, rollback, resume): a change to how
    callers are identified is made here and applies to every endpoint. Today the only
    credential is the admin token, whose holder is ``admin``.
    """
    return "admin" if _authorized() else None


_UNAUTHORIZED = "a bearer admin token (DEPLOYER_ADMIN_TOKEN) is required"


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _body() -> dict[str, Any] | tuple[Response, int]:
    """The request's JSON object (empty body: ``{}``), or the 400 to answer."""
    raw = request.get_data()
    try:
        body: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        return _error(400, f"body is not JSON: {type(exc).__name__}")
    if not isinstance(body, dict):
        return _error(400, 'body must be a JSON object such as {"revision": "<sha>"}')
    return body


@bp.post("/api/apps/<name>/sync")
def sync(name: str) -> tuple[Response, int]:
    """Approve and apply: a manual job for the app's branch head or a commit on its branch."""
    if _caller() is None:
        return _error(401, _UNAUTHORIZED)
    app = _config().app(name)
    if app is None:
        return _error(404, f"no app named {name!r}")
    body = _body()
    if not isinstance(body, dict):
        return body
    revision = body.get("revision")
    if revision is not None and (not isinstance(revision, str) or not is_commit_sha(revision)):
        return _error(400, "'revision' must be a full 40-character commit SHA")
    try:
        commit = approved_revision(app, _config(), deployer().env, revision)
    except RevisionRefused as exc:
        return _error(409, str(exc))
    except RevisionUnavailable as exc:
        return _error(503, str(exc))
    job = _store().enqueue([_manual(app, commit, approved=True)]).jobs[0].job
    return jsonify({"job": job.to_dict()}), 202


@bp.post("/api/apps/<name>/rollback")
def rollback(name: str) -> tuple[Response, int]:
    """Deploy an earlier successful commit (``{"to": "<sha>"}``, default the one before the
    current) and pause pushes and drift repair for the app until it is resumed."""
    who = _caller()
    if who is None:
        return _error(401, _UNAUTHORIZED)
    app = _config().app(name)
    if app is None:
        return _error(404, f"no app named {name!r}")
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
    pause = Pause(app=app.name, commit=commit, by=who, reason=reason[:200], paused_at=time.time())
    # Paused first: a push landing between the two writes is skipped, never deployed.
    _store().pauses.put(pause)
    job = _store().enqueue([_manual(app, commit, approved=True)]).jobs[0].job
    return jsonify({"job": job.to_dict(), "paused": pause.to_dict()}), 202


@bp.post("/api/apps/<name>/resume")
def resume(name: str) -> tuple[Response, int]:
    """Lift the app's pause and sync its branch head (a manual app gets a plan to approve)."""
    if _caller() is None:
        return _error(401, _UNAUTHORIZED)
    app = _config().app(name)
    if app is None:
        return _error(404, f"no app named {name!r}")
    try:
        head = approved_revision(app, _config(), deployer().env, None)
    except RevisionRefused as exc:
        return _error(409, str(exc))
    except RevisionUnavailable as exc:
        return _error(503, str(exc))
    lifted = _store().pauses.remove(app.name)
    job = _store().enqueue([_manual(app, head, approved=app.auto_sync)]).jobs[0].job
    was = lifted.to_dict() if lifted is not None else None
    return jsonify({"job": job.to_dict(), "resumed": was}), 202


def _manual(app: AppConfig, commit: str, *, approved: bool) -> SyncRequest:
    return SyncRequest(
        app=app.name,
        repo=app.repo,
        commit=commit,
        ref=f"refs/heads/{app.branch}",
        trigger=Trigger.MANUAL,
        approved=approved,
    )
