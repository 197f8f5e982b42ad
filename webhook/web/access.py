"""Who is asking, and what they may see and approve: the gate before every page and API call.

Owns: the access mode (``github`` sign-in, ``none`` on purpose, else loopback only), the
``Principal`` of a request (an API token, a signed-in GitHub user, a loopback caller, or
anyone under ``auth: none``), the per-app checks ``can_read`` / ``can_approve``, and CSRF
on every POST a cookie authenticates. Open without a principal: the webhook receiver
(signature-verified), ``/healthz``, ``/readyz``, the static CSS and the sign-in pages.
Never trusted: ``X-Forwarded-For`` and friends (loopback is the socket's peer address),
nor a loopback peer alone: it must also name this machine in ``Host`` (DNS rebinding).
Must not touch: GitHub (permissions come through ``Permissions``), the queue.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Protocol
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from webhook.access import ApiToken, Level, match_token
from webhook.errors import Unavailable
from webhook.settings import AppConfig, ConfigError, DeployerConfig, Environment

log = logging.getLogger(__name__)
_KEY = "webhook-deployer-access"
#: How long a sign-in lasts, counted from the sign-in itself (``SIGNED_IN_AT``): Flask signs
#: the cookie anew on every request, so the cookie's own age only says how long it idled.
SESSION_LIFETIME = timedelta(hours=12)
#: The session key holding when the user signed in (seconds since the epoch).
SIGNED_IN_AT = "signed_in_at"
_LIFETIME_SECONDS = SESSION_LIFETIME.total_seconds()
Mode = Literal["github", "none", "loopback"]
#: Endpoints anyone may call: each checks its own credential or shows nothing secret.
OPEN_ENDPOINTS = frozenset(
    {
        "receiver.receive",
        "api.healthz",
        "api.readyz",
        "static",
        "signin.login",
        "signin.callback",
        "signin.signed_out",
    }
)


class Permissions(Protocol):
    """A user's permission on a repository, as GitHub says (cached by the implementation)."""

    def level(self, repo: str, login: str) -> Level: ...


@dataclass(frozen=True)
class Principal:
    """Who a request is from. ``kind``: ``token`` (an API token), ``user`` (signed in with
    GitHub), ``local`` (loopback, no sign-in configured) or ``open`` (``auth: none``)."""

    kind: Literal["token", "user", "local", "open"]
    name: str
    user_id: int | None = None
    token: ApiToken | None = None

    @property
    def label(self) -> str:
        """How the audit trail names this principal."""
        return f"token:{self.name}" if self.kind == "token" else self.name


@dataclass
class AccessControl:
    """The web app's access rules, built once by ``create_app``."""

    mode: Mode
    tokens: tuple[ApiToken, ...]
    permissions: Permissions | None = None
    #: The host name of ``public_url``: in loopback mode a request may name it as its
    #: ``Host`` as well as a loopback name (``_local_host``).
    public_host: str | None = None
    csrf: CSRFProtect = field(default_factory=CSRFProtect)

    def init_app(self, app: Flask) -> None:
        app.extensions[_KEY] = self
        # Checked only where a cookie authenticates (``_gate``): a bearer token is no
        # ambient credential a foreign page could make the browser send.
        app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
        if not app.secret_key:
            app.secret_key = secrets.token_hex(32)  # no sessions without sign-in
        self.csrf.init_app(app)
        app.before_request(_gate)


def resolve_mode(env: Environment, config: DeployerConfig) -> Mode:
    """``github`` with an OAuth client, ``none`` when asked for, else ``loopback``; a
    contradiction (an OAuth client and ``none``, or ``github`` without a client) is an error
    at start, never a silent choice."""
    asked = env.auth or config.auth
    if env.oauth_client_id:
        if asked == "none":
            raise ConfigError(["auth: none contradicts GITHUB_OAUTH_CLIENT_ID: remove one of them"])
        return "github"
    if asked == "github":
        raise ConfigError(
            ["auth: github needs GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET"]
        )
    return "none" if asked == "none" else "loopback"


def control(app: Flask | None = None) -> AccessControl:
    found = (app or current_app).extensions[_KEY]
    if not isinstance(found, AccessControl):
        raise TypeError(f"app.extensions[{_KEY!r}] is not an AccessControl")
    return found


def _loopback(address: str | None) -> bool:
    """The socket's peer is this host. ``request.remote_addr`` is the peer unless a proxy
    fixer rewrites it, and none is installed: a forwarded header never counts."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _local_host(host: str, public_host: str | None) -> bool:
    """``Host`` names this machine: ``localhost`` (or a ``*.localhost`` name, which browsers
    never ask DNS for), a loopback address, or the deployer's own public host name.

    A loopback peer alone does not make a local caller: a page from any site can have the
    operator's browser reach a port-forwarded deployer by DNS rebinding (a name of the
    attacker's that resolves to 127.0.0.1), and its requests then carry that name as
    ``Host``. The browser sends the name it connected to, which the page cannot forge."""
    try:
        name = (urlsplit(f"//{host}").hostname or "").rstrip(".")
    except ValueError:  # a port that is not a number
        return False
    if name == "localhost" or name.endswith(".localhost") or name == public_host:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _identify(rules: AccessControl) -> Principal | Response | None:
    """The request's principal; a ``Response`` (401) for a bad token; None for nobody."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = match_token(rules.tokens, header.removeprefix("Bearer ").strip())
        if token is None:
            return _refuse(401, "unknown or revoked API token")
        return Principal(kind="token", name=token.name, token=token)
    if rules.mode == "github":
        user, at = session.get("user"), session.get(SIGNED_IN_AT)
        fresh = isinstance(at, int | float) and 0 <= time.time() - at <= _LIFETIME_SECONDS
        if isinstance(user, dict) and isinstance(user.get("login"), str) and fresh:
            return Principal(kind="user", name=user["login"], user_id=user.get("id"))
        if user is not None:
            session.clear()  # signed in too long ago: sign in again
        return None
    if rules.mode == "none":
        return Principal(kind="open", name="anonymous")
    if not _loopback(request.remote_addr):
        return None
    if not _local_host(request.host, rules.public_host):
        return _refuse(
            403,
            "this deployer answers loopback callers only under a local Host name "
            "(localhost, 127.0.0.1, [::1] or the public_url's host); "
            f"this request names {request.host!r}",
        )
    return Principal(kind="local", name="local")


def _refuse(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _wants_html() -> bool:
    return request.blueprint == "pages" or request.blueprint == "signin"


def _gate() -> BaseResponse | None:
    """Before every request: identify, refuse nobody where a principal is needed, CSRF."""
    if request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
        return None  # a 404 stays a 404; open endpoints check their own credential
    rules = control()
    found = _identify(rules)
    if isinstance(found, Response):
        return found
    g.principal = found
    if found is None:
        if rules.mode == "github":
            if _wants_html():
                return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
            return _refuse(401, "sign in with GitHub, or send an API token (Authorization: Bearer)")
        return _refuse(
            403,
            "this deployer answers only on loopback: configure GitHub sign-in "
            "(GITHUB_OAUTH_CLIENT_ID), send an API token, or set auth: none",
        )
    if request.method not in ("GET", "HEAD", "OPTIONS") and found.kind == "user":
        rules.csrf.protect()  # raises CSRFError: a 400 naming the missing or bad token
    return None


def principal() -> Principal | None:
    found = g.get("principal")
    return found if isinstance(found, Principal) else None


def _level(app: AppConfig) -> Level:
    who = principal()
    if who is None:
        return Level.NONE
    if who.kind == "token":
        return Level.WRITE if who.token is not None and who.token.can_approve else Level.READ
    if who.kind in ("local", "open"):
        return Level.READ  # approving needs a token or a signed-in writer
    permissions = control().permissions
    if permissions is None:
        return Level.NONE
    try:
        return permissions.level(app.repo, who.name)
    except Unavailable as exc:
        log.warning("permission of %s on %s unknown (%s): refused", who.name, app.repo, exc)
        return Level.NONE


def can_read(app: AppConfig) -> bool:
    return _level(app) >= Level.READ


def can_approve(app: AppConfig) -> bool:
    return _level(app) >= Level.WRITE


def visible(apps: tuple[AppConfig, ...]) -> list[AppConfig]:
    """The apps the current principal may see."""
    return [app for app in apps if can_read(app)]


def readable_app(name: str, config: DeployerConfig) -> AppConfig | None:
    """The app named ``name`` if it exists and may be seen: an app one may not see is
    answered exactly like one that does not exist."""
    app = config.app(name)
    return app if app is not None and can_read(app) else None
