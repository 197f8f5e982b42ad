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
        if job.lane != job.app or job.state is not JobState.SUCCEEDED or job.silent:
            continue
        if job.commit not in commits:
            commits.append(job.commit)
    return commits


def rollback_target(app: str, jobs: Sequence[Job], to: str | None) -> str:
    """``to`` (a full SHA or a prefix of at least 7 characters) when the app deployed it
    successfully; by default the newest success before the current (newest) one."""
    commits = deployed(jobs)
    if to is None:
        if len(commits) < 2:
            raise NoRollbackTarget(
                f"{app}: no earlier successful commit to roll back to "
                f"({len(commits)} successful commit(s) in its history)"
            )
        return commits[1]
    lowered = to.lower()
    matches = [c for c in commits if c.startswith(lowered)]
    if len(lowered) < 7 or len(matches) != 1:
        known = ", ".join(c[:7] for c in commits[:10]) or "none"
        raise NoRollbackTarget(
            f"{app}: {to!r} is not a commit this app deployed successfully "
            f"(give 7+ characters of one of: {known})"
        )
    return matches[0]
