"""Health probes, the JSON read API and the manual sync (approval) endpoint.

Reads come from the job store only; a page view never reaches a cluster or GitHub. An
approval asks ``approvals`` which commit it may deploy: the branch head, or a commit the
branch reaches, never the newest job of any lane (a PR preview's commit is not approved).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from webhook.model import SyncRequest, Trigger
from webhook.queue import JobStore
from webhook.settings import DeployerConfig
from webhook.text import is_commit_sha
from webhook.web.approvals import RevisionRefused, RevisionUnavailable, approved_revision
from webhook.web.context import deployer

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


@bp.get("/api/apps")
def apps() -> Response:
    latest = _store().latest_jobs()
    return jsonify(
        {
            "apps": [
                {
                    "name": app.name,
                    "repo": app.repo,
                    "branch": app.branch,
                    "path": app.path,
                    "namespace": app.namespace,
                    "auto_sync": app.auto_sync,
                    "latest_job": latest[app.name].to_dict() if app.name in latest else None,
                }
                for app in _config().apps
            ]
        }
    )


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


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@bp.post("/api/apps/<name>/sync")
def sync(name: str) -> tuple[Response, int]:
    """Approve and apply: a manual job for the app's branch head or a commit on its branch."""
    if not _authorized():
        return _error(401, "a bearer admin token (DEPLOYER_ADMIN_TOKEN) is required")
    app = _config().app(name)
    if app is None:
        return _error(404, f"no app named {name!r}")
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
    try:
        commit = approved_revision(app, _config(), deployer().env, revision)
    except RevisionRefused as exc:
        return _error(409, str(exc))
    except RevisionUnavailable as exc:
        return _error(503, str(exc))
    request_ = SyncRequest(
        app=app.name,
        repo=app.repo,
        commit=commit,
        ref=f"refs/heads/{app.branch}",
        trigger=Trigger.MANUAL,
        approved=True,
    )
    job = _store().enqueue([request_]).jobs[0].job
    return jsonify({"job": job.to_dict()}), 202
