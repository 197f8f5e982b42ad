"""A GitHub App's side of ``webhook.github``: installation tokens and the per-repo clients
that carry them.

Owns: which installation serves a repo (fixed, or looked up once with the App's JWT), one
token per installation renewed ``TOKEN_REFRESH_MARGIN`` seconds before it expires, and
PyGithub clients that take the current token on each request. Split from ``github.py``,
which stays the one place the rest of the deployer talks to. Never logs a token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from github import Auth, Github, GithubIntegration

log = logging.getLogger(__name__)

#: An installation token is replaced this many seconds before GitHub's ``expires_at``, so a
#: git fetch or a report started with it does not outlive it (tokens last an hour).
TOKEN_REFRESH_MARGIN = 300.0


class InstallationTokens:
    """A GitHub App's installation tokens: each repo's installation (fixed, or looked up
    once), and one token per installation, fetched again shortly before it expires."""

    def __init__(
        self,
        integration: GithubIntegration,
        installation_id: int | None,
        clock: Callable[[], float],
    ) -> None:
        self._integration = integration
        self._fixed = installation_id
        self._clock = clock
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, tuple[str, float]] = {}

    def installation(self, repo: str) -> int:
        """``GET /repos/{repo}/installation`` (as the App, with a JWT), once per repo."""
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            if repo not in self._installations:
                owner, name = repo.split("/", 1)
                found = self._integration.get_repo_installation(owner, name)
                self._installations[repo] = int(found.id)
            return self._installations[repo]

    def token(self, installation: int) -> str:
        """``POST /app/installations/{id}/access_tokens`` unless a fresh token is cached."""
        with self._lock:
            cached = self._tokens.get(installation)
            if cached is not None and self._clock() < cached[1] - TOKEN_REFRESH_MARGIN:
                return cached[0]
            granted = self._integration.get_access_token(installation)
            self._tokens[installation] = (granted.token, granted.expires_at.timestamp())
            log.info("new installation token for installation %s", installation)
            return granted.token


class InstallationAuth(Auth.Auth):
    """Authorization ``token <installation token>`` for ``repo``, taken on each request."""

    def __init__(self, tokens: InstallationTokens, repo: str) -> None:
        self._tokens = tokens
        self._repo = repo

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._tokens.token(self._tokens.installation(self._repo))

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


class InstallationClients:
    """``connect(repo)`` for a GitHub App: a PyGithub client per repo, authenticated lazily
    (the installation lookup and the token request happen inside the first call, so their
    failures are classified like any other answer)."""

    def __init__(self, tokens: InstallationTokens, client: Callable[[Auth.Auth], Github]) -> None:
        self._tokens = tokens
        self._client = client
        self._lock = threading.Lock()
        self._by_repo: dict[str, Github] = {}

    def __call__(self, repo: str) -> Github:
        with self._lock:
            if repo not in self._by_repo:
                self._by_repo[repo] = self._client(InstallationAuth(self._tokens, repo))
            return self._by_repo[repo]
