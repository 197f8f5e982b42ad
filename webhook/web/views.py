"""What the status page shows, computed from job records: plain data for the templates.

Owns: an app's summary (sync state, health, deployed commit, last run and its duration,
history), a job's objects with their action and health, its hooks, its errors cause first,
and its diff split into typed lines. Pure over ``Job`` records: no Flask, no store, no
cluster, no GitHub, so every figure on the page is the one the worker recorded.
Every string here may come from a repository (object names, diffs, errors): the templates
autoescape them; nothing here builds markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from webhook.model import Job, JobState, Trigger

#: States whose page changes by itself: shown with a ``<meta http-equiv="refresh">``.
LIVE = (JobState.QUEUED, JobState.RUNNING)
#: Seconds between refreshes of a page that shows queued or running work.
REFRESH_SECONDS = 5
#: kstatus' healthy state (``kube.health.Status.CURRENT``); anything else needs a look.
HEALTHY = "Current"
#: The order in which the page lists what a sync did to its objects.
ACTIONS = ("failed", "created", "configured", "pruned", "unchanged", "skipped")

LineKind = Literal["file", "hunk", "add", "del", "context"]


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    text: str


@dataclass(frozen=True)
class ObjectRow:
    object: str
    action: str
    health: str
    message: str


@dataclass(frozen=True)
class HookRow:
    object: str
    phase: str
    status: str
    message: str
    deleted: bool


@dataclass(frozen=True)
class Failure:
    """Why a job failed: its kind (render, guard, apply...) and first cause, then the rest."""

    kind: str
    cause: str
    others: tuple[str, ...]


@dataclass(frozen=True)
class AppSummary:
    """One app at a glance, from its newest deployment jobs (newest first)."""

    latest: Job | None
    #: The newest commit its deployment lane synced successfully, and that job.
    deployed: Job | None
    #: The newest job that ran (started), for "last run" and its duration.
    last_run: Job | None
    health: str
    history: tuple[Job, ...]

    @property
    def live(self) -> bool:
        return any(job.state in LIVE for job in self.history)


def _result(job: Job) -> dict[str, Any]:
    return job.result if isinstance(job.result, dict) else {}


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def deployment(jobs: Iterable[Job]) -> list[Job]:
    """The app's deployment lane (no previews, no comment commands)."""
    return [job for job in jobs if job.lane == job.app]


def summarize(jobs: Sequence[Job], *, history: int = 15) -> AppSummary:
    """The app's summary from its jobs, newest first."""
    lane = deployment(jobs)
    deployed = next(
        (j for j in lane if j.state is JobState.SUCCEEDED and not j.silent and _ran(j)), None
    )
    last_run = next((j for j in lane if j.started_at is not None and not j.silent), None)
    with_health = next((j for j in lane if _result(j).get("health")), None)
    return AppSummary(
        latest=lane[0] if lane else None,
        deployed=deployed,
        last_run=last_run,
        health=health_of(with_health) if with_health is not None else "unknown",
        history=tuple(lane[:history]),
    )


def _ran(job: Job) -> bool:
    """A job that applied its commit (not a plan or a dry run)."""
    return not _result(job).get("dry_run") and job.trigger is not Trigger.PREVIEW


def health_of(job: Job) -> str:
    """``Healthy`` when every object the job checked is Current, else the first other state."""
    states = [str(h.get("status", "")) for h in _dicts(_result(job).get("health"))]
    if not states:
        return "unknown"
    unhealthy = [s for s in states if s != HEALTHY]
    return unhealthy[0] if unhealthy else "Healthy"


def duration(job: Job) -> float | None:
    """Seconds from start to finish (the sync's own figure while the record lacks them)."""
    if job.started_at is not None and job.finished_at is not None:
        return max(0.0, job.finished_at - job.started_at)
    recorded = _result(job).get("duration")
    return float(recorded) if isinstance(recorded, int | float) and recorded > 0 else None


def commit_url(web_url: str, repo: str, sha: str) -> str:
    """The commit's page on GitHub (or the GitHub Enterprise Server at ``web_url``)."""
    return f"{web_url.rstrip('/')}/{quote(repo, safe='/')}/commit/{quote(sha, safe='')}"


def objects(job: Job) -> list[ObjectRow]:
    """Each object the job touched, with what it did and its health, failures first."""
    result = _result(job)
    health = {
        str(h.get("object")): (str(h.get("status", "")), str(h.get("message", "")))
        for h in _dicts(result.get("health"))
    }
    rows: list[ObjectRow] = []
    seen: set[str] = set()
    for action in ACTIONS:
        if action == "failed":
            entries = [
                (str(f.get("object")), str(f.get("error", ""))) for f in _dicts(result.get(action))
            ]
        else:
            entries = [(name, "") for name in _strings(result.get(action))]
        for name, error in entries:
            status, message = health.get(name, ("", ""))
            rows.append(ObjectRow(name, action, status, error or message))
            seen.add(name)
    rows += [ObjectRow(n, "", s, m) for n, (s, m) in health.items() if n not in seen]
    return rows


def hooks(job: Job) -> list[HookRow]:
    return [
        HookRow(
            object=str(h.get("object", "")),
            phase=str(h.get("phase", "")),
            status=str(h.get("status", "")),
            message=str(h.get("message", "")),
            deleted=bool(h.get("deleted")),
        )
        for h in _dicts(_result(job).get("hooks"))
    ]


def failure(job: Job) -> Failure | None:
    """The job's cause first: ``error_kind`` and ``error``, then every other error."""
    result = _result(job)
    if job.state is not JobState.FAILED and not result.get("error"):
        return None
    cause = str(result.get("error") or job.message or "failed")
    others = tuple(e for e in _strings(result.get("errors")) if e != cause)
    return Failure(kind=str(result.get("error_kind") or "error"), cause=cause, others=others)


def diff_lines(text: str) -> list[DiffLine]:
    """A unified diff as typed lines: file headers, hunk headers, added, removed, context."""
    lines: list[DiffLine] = []
    for line in text.splitlines():
        kind: LineKind
        if line.startswith(("+++ ", "--- ")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append(DiffLine(kind, line))
    return lines


def job_diff(job: Job) -> list[DiffLine]:
    """The redacted diff the worker stored with a preview or a plan (none for a sync)."""
    text = _result(job).get("diff")
    return diff_lines(text) if isinstance(text, str) else []
