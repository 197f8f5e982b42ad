"""The status page: apps with their latest job, and one page per job (GitHub links here).

It reads job records only; it never queries a cluster or GitHub. Jinja autoescapes every
value, so a commit message or an error from a manifest cannot inject markup.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, render_template_string
from markupsafe import Markup

from webhook.queue import JobStore
from webhook.settings import DeployerConfig

bp = Blueprint("pages", __name__)

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · webhook-deployer</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #d0d7de;
text-align:left;vertical-align:top}code{font-size:13px}
.succeeded{color:#1a7f37}.failed{color:#cf222e}.running,.queued,.out_of_sync{color:#9a6700}
.superseded{color:#656d76}pre{background:#f6f8fa;padding:1em;overflow:auto}
</style></head><body><h1>{{ title }}</h1>{{ body }}</body></html>"""

_APPS = """<table><tr><th>app</th><th>repo</th><th>path</th><th>mode</th>
<th>latest job</th><th>commit</th><th>message</th></tr>
{% for app in apps %}{% set job = latest.get(app.name) %}<tr>
<td><a href="{{ url_for('api.app_jobs', name=app.name) }}">{{ app.name }}</a></td>
<td>{{ app.repo }}@{{ app.branch }}</td><td><code>{{ app.path }}</code></td>
<td>{{ 'auto' if app.auto_sync else 'manual' }}</td>
{% if job %}<td class="{{ job.state.value }}"><a href="{{ url_for('pages.job', job_id=job.id) }}">
#{{ job.id }} {{ job.state.value }}</a></td><td><code>{{ job.commit[:7] }}</code></td>
<td>{{ job.message }}</td>{% else %}<td colspan="3">no job yet</td>{% endif %}</tr>
{% endfor %}</table>"""

_JOB = """<p class="{{ job.state.value }}"><strong>{{ job.state.value }}</strong>:
{{ job.message }}</p>
<table>
<tr><th>app</th><td>{{ job.app }}</td></tr>
<tr><th>commit</th><td><code>{{ job.commit }}</code> ({{ job.ref }})</td></tr>
<tr><th>trigger</th><td>{{ job.trigger.value }}{% if job.pull_requests %} · PR
{% for pr in job.pull_requests %}#{{ pr.number }} {% endfor %}{% endif %}</td></tr>
<tr><th>attempts</th><td>{{ job.attempts }}</td></tr>
</table>
{% if job.result %}<h2>Result</h2><pre>{{ result }}</pre>{% endif %}
<p><a href="{{ url_for('pages.index') }}">all apps</a> ·
<a href="{{ url_for('api.job', job_id=job.id) }}">JSON</a></p>"""


def _page(title: str, body: str) -> str:
    return render_template_string(_LAYOUT, title=title, body=body)


@bp.get("/")
def index() -> str:
    store: JobStore = current_app.extensions["deployer.store"]
    config: DeployerConfig = current_app.extensions["deployer.config"]
    body = render_template_string(_APPS, apps=config.apps, latest=store.latest_jobs())
    return _page("Apps", Markup(body))


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> tuple[str, int]:
    store: JobStore = current_app.extensions["deployer.store"]
    found = store.get(job_id)
    if found is None:
        return _page("Not found", Markup("<p>No such job.</p>")), 404
    result = json.dumps(found.result, indent=2, sort_keys=True) if found.result else ""
    body = render_template_string(_JOB, job=found, result=result)
    return _page(f"Job #{found.id}: {found.app} at {found.commit[:7]}", Markup(body)), 200
