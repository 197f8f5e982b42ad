"""The CLI's commands that drive a running deployer over its HTTP API, as ``argocd app``
and ``flux`` drive theirs: ``status``, ``history``, ``approve``, ``rollback``, ``resume``.

They go through the server, never to the store or the cluster directly, so the queue's
rules (one job per app at a time, leases, supersession) and the history hold for them as
for a webhook. The server is ``--server`` or ``$DEPLOYER_SERVER``; the token comes from
``$DEPLOYER_TOKEN`` only (never a flag: a flag shows in ``ps`` and shell history).

Exit status: 0 done (for ``--wait``: the job succeeded), 1 the deployer refused (unknown
app, bad token, nothing to roll back to) or the awaited job did not succeed, 2 the
deployer could not be asked (unreachable, a server error, a usage error).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

from webhook.output import OUTPUT_OPTION, data_text
from webhook.text import one_line

if TYPE_CHECKING:
    import requests

DEFAULT_SERVER = "http://127.0.0.1:8080"
#: Seconds one request may take; the API answers from the store, in milliseconds.
TIMEOUT = 30.0

SERVER_OPTION = click.option(
    "--server",
    envvar="DEPLOYER_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    metavar="URL",
    help="The running deployer's base URL ($DEPLOYER_SERVER).",
)
WAIT_OPTION = click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Wait up to SECONDS for the job to finish; exit 0 only if it succeeded.",
)


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Api:
    """The deployer's JSON API at ``server``; errors end the command with a clear line."""

    def __init__(self, server: str) -> None:
        # Imported here: the CLI module is loaded by the web and worker processes too, which
        # never call this (requests cost the web process 6 MB; BENCHMARKS.md, "Footprint").
        import requests

        self.server = server.rstrip("/")
        self.session: requests.Session = requests.Session()
        token = os.environ.get("DEPLOYER_TOKEN", "").strip()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import requests

        url = f"{self.server}{path}"
        try:
            answer = self.session.request(method, url, json=body, timeout=TIMEOUT)
        except requests.RequestException as exc:
            _fail(2, f"cannot reach the deployer at {self.server}: {type(exc).__name__}")
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        if answer.status_code >= 400:
            said = payload.get("error") if isinstance(payload, dict) else None
            said = said or answer.reason
            if answer.status_code == 401:
                said += " (set DEPLOYER_TOKEN to the deployer's admin token)"
            _fail(1 if answer.status_code < 500 else 2, f"{answer.status_code}: {said}")
        if payload is None:
            _fail(2, f"{method} {path}: the answer is not JSON (is {self.server} a deployer?)")
        return payload

    def wait(self, job: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Poll the job until it is final or ``seconds`` pass; the last record seen."""
        deadline = time.monotonic() + seconds
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = self.call("GET", f"/api/jobs/{job['id']}")
        return job


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _took(job: dict[str, Any]) -> str:
    start, end = job.get("started_at"), job.get("finished_at")
    return f"{end - start:.1f}s" if start and end else "-"


def _table(rows: list[list[str]]) -> str:
    """Aligned columns; each cell on one line with its control characters escaped (job
    messages quote repositories and tools: ``text.one_line``)."""
    rows = [[one_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _app_line(app: dict[str, Any]) -> list[str]:
    job = app.get("latest_job") or {}
    state = job.get("state", "no job yet")
    if app.get("paused"):
        state += " (paused)"
    return [
        app["name"],
        "auto" if app.get("auto_sync") else "manual",
        state,
        str(job.get("commit", "-"))[:7],
        f"#{job['id']}" if job else "-",
        str(job.get("message", "")),
    ]


def _app_text(app: dict[str, Any]) -> str:
    job = app.get("latest_job") or {}
    lines = [
        f"app:       {app['name']}",
        f"source:    {app['repo']}@{app['branch']}:{app['path']} -> namespace {app['namespace']}",
        f"mode:      {'auto' if app.get('auto_sync') else 'manual'}",
    ]
    if app.get("paused"):
        pause = app["paused"]
        lines.append(f"paused:    {pause['description']} at {_when(pause['paused_at'])}")
        lines.append(f"           resume with: webhook-deployer resume {app['name']}")
    if job:
        lines += [
            f"last job:  #{job['id']} {job['trigger']} {job['state']} at {job['commit'][:7]}",
            f"finished:  {_when(job.get('finished_at'))} (took {_took(job)})",
            f"message:   {one_line(str(job.get('message', '')))}",
        ]
    else:
        lines.append("last job:  none yet")
    return "\n".join(lines) + "\n"


@click.command()
@SERVER_OPTION
@OUTPUT_OPTION
@click.argument("app_name", metavar="[APP]", required=False)
def status(server: str, output: str, app_name: str | None) -> None:
    """Every app's (or one APP's) latest job, mode and pause, from a running deployer."""
    api = Api(server)
    if app_name:
        app = api.call("GET", f"/api/apps/{app_name}")
        click.echo(_app_text(app) if output == "text" else data_text(app, output), nl=False)
        return
    apps = api.call("GET", "/api/apps")
    if output != "text":
        click.echo(data_text(apps, output), nl=False)
        return
    header = ["APP", "MODE", "STATE", "COMMIT", "JOB", "MESSAGE"]
    click.echo(_table([header, *(_app_line(a) for a in apps["apps"])]), nl=False)


@click.command()
@SERVER_OPTION
@OUTPUT_OPTION
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.argument("app_name", metavar="APP")
def history(server: str, output: str, limit: int, app_name: str) -> None:
    """APP's jobs, newest first: trigger, state, commit, when, how long, outcome."""
    found = Api(server).call("GET", f"/api/apps/{app_name}/jobs?limit={limit}")
    if output != "text":
        click.echo(data_text(found, output), nl=False)
        return
    rows = [["JOB", "TRIGGER", "STATE", "COMMIT", "FINISHED", "TOOK", "MESSAGE"]]
    for job in found["jobs"]:
        rows.append(
            [
                f"#{job['id']}",
                job["trigger"]
                + (f" pr-{job['lane'].split('#pr-')[1]}" if "#pr-" in job["lane"] else ""),
                job["state"],
                job["commit"][:7],
                _when(job.get("finished_at")),
                _took(job),
                job.get("message", ""),
            ]
        )
    click.echo(_table(rows), nl=False)


def _job_done(api: Api, answer: dict[str, Any], output: str, wait: float | None) -> None:
    """Print the queued job (and, with ``--wait``, its end); exit by its outcome."""
    job = answer["job"]
    if wait is not None:
        job = api.wait(job, wait)
        answer = {**answer, "job": job}
    if output != "text":
        click.echo(data_text(answer, output), nl=False)
    else:
        if answer.get("paused"):
            click.echo(f"{answer['paused']['description']}: pushes and drift repair are paused")
        if answer.get("resumed"):
            click.echo(f"resumed (was {answer['resumed']['description']})")
        click.echo(
            f"job #{job['id']}: {job['app']} at {job['commit'][:7]}: {job['state']}"
            + (f": {one_line(str(job['message']))}" if job.get("message") else "")
        )
    if wait is not None and job["state"] != "succeeded":
        sys.exit(1)


@click.command()
@SERVER_OPTION
@OUTPUT_OPTION
@WAIT_OPTION
@click.option("--revision", help="Full commit SHA on the app's branch (default: the branch head).")
@click.argument("app_name", metavar="APP")
def approve(
    server: str, output: str, wait_seconds: float | None, revision: str | None, app_name: str
) -> None:
    """Approve and deploy APP at its branch head or --revision, through the deployer's queue."""
    api = Api(server)
    body = {"revision": revision} if revision else {}
    _job_done(api, api.call("POST", f"/api/apps/{app_name}/sync", body), output, wait_seconds)


@click.command()
@SERVER_OPTION
@OUTPUT_OPTION
@WAIT_OPTION
@click.option(
    "--to",
    "to",
    metavar="SHA",
    help="An earlier commit the app deployed successfully, 7+ characters "
    "(default: the newest one first deployed before the current one).",
)
@click.option("--reason", default="", help="Why; kept and shown with the pause.")
@click.argument("app_name", metavar="APP")
def rollback(
    server: str,
    output: str,
    wait_seconds: float | None,
    to: str | None,
    reason: str,
    app_name: str,
) -> None:
    """Deploy an earlier successful commit of APP and pause its auto-sync and drift repair.

    Pushes to the branch are then recorded as skipped (commit status "paused: rolled back
    to ..."), and the drift poller leaves the app alone, until `resume APP`.
    """
    api = Api(server)
    body: dict[str, Any] = {"reason": reason} | ({"to": to} if to else {})
    _job_done(api, api.call("POST", f"/api/apps/{app_name}/rollback", body), output, wait_seconds)


@click.command()
@SERVER_OPTION
@OUTPUT_OPTION
@WAIT_OPTION
@click.argument("app_name", metavar="APP")
def resume(server: str, output: str, wait_seconds: float | None, app_name: str) -> None:
    """Lift APP's pause and sync its branch head (a manual app gets a plan to approve)."""
    api = Api(server)
    _job_done(api, api.call("POST", f"/api/apps/{app_name}/resume"), output, wait_seconds)


COMMANDS = (status, history, approve, rollback, resume)
