"""Which commit a rollback deploys: an earlier commit the app deployed successfully.

Pure over job records (newest first): no git, no cluster. A commit that once synced
successfully was on the app's branch when it did (pushes, merges and approvals only deploy
branch commits), so a rollback needs no reachability check.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.model import Job, JobState


class NoRollbackTarget(Exception):
    """Nothing to roll back to (a 409): no earlier success, or ``--to`` names no success."""


def deployed(jobs: Sequence[Job]) -> list[str]:
    """Commits the app's deployment lane synced successfully, newest first, each once."""
    commits: list[str] = []
    for job in jobs:
        if _success(job) and job.commit not in commits:
            commits.append(job.commit)
    return commits


def _success(job: Job) -> bool:
    return job.lane == job.app and job.state is JobState.SUCCEEDED and not job.silent


def rollback_target(app: str, jobs: Sequence[Job], to: str | None) -> str:
    """``to`` (a full SHA or a prefix of at least 7 characters) when the app deployed it
    successfully; by default the newest commit first deployed before the current one.

    "First deployed" and not "last deployed": after a rollback to B (from C), the current
    commit is B, and a second rollback goes on to A, never back to C.
    """
    commits = deployed(jobs)
    if to is None:
        first: dict[str, int] = {}  # commit -> id of its oldest successful job
        for job in jobs:  # newest first: the last write is the oldest
            if _success(job):
                first[job.commit] = job.id
        current = commits[0] if commits else None
        earlier = [c for c in first if current is not None and first[c] < first[current]]
        if not earlier:
            raise NoRollbackTarget(
                f"{app}: no successful commit deployed before the current one "
                f"({len(commits)} successful commit(s) in its history)"
            )
        return max(earlier, key=lambda c: first[c])
    lowered = to.lower()
    matches = [c for c in commits if c.startswith(lowered)]
    if len(lowered) < 7 or len(matches) != 1:
        known = ", ".join(c[:7] for c in commits[:10]) or "none"
        raise NoRollbackTarget(
            f"{app}: {to!r} is not a commit this app deployed successfully "
            f"(give 7+ characters of one of: {known})"
        )
    return matches[0]
