"""Commit statuses on GitHub: post one, and read back the newest in a context.

Owns: ``StatusState`` and the two status calls of ``GitHubClient``. Must not touch: the
queue, the cluster, the config file; what a status says (the reporter decides).
"""

from __future__ import annotations

from typing import Any, Literal

from github.CommitStatus import CommitStatus
from github.PaginatedList import PaginatedList

from webhook.github_session import MAX_DESCRIPTION, GitHubSession
from webhook.text import cut

StatusState = Literal["pending", "success", "failure", "error"]
#: Statuses asked for per page when looking one up (GitHub gives at most 100).
STATUS_PAGE = 100


class StatusesPart(GitHubSession):
    """``POST`` and ``GET`` of a commit's statuses."""

    def create_status(
        self,
        repo: str,
        sha: str,
        *,
        state: StatusState,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        """One POST ``/repos/{repo}/statuses/{sha}``; the description is cut to 140."""
        gh_repo = self._connect(repo).get_repo(repo)
        extra: dict[str, Any] = {"target_url": target_url} if target_url else {}
        self._call(
            f"status {context} on {repo}@{sha[:7]}",
            lambda: gh_repo.get_commit(sha).create_status(
                state, description=cut(description, MAX_DESCRIPTION), context=context, **extra
            ),
            op="create_status",
            write=True,
            repo=repo,
        )

    def latest_status(self, repo: str, sha: str, context: str) -> tuple[str, str] | None:
        """The newest (state, description) in ``context`` on ``sha``, from GitHub itself.

        For a retry after an ambiguous answer: was the status posted after all? (PyGithub's
        ``Commit.get_statuses`` calls an endpoint GitHub's description does not list, so
        this asks ``GET /repos/{repo}/commits/{sha}/statuses`` directly; newest first.) The
        pages are followed (GitHub's ``Link`` header) until ``context`` turns up: a commit
        with many apps, or statuses from other tools, holds more than one page.
        """
        requester = self._connect(repo).requester

        def newest() -> tuple[str, str] | None:
            statuses = PaginatedList(
                CommitStatus,
                requester,
                f"/repos/{repo}/commits/{sha}/statuses",
                {"per_page": STATUS_PAGE},
            )
            for status in statuses:
                if status.context == context:
                    return str(status.state), str(status.description or "")
            return None

        return self._call(f"statuses of {repo}@{sha[:7]}", newest, op="list_statuses", repo=repo)
