"""GitHub's REST API (with github_app.py and github_errors.py the only PyGithub users): statuses,
PR comments, deployments, who we are (only our own comments are ever edited), and a
webhook's recent deliveries (read only, to recover those that never reached us).

Owns: credentials (a token, or a GitHub App installation), the mapping of GitHub's answers
onto two project errors, and the size limits GitHub enforces (140-character status
descriptions, 65,536-character comments). Each call sends at most one write: PyGithub's own
retry is off (it re-POSTs), and retrying is the caller's business, driven by
``Unavailable.retry_after``. Writes that must never be doubled (comments, deployments)
look for their earlier result first, so a retry after an ambiguous answer finds it.
Must not touch: the queue, the cluster, the config file. Never logs a token.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import requests
from cachetools import LRUCache
from github import Auth, Github, GithubException, GithubIntegration
from github.CommitStatus import CommitStatus
from github.PaginatedList import PaginatedList

from webhook import telemetry
from webhook.errors import Unavailable
from webhook.github_app import (
    TOKEN_REFRESH_MARGIN as TOKEN_REFRESH_MARGIN,  # re-exported
    InstallationClients,
    InstallationTokens,
)
from webhook.github_errors import (
    GitHubRejected as GitHubRejected,  # re-exported
    classify,
)
from webhook.settings import Environment
from webhook.text import cut

log = logging.getLogger(__name__)
T = TypeVar("T")

StatusState = Literal["pending", "success", "failure", "error"]
DeploymentState = Literal["in_progress", "queued", "success", "failure", "error", "inactive"]
#: GitHub answers 422 to a longer status description.
MAX_DESCRIPTION = 140
#: GitHub's limit on an issue comment's body.
MAX_COMMENT = 65536
#: Seconds to wait for GitHub's answer; a write that times out is retried by the caller.
TIMEOUT = 15
#: Statuses asked for per page when looking one up (GitHub gives at most 100).
STATUS_PAGE = 100
#: Items asked for per page of any other list (GitHub's most; PyGithub's default is 30).
LIST_PAGE = 100
#: A GitHub login: letters, digits and single hyphens (also ``name[bot]`` for Apps).
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


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


@dataclass(frozen=True)
class HookDelivery:
    """One attempt GitHub made to deliver an event to a webhook (``GET .../deliveries``)."""

    id: int
    guid: str
    event: str
    status_code: int
    delivered_at: str


def _page_cursor(link: str | None) -> str | None:
    """The ``cursor`` of the ``rel="next"`` page in a ``Link`` header, if any."""
    for part in (link or "").split(","):
        if 'rel="next"' in part and (m := re.search(r"[?&]cursor=([^&>]+)", part)):
            return m[1]
    return None


class WriteBudget:
    """Paces content-creating requests as a token bucket: up to ``burst`` at once, then
    ``per_second``.

    GitHub's secondary rate limits punish bursts of writes (about 80 a minute) and ask for a
    second between writes when there are many. A merge's report is a handful of writes
    (statuses on two commits, a comment): a small burst lets them go out at once, so the
    green status is not held back seconds by pacing, while a sustained stream stays at one a
    second, under the limit. ``per_second=0`` turns pacing off (tests).
    """

    def __init__(
        self,
        *,
        burst: int = 10,
        per_second: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.burst, self.per_second = burst, per_second
        self.clock, self.sleep = clock, sleep
        self.tokens = float(burst)
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait, if need be, until one more write is within budget; then spend it."""
        if self.per_second <= 0:
            return
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
            self.updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.per_second
                self.sleep(wait)
                self.tokens, self.updated = 1.0, self.clock()
            self.tokens -= 1


class GitHubClient:
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
        self._connect = connect
        self._clock = clock
        self._tokens = tokens
        self._git_token = git_token
        self._budget = budget or WriteBudget(per_second=0)
        self._whoami = whoami
        self._app = app  # authenticated as the GitHub App itself (a JWT): its own hook
        self._identity: Identity | None = None
        self._identity_lock = threading.Lock()
        #: Our comment's id by (repo, number, marker), once found or written: the next
        #: report reads that one comment instead of listing the thread, whose length is
        #: anyone's to make (a thousand comments on a PR were 34 requests per report).
        self._comment_ids: LRUCache[tuple[str, int, str], int] = LRUCache(maxsize=4096)
        self._comment_lock = threading.Lock()

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

    def identity(self) -> Identity:
        """Who we are: ``GET /user`` for a token, ``GET /app`` (with the App's JWT) for a
        GitHub App, asked once per client. Raises Unavailable or GitHubRejected."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = self._call("who am I", self._whoami, op="identity")
            return self._identity

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

    # -- commit statuses -----------------------------------------------------------------

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

    # -- pull request comments ------------------------------------------------------------

    def find_comment(self, repo: str, number: int, marker: str) -> Comment | None:
        """Our first comment on PR ``number`` that starts with ``marker``.

        Only a comment written by our own identity counts: anyone can write the marker into
        a comment of theirs, and that comment is neither edited nor trusted.
        """
        me = self.identity()
        issue = self._connect(repo).get_repo(repo).get_issue(number)

        def find() -> Comment | None:
            for comment in issue.get_comments():
                user = comment.user
                ours = user is not None and me.wrote(user.login, user.id)
                if ours and (comment.body or "").startswith(marker):
                    return Comment(id=comment.id, body=comment.body)
            return None

        return self._call(f"comments of {repo}#{number}", find, op="list_comments", repo=repo)

    def _remembered(self, repo: str, number: int, marker: str) -> Comment | None:
        """Our comment with ``marker`` that this client found or wrote before, read again by
        its id (one request, however long the thread); None when it is gone or, edited by
        someone else since, no longer ours with the marker (the thread is searched then)."""
        key = (repo.lower(), number, marker)
        with self._comment_lock:
            known = self._comment_ids.get(key)
        if known is None:
            return None
        me = self.identity()
        comment = self._connect(repo).get_repo(repo).get_issue(number).get_comment(known)

        def read() -> Comment | None:
            user, text = comment.user, comment.body or ""
            ours = user is not None and me.wrote(user.login, user.id)
            return Comment(id=known, body=text) if ours and text.startswith(marker) else None

        try:
            found = self._call(f"comment {known}", read, op="get_comment", repo=repo)
        except GitHubRejected as exc:
            if exc.status != 404:
                raise
            found = None
        if found is None:
            with self._comment_lock:
                self._comment_ids.pop(key, None)
        return found

    def _remember(self, repo: str, number: int, marker: str, comment_id: int) -> None:
        with self._comment_lock:
            self._comment_ids[(repo.lower(), number, marker)] = comment_id

    def upsert_comment(self, repo: str, number: int, marker: str, body: str) -> int:
        """Edit our comment that starts with ``marker`` in place, or create it; its id.

        The marker is looked up before every write (by the id this client last saw, else
        through the thread), so a create whose answer was lost is found and edited next
        time instead of being posted twice. An unchanged body is not sent again. A marker
        in someone else's comment is ignored: we create our own.
        """
        if not body.startswith(marker):
            body = f"{marker}\n{body}"
        body = cut(body, MAX_COMMENT)
        existing = self._remembered(repo, number, marker) or self.find_comment(repo, number, marker)
        gh_repo = self._connect(repo).get_repo(repo)
        if existing is None:
            issue = gh_repo.get_issue(number)
            created = self._call(
                f"comment on {repo}#{number}",
                lambda: issue.create_comment(body),
                op="create_comment",
                write=True,
                repo=repo,
            )
            self._remember(repo, number, marker, int(created.id))
            return int(created.id)
        self._remember(repo, number, marker, existing.id)
        if existing.body != body:
            comment = gh_repo.get_issue(number).get_comment(existing.id)
            self._call(
                f"edit comment {existing.id}",
                lambda: comment.edit(body),
                op="edit_comment",
                write=True,
                repo=repo,
            )
        return existing.id

    # -- who may do what (issue #11) -----------------------------------------------------

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

    # -- deployments --------------------------------------------------------------------

    def ensure_deployment(
        self, repo: str, sha: str, *, environment: str, job_id: int, description: str
    ) -> int:
        """The deployment of job ``job_id`` (found by its payload), created if missing."""
        gh_repo = self._connect(repo).get_repo(repo)

        def find() -> int | None:
            for deployment in gh_repo.get_deployments(sha=sha, environment=environment):
                payload = deployment.payload
                if isinstance(payload, dict) and payload.get("deployer_job") == job_id:
                    return int(deployment.id)
            return None

        found = self._call(
            f"deployments of {repo}@{sha[:7]}", find, op="list_deployments", repo=repo
        )
        if found is not None:
            return found
        created = self._call(
            f"deployment of {repo}@{sha[:7]}",
            lambda: gh_repo.create_deployment(
                sha,
                environment=environment,
                description=cut(description, MAX_DESCRIPTION),
                payload={"deployer_job": job_id},
                required_contexts=[],
                auto_merge=False,
            ),
            op="create_deployment",
            write=True,
            repo=repo,
        )
        return int(created.id)

    def create_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        *,
        state: DeploymentState,
        description: str,
        log_url: str | None = None,
    ) -> None:
        gh_repo = self._connect(repo).get_repo(repo)
        # PyGithub names the link ``target_url`` (GitHub's older name for ``log_url``; GitHub
        # fills in both from either): it has no ``log_url`` argument.
        extra: dict[str, Any] = {"target_url": log_url} if log_url else {}

        def post() -> None:
            deployment = gh_repo.get_deployment(deployment_id)
            deployment.create_status(state, description=cut(description, MAX_DESCRIPTION), **extra)

        self._call(
            f"deployment status {deployment_id}",
            post,
            op="create_deployment_status",
            write=True,
            repo=repo,
        )

    def _hook(self, repo: str | None, hook_id: str | None) -> tuple[Github, str]:
        if repo is None:
            if self._app is None:
                raise GitHubRejected("the App's hook needs GitHub App credentials", status=401)
            return self._app, "/app/hook/deliveries"
        return self._connect(repo), f"/repos/{repo}/hooks/{hook_id}/deliveries"

    def hook_deliveries(
        self, repo: str | None, hook_id: str | None, *, cursor: str | None = None
    ) -> tuple[list[HookDelivery], str | None]:
        """One page of a hook's deliveries, newest first, and the next page's cursor:
        ``repo``'s hook ``hook_id``, or the GitHub App's hook when ``repo`` is None."""
        github, path = self._hook(repo, hook_id)
        params: dict[str, Any] = {"per_page": 100, **({"cursor": cursor} if cursor else {})}

        def page() -> tuple[list[HookDelivery], str | None]:
            headers, data = github.requester.requestJsonAndCheck("GET", path, parameters=params)
            items = [
                HookDelivery(
                    id=int(d["id"]),
                    guid=str(d["guid"]),
                    event=str(d["event"]),
                    status_code=int(d.get("status_code") or 0),
                    delivered_at=str(d["delivered_at"]),
                )
                for d in data
            ]
            return items, _page_cursor(headers.get("link"))

        return self._call(
            f"deliveries of hook {hook_id or 'of the App'}", page, op="list_hook_deliveries"
        )

    def hook_delivery(
        self, repo: str | None, hook_id: str | None, delivery_id: int
    ) -> tuple[dict[str, str], Any]:
        """One delivery's request as GitHub sent it: its headers and its payload."""
        github, path = self._hook(repo, hook_id)

        def fetch() -> tuple[dict[str, str], Any]:
            _, data = github.requester.requestJsonAndCheck("GET", f"{path}/{int(delivery_id)}")
            request = data.get("request") or {}
            headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
            return headers, request.get("payload")

        return self._call(f"delivery {delivery_id}", fetch, op="get_hook_delivery")


def git_token_provider(env: Environment) -> Callable[[str], str | None] | None:
    """``SyncEngine(token_for=...)``: installation tokens when GitHub App credentials are
    set; None otherwise, and the engine uses ``GITHUB_TOKEN``."""
    if not (env.github_app_id and env.github_app_private_key):
        return None
    client = GitHubClient.from_env(env)
    return client.git_token_for if client is not None else None
