"""A local GitHub REST API for tests: the one allowed stand-in for GitHub, which is not
reachable from here.

Every request is checked against GitHub's published OpenAPI description (npm
``@octokit/openapi``, pinned in ``scripts/fetch-test-data --openapi``): an unknown endpoint,
a wrong method or an invalid body is answered as GitHub would (404/422) *and* recorded in
``failures``, which the ``github_api`` fixture turns into a failed test. On top of the
schema it enforces GitHub's documented limits that the schema leaves out (140-character
status descriptions, 65,536-character comments). Every 2xx answer is checked in turn against
the operation's response schema (a mismatch is a failure too), and lists are paginated as
GitHub paginates them (``per_page``, default 30 and at most 100, ``page``, a ``Link`` header
with ``next``/``last``; see ``shapes.page``). It keeps the state the deployer touches
(commit statuses, issue comments, deployments and their statuses), records every call, and
answers 5xx, 429 with ``Retry-After`` or a rate-limit 403 on demand, optionally *after*
doing the write (a lost answer: the case that tempts a client to write twice).

Webhook deliveries GitHub attempted (``hook_deliveries.record``) are served read-only at
the repository hook's and the App hook's ``/deliveries`` (see ``tests/github/hook_deliveries.py``).

With ``install_app`` it also plays a GitHub App's side: ``/app/...`` and
``/repos/{owner}/{repo}/installation`` need a JWT (RS256, ``iss`` = the app id) that verifies
with the app's *public* key, else 401; ``POST /app/installations/{id}/access_tokens`` issues
``ghs_`` tokens with an ``expires_at`` (by ``clock``); a token of this server is refused
once expired, and works only on its installation's repos. Every call records the
credential it used (``Call.credential``), never the secret itself.

Who wrote what: every token is a user (``add_user``; any other token is ``DEPLOYER``), an
installation token is the App's bot ``<slug>[bot]``; ``GET /user`` and ``GET /app`` say so,
and each comment carries its author in ``user`` as GitHub's does, so a comment written by
someone else through this server (``comment_as``) is really theirs.

Sign-in (issue #11): ``oauth_client`` registers an OAuth client, and the server plays
GitHub's web flow at ``GET /login/oauth/authorize`` (it "clicks Authorize" as the user of
``authorize_as``, redirecting back with a one-time ``code`` and the ``state`` it was given)
and ``POST /login/oauth/access_token`` (code -> that user's token). These two endpoints
are GitHub's web endpoints, not part of the REST API, so its OpenAPI description does not
list them: they are checked here by hand (client id and secret, redirect URI, single-use
code) instead. ``grant`` sets a user's collaborator permission on a repository, served at
``GET /repos/{owner}/{repo}/collaborators/{username}/permission`` (``none`` by default);
``pulls`` holds pull requests for ``GET /repos/{owner}/{repo}/pulls/{number}``.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.templating.paths.datatypes import PathOperationServer
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.paths.iterators import TemplatePathsIterator
from openapi_core.testing import MockRequest, MockResponse
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.github import shapes
from tests.github.hook_deliveries import HookDeliveries, Paged

ROOT = Path(__file__).resolve().parents[2]
GITHUB = "https://api.github.com"
#: The user behind any token the test did not register with ``add_user``.
DEPLOYER = {"login": "deployer", "id": 4242, "type": "User"}
#: The App's bot, the author of whatever an installation token writes.
APP_SLUG = "webhook-deployer"
APP_BOT = {"login": f"{APP_SLUG}[bot]", "id": 5151, "type": "Bot"}


@functools.cache
def spec_path() -> Path:
    if env := os.environ.get("GITHUB_OPENAPI_SPEC"):
        return Path(env)
    out = subprocess.run(
        [str(ROOT / "scripts" / "fetch-test-data"), "--openapi"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


class _ListedPaths(TemplatePathsIterator):
    """openapi-core's own path matching, over the description's path list read once: it read
    the ~900 paths of GitHub's description again for every request (about half of each
    validation's time), although a loaded description never changes."""

    def __call__(self, name: str, spec: SchemaPath, base_url: str | None = None) -> Iterator[Any]:
        return super().__call__(name, _Listed(spec / self.paths_part), base_url)


class _Listed:
    """Stands for ``spec`` in ``TemplatePathsIterator``, which only divides it by the paths'
    key, asks whether that exists and lists it."""

    def __init__(self, paths: SchemaPath) -> None:
        self.paths = paths

    def __truediv__(self, part: str) -> _Listed:
        return self

    def exists(self) -> bool:
        return bool(self.paths.exists())

    def str_items(self) -> list[tuple[str, SchemaPath]]:
        return _path_items(self.paths)


@functools.cache
def _path_items(paths: SchemaPath) -> list[tuple[str, SchemaPath]]:
    return list(paths.str_items())


class _PathFinder(APICallPathFinder):
    """openapi-core's path finder, remembering what it found for each method and URL: it
    matched the URL against every path template of the description again for each request
    and again for its answer (~5 % of a quick run's CPU), although the description, and so
    the match, never changes. A URL it cannot place is looked up (and refused) every time."""

    paths_iterator = _ListedPaths("paths")

    def find(self, method: str, name: str) -> PathOperationServer:
        key = (id(self.spec), method, name)  # one description per session (``openapi``)
        found = _FOUND.get(key)
        if found is None:
            found = _FOUND[key] = super().find(method, name)
        return found


_FOUND: dict[tuple[int, str, str], PathOperationServer] = {}


@functools.cache
def openapi() -> OpenAPI:
    """GitHub's description, loaded once per session; the spec itself is not validated."""
    from openapi_core import Config

    spec = json.loads(spec_path().read_text(encoding="utf-8"))
    config = Config(spec_validator_cls=None, path_finder_cls=_PathFinder)
    return OpenAPI.from_dict(spec, config=config)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    #: ``none``, ``token`` (one this server did not issue), ``jwt``, ``bad-jwt``,
    #: ``installation-token #<n>`` (the n-th issued, from 1) or ``expired-token #<n>``.
    credential: str = "none"


@dataclass(frozen=True)
class IssuedToken:
    installation_id: int
    token: str = field(repr=False)
    expires_at: float


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    after_apply: bool
    method: str | None


@dataclass
class GitHubApiServer:
    """The fake's state and its HTTP server; ``url`` is the ``GITHUB_API_URL`` to use."""

    calls: list[Call] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statuses: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    deployments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deployment_statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    url: str = ""
    #: The GitHub App: its id, its public key (PEM) and its installations (repo -> id).
    app_id: str | None = None
    app_public_key: str | None = field(default=None, repr=False)
    installations: dict[str, int] = field(default_factory=dict)
    issued: list[IssuedToken] = field(default_factory=list)
    token_lifetime: float = 3600.0
    #: Decides when issued tokens expire (JWTs are checked against the real time).
    clock: Callable[[], float] = time.time
    #: token -> the user it belongs to (``login``, ``id``, ``type``).
    users: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: (pattern, action): once a write whose ``METHOD /path`` matches is done, run action
    #: before answering (``after_write``).
    hooks: list[tuple[str, Callable[[], None]]] = field(default_factory=list, repr=False)
    #: (repo, login), lower-cased -> GitHub's collaborator permission.
    permissions: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (repo, number) -> a pull request as ``GET .../pulls/{number}`` returns it.
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: OAuth client id -> secret; the token of the user who authorizes; codes issued.
    oauth_clients: dict[str, str] = field(default_factory=dict, repr=False)
    authorize_as: str | None = field(default=None, repr=False)
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict, repr=False)
    #: What GitHub attempted to deliver to each hook, and the answer it got.
    hook_deliveries: HookDeliveries = field(default_factory=HookDeliveries)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- test controls ---------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 502,
        headers: dict[str, str] | None = None,
        after_apply: bool = False,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``method``, if given) with ``status``."""
        for _ in range(count):
            self.faults.append(Fault(status, dict(headers or {}), after_apply, method))

    def after_write(self, pattern: str, action: Callable[[], None]) -> None:
        """Once a write matching ``pattern`` (a regex over ``METHOD /path``) is applied, run
        ``action`` before the answer goes out: to kill the client between GitHub doing the
        write and the client hearing of it."""
        self.hooks.append((pattern, action))

    def rate_limit_next(self, count: int = 1, *, reset_at: float) -> None:
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset_at))}
        self.fail_next(count, status=403, headers=headers)

    def install_app(self, app_id: str, public_key_pem: str, installations: dict[str, int]) -> None:
        """Play GitHub for this App, installed as ``installations`` (repo -> id) says."""
        self.app_id = app_id
        self.app_public_key = public_key_pem
        self.installations = {repo.lower(): iid for repo, iid in installations.items()}

    def add_user(self, token: str, login: str, user_id: int) -> None:
        """``token`` belongs to user ``login``: what it writes is signed with that name."""
        self.users[token] = {"login": login, "id": user_id, "type": "User"}

    def comment_as(self, token: str, repo: str, number: int, body: str) -> int:
        """Post a comment through the HTTP API as the owner of ``token``; its id."""
        import requests

        answer = requests.post(
            f"{self.url}/repos/{repo}/issues/{number}/comments",
            json={"body": body},
            headers={"Authorization": f"token {token}"},
            timeout=60,  # a bound for a broken server only: a loaded machine validates slowly
        )
        answer.raise_for_status()
        return int(answer.json()["id"])

    def oauth_client(self, client_id: str, secret: str) -> None:
        self.oauth_clients[client_id] = secret

    def grant(self, repo: str, login: str, permission: str) -> None:
        """``login`` has ``permission`` (admin, write, read, none) on ``repo``."""
        self.permissions[(repo.lower(), login.lower())] = permission

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def states(self, repo: str, sha: str, context: str) -> list[str]:
        """Every state posted to ``sha`` in ``context``, oldest first."""
        return [
            s["state"]
            for s in self.statuses.get((repo.lower(), sha), [])
            if s["context"] == context
        ]

    def last_status(self, repo: str, sha: str, context: str) -> dict[str, Any] | None:
        found = [s for s in self.statuses.get((repo.lower(), sha), []) if s["context"] == context]
        return found[-1] if found else None

    # -- HTTP --------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/login/oauth/"):
            with self._lock:
                return self._oauth(request)
        raw = request.get_data()
        body: Any = json.loads(raw) if raw else None
        query = {k: v for k, v in request.args.items()}
        problem = self._validate(request, raw)
        if problem is not None:
            with self._lock:
                self.failures.append(problem)
                self.calls.append(Call(request.method, request.path, query, body, 422))
            return _json({"message": problem}, 404 if "not found" in problem else 422)
        with self._lock:
            credential, refusal = self._authenticate(request)
            if refusal is not None:
                status, payload = refusal
                self.calls.append(
                    Call(request.method, request.path, query, body, status, credential)
                )
                return _json(payload, status)
            fault = next((f for f in self.faults if f.method in (None, request.method)), None)
            if fault is not None:
                self.faults.remove(fault)
            if fault is None or fault.after_apply:
                caller = self._caller(request)
                status, payload = self._route(request.method, request.path, query, body, caller)
            link = None
            if fault is None and request.method == "GET" and isinstance(payload, list):
                paged = shapes.page(payload, self.url + request.path, query)
                if isinstance(paged, str):
                    status, payload = 422, {"message": paged}
                else:
                    payload, link = paged
            if fault is not None:
                status, payload = fault.status, {"message": _reason(fault.status)}
            self.calls.append(Call(request.method, request.path, query, body, status, credential))
            done = request.method != "GET" and 200 <= status < 300
            where = f"{request.method} {request.path}"
            hook = next((h for h in self.hooks if done and re.search(h[0], where)), None)
            if hook is not None:
                self.hooks.remove(hook)
        if hook is not None:
            hook[1]()
        if isinstance(payload, Paged):  # cursor-paged (hook deliveries): its own Link
            payload, link = payload.items, payload.link
        response = _json(payload, status)
        if link is not None:
            response.headers["Link"] = link
        if fault is not None:
            for key, value in fault.headers.items():
                response.headers[key] = value
        elif 200 <= status < 300 and (problem := self._check_answer(request, raw, response)):
            with self._lock:
                self.failures.append(problem)
        return response

    def _check_answer(self, request: Request, raw: bytes, response: Response) -> str | None:
        """Whether GitHub could have answered this: the 2xx body against its schema."""
        mock = MockRequest(
            GITHUB,
            request.method.lower(),
            request.path,
            args=request.args,
            data=raw or None,
            content_type=request.mimetype or "application/json",
        )
        answer = MockResponse(
            response.get_data(),
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type="application/json",
        )
        try:
            openapi().validate_response(mock, answer)
        except Exception as exc:
            detail = str(exc)
            if exc.__cause__ is not None:
                detail += f": {exc.__cause__}"
            return f"{request.method} {request.path}: answer not as GitHub's: {detail}"
        return None

    def _oauth(self, request: Request) -> Response:
        """GitHub's OAuth web flow (see the module doc): not in the REST description."""
        query = dict(request.args.items())
        if request.method == "GET" and request.path == "/login/oauth/authorize":
            client, target = query.get("client_id", ""), query.get("redirect_uri", "")
            self.calls.append(Call("GET", request.path, query, None, 302))
            if client not in self.oauth_clients or not target:
                self.failures.append(f"authorize: unknown client {client!r} or no redirect_uri")
                return _json({"message": "Not Found"}, 404)
            state = query.get("state", "")
            if self.authorize_as is None:
                answer = {"error": "access_denied", "state": state}
            else:
                code = secrets.token_hex(10)
                self.codes[code] = (client, self.authorize_as, target)
                answer = {"code": code, "state": state}
            response = Response(status=302)
            response.headers["Location"] = f"{target}?{urlencode(answer)}"
            return response
        if request.method == "POST" and request.path == "/login/oauth/access_token":
            form = dict(request.form.items()) or (request.get_json(silent=True) or {})
            client, code = form.get("client_id", ""), form.get("code", "")
            issued = self.codes.pop(code, None)
            ok = (
                issued is not None
                and self.oauth_clients.get(client) == form.get("client_secret")
                and issued[0] == client
                and issued[2] == form.get("redirect_uri", issued[2])
            )
            self.calls.append(Call("POST", request.path, {}, {"client_id": client}, 200))
            if not ok or issued is None:
                return _json({"error": "bad_verification_code"}, 200)
            return _json({"access_token": issued[1], "token_type": "bearer", "scope": ""}, 200)
        self.failures.append(f"{request.method} {request.path}: no such OAuth endpoint")
        return _json({"message": "Not Found"}, 404)

    def _authenticate(self, request: Request) -> tuple[str, tuple[int, Any] | None]:
        """The credential's label, and the refusal to answer instead (or None)."""
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        path = request.path
        app_only = (
            path == "/app"
            or path.startswith("/app/")
            or bool(re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path))
        )
        # GitHub takes a user's OAuth token as "token X" or "Bearer X"; a JWT has 3 parts.
        if scheme.lower() == "bearer" and secret.count(".") == 2:
            if not app_only:
                self.failures.append(f"{request.method} {path}: a JWT used beyond /app")
                return "jwt", (401, {"message": "A JSON web token cannot be used here"})
            if self._verify_jwt(secret):
                return "jwt", None
            return "bad-jwt", (401, {"message": "A JSON web token could not be decoded"})
        if app_only and self.app_id is not None:
            return "token" if secret else "none", (401, {"message": "Requires a JWT"})
        number, issued = next(
            ((n, t) for n, t in enumerate(self.issued, 1) if t.token == secret), (0, None)
        )
        if issued is None:
            return ("token" if secret else "none"), None
        if self.clock() >= issued.expires_at:
            return f"expired-token #{number}", (401, {"message": "Bad credentials"})
        repo = m[1].lower() if (m := re.match(r"/repos/([^/]+/[^/]+)/", path)) else None
        if repo is not None and self.installations.get(repo) != issued.installation_id:
            self.failures.append(f"{request.method} {path}: token of another installation")
            return f"installation-token #{number}", (404, {"message": "Not Found"})
        return f"installation-token #{number}", None

    def _caller(self, request: Request) -> dict[str, Any] | None:
        """The user a request acts as: the App's bot for an installation token."""
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if not secret or (scheme.lower() == "bearer" and secret.count(".") == 2):
            return None
        if any(t.token == secret for t in self.issued):
            return dict(APP_BOT)
        return dict(self.users.get(secret, DEPLOYER))

    def _verify_jwt(self, token: str) -> bool:
        if self.app_public_key is None or self.app_id is None:
            return False
        try:
            claims = jwt.decode(
                token,
                self.app_public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=60,
            )
        except jwt.InvalidTokenError:
            return False
        # GitHub refuses JWTs that live longer than ten minutes.
        lifetime = int(claims["exp"]) - int(claims["iat"])
        return str(claims["iss"]) == self.app_id and lifetime <= 660

    def _validate(self, request: Request, raw: bytes) -> str | None:
        mock = MockRequest(
            GITHUB,
            request.method.lower(),
            request.path,
            args=request.args,
            data=raw or None,
            content_type=request.mimetype or "application/json",
        )
        try:
            openapi().validate_request(mock)
        except Exception as exc:
            detail = str(exc)
            if exc.__cause__ is not None:
                detail += f": {exc.__cause__}"
            kind = "not found" if "not found" in detail.lower() else "invalid"
            return f"{request.method} {request.path}: {kind}: {detail}"
        body = json.loads(raw) if raw else {}
        is_status = re.fullmatch(r"/repos/[^/]+/[^/]+/statuses/\w+", request.path)
        if is_status and len(body.get("description") or "") > 140:
            return f"{request.method} {request.path}: invalid: description over 140"
        if "/issues/" in request.path and len(body.get("body") or "") > 65536:
            return f"{request.method} {request.path}: invalid: comment body over 65536"
        return None

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, caller: Any
    ) -> tuple[int, Any]:
        if method == "GET" and (found := self.hook_deliveries.serve(path, query, self.url)):
            return found
        if path == "/user":
            if caller is None:
                return 401, {"message": "Requires authentication"}
            if caller["type"] == "Bot":
                return 403, {"message": "Resource not accessible by integration"}
            return 200, shapes.public_user(caller)
        if path == "/app":
            return 200, {
                "id": int(self.app_id or 0),
                "slug": APP_SLUG,
                "node_id": "A_1",
                "name": "Webhook Deployer",
                "owner": shapes.user({"login": "octo-org", "id": 1, "type": "Organization"}),
                "description": "",
                "external_url": "https://deployer.example",
                "html_url": f"https://github.com/apps/{APP_SLUG}",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "permissions": {"statuses": "write", "pull_requests": "write"},
                "events": [],
            }
        if m := re.fullmatch(r"/app/installations/(\d+)/access_tokens", path):
            installation = int(m[1])
            if installation not in self.installations.values():
                return 404, {"message": "Not Found"}
            issued = IssuedToken(
                installation, f"ghs_{secrets.token_hex(18)}", self.clock() + self.token_lifetime
            )
            self.issued.append(issued)
            expires = datetime.fromtimestamp(issued.expires_at, UTC)
            return 201, {
                "token": issued.token,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": {"statuses": "write", "contents": "read"},
                "repository_selection": "selected",
            }
        if m := re.fullmatch(r"/repos/([^/]+)/([^/]+)/installation", path):
            found = self.installations.get(f"{m[1]}/{m[2]}".lower())
            if found is None:
                return 404, {"message": "Not Found"}
            return 200, {
                "id": found,
                "app_id": int(self.app_id or 0),
                "account": shapes.user({"login": m[1], "id": 1, "type": "Organization"}),
                "target_id": 1,
                "target_type": "Organization",
                "repository_selection": "selected",
                "permissions": {"statuses": "write", "contents": "read"},
                "events": [],
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "access_tokens_url": f"{self.url}/app/installations/{found}/access_tokens",
                "repositories_url": f"{self.url}/installation/repositories",
                "html_url": f"https://github.com/settings/installations/{found}",
                "app_slug": "webhook-deployer",
                "single_file_name": None,
                "suspended_at": None,
                "suspended_by": None,
            }
        who = caller or DEPLOYER
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/collaborators/([^/]+)/permission", path):
            login = m[2]
            permission = self.permissions.get((m[1].lower(), login.lower()), "none")
            role = {"admin": "admin", "write": "write", "read": "read"}.get(permission, "none")
            collaborator = {
                **shapes.user({"login": login, "id": 1, "type": "User"}),
                "role_name": role,
            }
            return 200, {"permission": permission, "role_name": role, "user": collaborator}
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)", path):
            pull = self.pulls.get((m[1].lower(), int(m[2])))
            return (200, pull) if pull is not None else (404, {"message": "Not Found"})
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/statuses/(\w+)", path):
            repo, sha = m[1].lower(), m[2]
            status = shapes.status(self.url, m[1], sha, next(self._ids), body, who)
            self.statuses.setdefault((repo, sha), []).append(status)
            return 201, status
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/commits/(\w+)/statuses", path):
            return 200, list(reversed(self.statuses.get((m[1].lower(), m[2]), [])))
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path):
            key = (m[1].lower(), int(m[2]))
            if method == "GET":
                return 200, self.comments.get(key, [])
            comment = shapes.comment(self.url, m[1], int(m[2]), next(self._ids), body["body"], who)
            self.comments.setdefault(key, []).append(comment)
            return 201, comment
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path):
            for comment in itertools.chain.from_iterable(self.comments.values()):
                if comment["id"] == int(m[2]):
                    if method == "PATCH":
                        comment["body"] = body["body"]
                    return 200, comment
            return 404, {"message": "Not Found"}
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/deployments", path):
            listed = self.deployments.setdefault(m[1].lower(), [])
            if method == "GET":
                return 200, [
                    d
                    for d in listed
                    if all(d.get(k) == v for k, v in query.items() if k in ("sha", "environment"))
                ]
            deployment = shapes.deployment(self.url, m[1], next(self._ids), body, who)
            listed.append(deployment)
            return 201, deployment
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/deployments/(\d+)/statuses", path):
            ident = next(self._ids)
            status = shapes.deployment_status(self.url, m[1], int(m[2]), ident, body, who)
            self.deployment_statuses.setdefault(int(m[2]), []).append(status)
            return 201, status
        self.failures.append(f"{method} {path}: valid for GitHub but not served by this fake")
        return 501, {"message": "not implemented by the test server"}


def _reason(status: int) -> str:
    if status == 403:
        return "API rate limit exceeded for installation."
    if status == 429:
        return "You have exceeded a secondary rate limit."
    return "Server Error"


def _json(payload: Any, status: int) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def client_for(server: GitHubApiServer, token: str = "ghs_test-token-never-shown") -> Any:
    """A ``GitHubClient`` with a token, talking to ``server``."""
    from webhook.github import GitHubClient
    from webhook.settings import Environment

    env = Environment(webhook_secret=b"unused", github_token=token, github_api_url=server.url)
    client = GitHubClient.from_env(env, seconds_between_writes=0)
    assert client is not None
    return client
