"""Health probes, the JSON read API and the manual sync endpoint.

Reads come from the job store only; a page view never reaches a cluster or GitHub.
"""

from __future__ import annotations

import hmac
import re

from flask import Blueprint, Response, current_app, jsonify, request

from webhook.model import SyncRequest, Trigger
from webhook.queue import JobStore
from webhook.settings import DeployerConfig, Environment

bp = Blueprint("api", __name__)
_SHA = re.compile(r"^[0-9a-f]{40}$")


def _store() -> JobStore:
    store: JobStore = current_app.extensions["deployer.store"]
    return store


def _config() -> DeployerConfig:
    config: DeployerConfig = current_app.extensions["deployer.config"]
    return config


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
    env: Environment = current_app.extensions["deployer.env"]
    header = request.headers.get("Authorization", "")
    if not env.admin_token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip(), env.admin_token)


@bp.post("/api/apps/<name>/sync")
def sync(name: str) -> tuple[Response, int]:
    """Approve and apply: a manual job for a given revision or the app's latest commit."""
    if not _authorized():
        return jsonify({"error": "a bearer admin token (DEPLOYER_ADMIN_TOKEN) is required"}), 401
    app = _config().app(name)
    if app is None:
        return jsonify({"error": f"no app named {name!r}"}), 404
    body = request.get_json(silent=True) if request.data else {}
    revision = body.get("revision") if isinstance(body, dict) else None
    if revision is None:
        latest = _store().jobs_for_app(name, limit=1)
        if not latest:
            return jsonify({"error": "no known commit for this app yet; pass 'revision'"}), 409
        revision = latest[0].commit
    if not isinstance(revision, str) or not _SHA.match(revision):
        return jsonify({"error": "'revision' must be a full 40-character commit SHA"}), 400
    request_ = SyncRequest(
        app=app.name,
        repo=app.repo,
        commit=revision,
        ref=f"refs/heads/{app.branch}",
        trigger=Trigger.MANUAL,
        approved=True,
    )
    result = _store().enqueue([request_])
    job = result.jobs[0].job
    return jsonify({"job": job.to_dict()}), 202
