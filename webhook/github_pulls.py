"""A pull request on GitHub and who may act on it (issue #11): a login's permission on a
repository and the fields of a pull request a preview needs, both read only.

Owns: the check that a login is one GitHub could have issued before it goes into a URL.
Must not touch: the queue, the cluster, the config file; what a permission allows (the
commands and the sign-in decide).
"""

from __future__ import annotations

import re
from typing import Any

from webhook.github_errors import GitHubRejected
from webhook.github_session import GitHubSession

#: A GitHub login: letters, digits and single hyphens (also ``name[bot]`` for Apps).
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")


class PullsPart(GitHubSession):
    """Reads of a collaborator's permission and of a pull request."""

    def permission(self, repo: str, login: str) -> str:
        """``login``'s permission on ``repo`` as GitHub reports it (``admin``, ``write``,
        ``read`` or ``none``), asked with the deployer's own credentials:
        ``GET /repos/{repo}/collaborators/{login}/permission``. A login GitHub does not know
        (404) has ``none``; Unavailable when GitHub cannot answer."""
        if not _LOGIN.fullmatch(login):
            return "none"
        requester = self._connect(repo).requester

        def ask() -> str:
            _, data = requester.requestJsonAndCheck(
                "GET", f"/repos/{repo}/collaborators/{login}/permission"
            )
            return str(data.get("permission") or "none") if isinstance(data, dict) else "none"

        try:
            return self._call(
                f"permission of {login} on {repo}", ask, op="get_permission", repo=repo
            )
        except GitHubRejected as exc:
            if exc.status == 404:
                return "none"
            raise

    def pull_request(self, repo: str, number: int) -> dict[str, Any]:
        """``GET /repos/{repo}/pulls/{number}``: the fields a preview needs (head and base
        SHA, base branch, head and base repository)."""
        requester = self._connect(repo).requester

        def get() -> dict[str, Any]:
            _, data = requester.requestJsonAndCheck("GET", f"/repos/{repo}/pulls/{int(number)}")
            return data if isinstance(data, dict) else {}

        return self._call(f"pull request {repo}#{number}", get, op="get_pull_request", repo=repo)
