"""The audit trail of approvals: who approved which commit of which app, how, when, which job.

Owns: the ``approvals`` table (schema steps 4 and 7) and the one way to approve, ``approve``:
queue the approved job, then record the approval with that job's id. Every path that
approves (a ``/deploy approve`` comment, the page's button, an API token) goes through it,
so the job page, the API and the pull request comment read one record.
Must not touch: permissions (the caller has checked them), GitHub, the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from webhook.model import Job, SyncRequest
from webhook.queue.base import JobStore
from webhook.queue.database import insert

How = Literal["comment", "page", "token"]
_COLUMNS = "id, job_id, pending_job_id, app, commit_sha, who, how, detail, approved_at"


@dataclass(frozen=True, kw_only=True)
class Approval:
    """One approval. ``who`` is a GitHub login, or ``token:<name>`` for an API token;
    ``detail`` says where (the comment's URL, the token's name)."""

    id: int
    job_id: int
    pending_job_id: int | None
    app: str
    commit: str
    who: str
    how: How
    detail: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load(row: Any) -> Approval:
    how: How = row["how"] if row["how"] in ("comment", "page", "token") else "token"
    pending = row["pending_job_id"]
    return Approval(
        id=int(row["id"]),
        job_id=int(row["job_id"]),
        pending_job_id=int(pending) if pending is not None else None,
        app=str(row["app"]),
        commit=str(row["commit_sha"]),
        who=str(row["who"]),
        how=how,
        detail=str(row["detail"]),
        at=float(row["approved_at"]),
    )


class ApprovalLog:
    """Approvals kept in the job store's database."""

    def __init__(self, store: JobStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def approve(
        self,
        request: SyncRequest,
        *,
        who: str,
        how: How,
        detail: str = "",
        pending: Job | None = None,
    ) -> tuple[Job, Approval]:
        """Queue ``request`` (approved) and record who approved it; the job and the record.

        Two transactions: a crash between them leaves a queued job without its record,
        never a record without its job.
        """
        job = self.store.enqueue([request]).jobs[0].job
        record = Approval(
            id=0,
            job_id=job.id,
            pending_job_id=pending.id if pending is not None else None,
            app=request.app,
            commit=request.commit,
            who=who,
            how=how,
            detail=detail,
            at=self.clock(),
        )
        values = {
            "job_id": record.job_id,
            "pending_job_id": record.pending_job_id,
            "app": record.app,
            "commit_sha": record.commit,
            "who": record.who,
            "how": record.how,
            "detail": record.detail,
            "approved_at": record.at,
        }
        with self.store.database.write() as cur:
            new_id = insert(cur, "approvals", values)
        return job, replace(record, id=new_id)

    def for_jobs(self, job_ids: Iterable[int]) -> dict[int, list[Approval]]:
        """Approvals that queued, or approved the plan of, each of ``job_ids``."""
        ids = sorted({int(i) for i in job_ids})
        found: dict[int, list[Approval]] = {i: [] for i in ids}
        if not ids:
            return found
        marks = ", ".join("?" * len(ids))
        with self.store.database.read() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE job_id IN ({marks}) "
                f"OR pending_job_id IN ({marks}) ORDER BY id",
                (*ids, *ids),
            )
            rows = [_load(row) for row in cur.fetchall()]
        for approval in rows:
            for key in {approval.job_id, approval.pending_job_id}:
                if key in found:
                    found[key].append(approval)
        return found

    def for_job(self, job_id: int) -> list[Approval]:
        return self.for_jobs([job_id])[job_id]

    def earlier(self, app: str, detail: str) -> Approval | None:
        """The first approval of ``app`` recorded from ``detail`` (a comment's URL), however
        many came since: a command run again must find it (index ``approvals_app_detail``)."""
        with self.store.database.read() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE app = ? AND detail = ? "
                "ORDER BY id LIMIT 1",
                (app, detail),
            )
            row = cur.fetchone()
        return _load(row) if row is not None else None

    def recent(self, *, apps: Iterable[str] | None = None, limit: int = 50) -> list[Approval]:
        """The newest approvals first, of ``apps`` only when given."""
        with self.store.database.read() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM approvals ORDER BY id DESC LIMIT ?", (limit,))
            rows = [_load(row) for row in cur.fetchall()]
        if apps is None:
            return rows
        allowed = set(apps)
        return [a for a in rows if a.app in allowed]
