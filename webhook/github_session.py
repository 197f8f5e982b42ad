"""One GitHub session: the credentials' connection, who they are, and how every call is made.

Owns: ``Identity``, ``GitHubSession._call`` (GitHub's errors mapped onto the project's two,
the write budget spent before each write, the calls counted in the metrics) and the
140-character limit GitHub puts on a status or deployment description. The parts of the
client (statuses, comments, pull requests, deployments, hooks) build on it.
Must not touch: the queue, the cluster, the config file. Never logs a token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from github import Github, GithubException

from webhook import telemetry
from webhook.errors import Unavailable
from webhook.github_budget import WriteBudget
from webhook.github_errors import classify

#: The logger operators know GitHub's errors by (the name from before the client was split).
log = logging.getLogger("webhook.github")
T = TypeVar("T")

#: GitHub answers 422 to a longer status description.
MAX_DESCRIPTION = 140


@dataclass(frozen=True)
class Identity:
    """Who the deployer is on GitHub: the author of every comment it may edit.

    A token's user is known by its numeric ``id`` (a login can be renamed and then taken by
    someone else); a GitHub App's bot by its login ``<slug>[bot]``, which no person can hold.
    """

    login: str
    id: int | None = None

    def wrote(self, login: str | None, user_id: int | None) -> bool:
        if self.id is not None:
            return user_id == self.id
        return login is not None and login.lower() == self.login.lower()


class GitHubSession:
    """The connection every part of ``GitHubClient`` calls GitHub through."""

    def __init__(
        self,
        connect: Callable[[str], Github],
        *,
        clock: Callable[[], float],
        budget: WriteBudget,
        whoami: Callable[[], Identity],
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._budget = budget
        self._whoami = whoami
        self._identity: Identity | None = None
        self._identity_lock = threading.Lock()

    def identity(self) -> Identity:
        """Who we are: ``GET /user`` for a token, ``GET /app`` (with the App's JWT) for a
        GitHub App, asked once per client. Raises Unavailable or GitHubRejected."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = self._call("who am I", self._whoami, op="identity")
            return self._identity

    def _call(
        self,
        what: str,
        call: Callable[[], T],
        *,
        op: str,
        write: bool = False,
        repo: str | None = None,
    ) -> T:
        """``call()``, its GitHub errors as ours; counted as ``op`` in the metrics, with the
        rate limit GitHub reported to ``repo``'s client."""
        if write:
            self._budget.take()
        telemetry.GITHUB_CALLS.labels(operation=op).inc()
        try:
            return call()
        except GithubException as exc:
            error = classify(exc, now=self._clock())
            kind = "unavailable" if isinstance(error, Unavailable) else "rejected"
            telemetry.GITHUB_ERRORS.labels(operation=op, kind=kind).inc()
            log.warning("%s: %s", what, error)
            raise error from exc
        except requests.RequestException as exc:
            telemetry.GITHUB_ERRORS.labels(operation=op, kind="unavailable").inc()
            raise Unavailable(f"{what}: no answer from GitHub: {type(exc).__name__}") from exc
        finally:
            if repo is not None:
                self._note_rate_limit(repo)

    def _note_rate_limit(self, repo: str) -> None:
        """What GitHub's latest answer on ``repo``'s client said is left (``x-ratelimit-*``
        headers, kept by PyGithub); nothing when no answer carried them."""
        try:
            remaining, _ = self._connect(repo).requester.rate_limiting
        except Exception:  # metrics never fail a report
            return
        if remaining >= 0:
            telemetry.GITHUB_RATE_LIMIT_REMAINING.set(remaining)
