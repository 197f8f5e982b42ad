"""GitHub's REST API (with its github_* modules the only PyGithub users): statuses, PR
comments, deployments, who we are (only our own comments are ever edited), and a webhook's
recent deliveries (read only, to recover those that never reached us).

Owns: credentials (a token, or a GitHub App installation) and ``GitHubClient``, which puts
the parts together: github_session.py (how each call is made and its errors mapped onto
two project errors), github_budget.py (the pace of writes), github_statuses.py,
github_comments.py, github_pulls.py, github_deployments.py and github_hooks.py. Each call
sends at most one write: PyGithub's own retry is off (it re-POSTs), and retrying is the
caller's business, driven by ``Unavailable.retry_after``. Writes that must never be doubled
(comments, deployments) look for their earlier result first, so a retry after an ambiguous
answer finds it. Must not touch: the queue, the cluster, the config file. Never logs a
token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from github import Auth, Github, GithubIntegration

from webhook.errors import Unavailable as Unavailable  # re-exported
from webhook.github_app import (
    TOKEN_REFRESH_MARGIN as TOKEN_REFRESH_MARGIN,  # re-exported
    InstallationClients,
    InstallationTokens,
)
from webhook.github_budget import WriteBudget as WriteBudget  # re-exported
from webhook.github_comments import (
    MAX_COMMENT as MAX_COMMENT,  # re-exported
    Comment as Comment,  # re-exported
    CommentsPart,
)
from webhook.github_deployments import (
    DeploymentsPart,
    DeploymentState as DeploymentState,  # re-exported
)
from webhook.github_errors import GitHubRejected as GitHubRejected  # re-exported
from webhook.github_hooks import (
    HookDelivery as HookDelivery,  # re-exported
    HooksPart,
)
from webhook.github_pulls import PullsPart
from webhook.github_session import (
    MAX_DESCRIPTION as MAX_DESCRIPTION,  # re-exported
    Identity as Identity,  # re-exported
)
from webhook.github_statuses import (
    STATUS_PAGE as STATUS_PAGE,  # re-exported
    StatusesPart,
    StatusState as StatusState,  # re-exported
)
from webhook.settings import Environment

#: Seconds to wait for GitHub's answer; a write that times out is retried by the caller.
TIMEOUT = 15
#: Items asked for per page of any other list (GitHub's most; PyGithub's default is 30).
LIST_PAGE = 100


class GitHubClient(StatusesPart, CommentsPart, PullsPart, DeploymentsPart, HooksPart):
    """Statuses, comments and deployments on behalf of one token or GitHub App."""

    def __init__(
        self,
        connect: Callable[[str], Github],
        *,
        clock: Callable[[], float] = time.time,
        tokens: InstallationTokens | None = None,
        git_token: str | None = None,
        budget: WriteBudget | None = None,
        whoami: Callable[[], Identity],
        app: Github | None = None,
    ) -> None:
        """``connect(repo)`` gives a PyGithub client allowed to write to ``repo``;
        ``tokens`` (a GitHub App) or ``git_token`` give git its token; ``whoami`` asks GitHub
        who these credentials are (once: the answer is kept)."""
        super().__init__(
            connect, clock=clock, budget=budget or WriteBudget(per_second=0), whoami=whoami
        )
        self._tokens = tokens
        self._git_token = git_token
        self._app = app  # authenticated as the GitHub App itself (a JWT): its own hook

    @classmethod
    def from_env(
        cls,
        env: Environment,
        *,
        seconds_between_writes: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> GitHubClient | None:
        """A client for the environment's credentials, or None when there are none.

        GitHub App credentials win over ``GITHUB_TOKEN``: the client then acts as the App's
        installation (``GITHUB_APP_INSTALLATION_ID``, else each repo's installation, looked
        up once), with installation tokens fetched on first use and renewed
        ``TOKEN_REFRESH_MARGIN`` seconds before they expire (``clock`` decides when).

        ``seconds_between_writes``: the sustained pace of content-creating requests, with a
        burst allowance (see ``WriteBudget``); tests against the local server pass 0.
        """
        base_url = env.github_api_url
        # We pace writes ourselves; PyGithub's own pacing would space every write by a second.
        pacing: dict[str, Any] = {"seconds_between_requests": None, "seconds_between_writes": None}
        budget = WriteBudget(
            per_second=1 / seconds_between_writes if seconds_between_writes > 0 else 0
        )

        def client(auth: Auth.Auth) -> Github:
            return Github(
                auth=auth,
                base_url=base_url,
                lazy=True,
                retry=None,
                timeout=TIMEOUT,
                per_page=LIST_PAGE,
                **pacing,
            )

        if env.github_app_id and env.github_app_private_key:
            app_auth = Auth.AppAuth(env.github_app_id, env.github_app_private_key)
            integration = GithubIntegration(
                auth=app_auth, base_url=base_url, lazy=True, retry=None, timeout=TIMEOUT, **pacing
            )
            tokens = InstallationTokens(integration, env.github_app_installation_id, clock)
            return cls(
                InstallationClients(tokens, client),
                clock=clock,
                tokens=tokens,
                budget=budget,
                whoami=lambda: Identity(login=f"{integration.get_app().slug}[bot]"),
                app=client(app_auth),
            )
        if env.github_token:
            shared = client(Auth.Token(env.github_token))

            def user() -> Identity:
                _, data = shared.requester.requestJsonAndCheck("GET", "/user")
                return Identity(login=str(data["login"]), id=int(data["id"]))

            return cls(
                lambda repo: shared,
                clock=clock,
                git_token=env.github_token,
                budget=budget,
                whoami=user,
            )
        return None

    def git_token_for(self, repo: str) -> str | None:
        """The token git uses to fetch ``repo``: the installation's (cached, renewed before
        it expires) for a GitHub App, else ``GITHUB_TOKEN``. For ``SyncEngine(token_for=)``.

        Raises Unavailable or GitHubRejected when GitHub will not give one.
        """
        tokens = self._tokens
        if tokens is None:
            return self._git_token
        return self._call(
            f"installation token for {repo}",
            lambda: tokens.token(tokens.installation(repo)),
            op="installation_token",
        )


def git_token_provider(env: Environment) -> Callable[[str], str | None] | None:
    """``SyncEngine(token_for=...)``: installation tokens when GitHub App credentials are
    set; None otherwise, and the engine uses ``GITHUB_TOKEN``."""
    if not (env.github_app_id and env.github_app_private_key):
        return None
    client = GitHubClient.from_env(env)
    return client.git_token_for if client is not None else None
