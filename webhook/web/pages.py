"""The status page: apps with their latest job, and one page per job (GitHub links here).

It reads job records only; it never queries a cluster or GitHub. The HTML lives in
``templates/`` and the CSS in ``static/``; Jinja autoescapes every value in ``.html``
templates, so a commit message, an object name or an error from a manifest or a tool
cannot inject markup.
"""

from __future__ import annotations

import json

from flask import Blueprint, render_template

from webhook.web.context import deployer

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    ctx = deployer()
    return render_template(
        "apps.html",
        title="Apps",
        apps=ctx.config.apps,
        latest=ctx.store.latest_jobs(),
        paused=ctx.store.pauses.all(),
    )


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> tuple[str, int]:
    found = deployer().store.get(job_id)
    if found is None:
        return render_template("not_found.html", title="Not found", message="No such job."), 404
    result = json.dumps(found.result, indent=2, sort_keys=True) if found.result else ""
    title = f"Job #{found.id}: {found.app} at {found.commit[:7]}"
    return render_template("job.html", title=title, job=found, result=result), 200
