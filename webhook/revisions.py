"""Which commit an approval may deploy: the app's branch head, or a commit on that branch.

Every approval asks here, wherever it comes from: the API and the page (through
``webhook.web.approvals``, the one web module import-linter lets reach git: an approval is
rare and may wait for a fetch; a delivery never does) and a ``/deploy approve`` comment
(in the worker). Without this check, "approve" deployed whatever a lane had run last, a
PR preview included: unreviewed code to a manual app.
"""

from __future__ import annotations

from webhook.errors import Unavailable
from webhook.model import Job, SyncRequest, Trigger
from webhook.settings import AppConfig, DeployerConfig, Environment
from webhook.sources import Mirrors, Remote, SourceError, branch_head


class RevisionRefused(Exception):
    """The revision is not on the app's branch (or not in the repository): a 409."""


class RevisionUnavailable(Exception):
    """git could not answer (remote down, no access): a 503, worth a retry."""


def approved_revision(
    app: AppConfig, config: DeployerConfig, env: Environment, revision: str | None
) -> str:
    """``revision`` if the app's branch reaches it, else raise; None means the branch head."""
    remote = Remote(url=config.clone_url(app.repo), token=env.github_token)
    try:
        head = branch_head(remote.url, app.branch, remote.token)
        if revision is None or revision == head:
            return head
        on_branch = Mirrors(env.cache_dir).reaches(app.repo, remote, head, revision)
    except Unavailable as exc:
        raise RevisionUnavailable(f"{app.repo}: cannot read the repository: {exc}") from exc
    except SourceError as exc:
        raise RevisionRefused(f"{app.name}: {exc}") from exc
    if not on_branch:
        raise RevisionRefused(
            f"{app.name}: commit {revision} is not on branch {app.branch!r} of {app.repo} "
            f"(head {head}); only commits the branch reaches can be approved"
        )
    return revision


def manual_request(
    app: AppConfig, commit: str, *, approved: bool = True, plan: Job | None = None
) -> SyncRequest:
    """A manual job of ``app`` at ``commit`` (an approval, a rollback, a resume). Approving
    ``plan``, the plan that waits at that commit, carries its pull requests, so their
    statuses and comment follow the deployment."""
    return SyncRequest(
        app=app.name,
        repo=app.repo,
        commit=commit,
        ref=f"refs/heads/{app.branch}",
        trigger=Trigger.MANUAL,
        approved=approved,
        pull_requests=plan.pull_requests if plan is not None else (),
    )
