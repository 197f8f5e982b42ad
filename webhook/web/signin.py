"""Sign-in with GitHub: the OAuth code flow, the session it leaves, sign-out, permissions.

Owns: ``/login`` (redirect to GitHub's authorize page with a fresh ``state``),
``/oauth/callback`` (Authlib checks ``state`` against the session and exchanges the code),
``/logout`` (a POST, CSRF-checked) and the session cookie's settings: signed with
``DEPLOYER_SESSION_SECRET``, HTTP-only, ``SameSite=Lax`` (GitHub's redirect back is a
top-level navigation, which ``Strict`` would strip of the cookie holding ``state``),
``Secure`` when the public URL is https, refused ``SESSION_LIFETIME`` after the sign-in
(``access`` checks the sign-in's time: the cookie is signed anew on every request).
The session holds only the user's login and id: no GitHub token is kept. What a user may
do is asked of GitHub with the deployer's own credentials (``GET /repos/{repo}/
collaborators/{login}/permission``), cached ``DEPLOYER_PERMISSION_TTL`` seconds, so the
OAuth app asks for no scope at all. With a GitHub App, its user authorization (same
client id and secret) works the same way. GitHub Enterprise Server: ``GITHUB_API_URL``.

This and ``approvals`` are the only web modules that reach GitHub or git; import-linter's
``receiver-stays-fast`` names both. The receiver never does.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from webhook.access import Level, PermissionCache
from webhook.settings import ConfigError, DeployerConfig, Environment
from webhook.web.access import SESSION_LIFETIME, SIGNED_IN_AT, Permissions, control

if TYPE_CHECKING:
    from authlib.integrations.flask_client import OAuth

log = logging.getLogger(__name__)
bp = Blueprint("signin", __name__)
_OAUTH = "webhook-deployer-oauth"
#: A longer ``next`` is dropped: kept in the session cookie, it would push the cookie past
#: the 4 KB browsers keep, and the sign-in (whose ``state`` the cookie holds) would fail.
MAX_NEXT = 1024


def github_permissions(env: Environment) -> Permissions:
    """Permissions asked with the deployer's credentials and cached (see the module doc).

    PyGithub is imported here, when sign-in is configured: a web process without it never
    loads the client (tests/test_settings.py checks the web process's imports)."""
    from webhook.github import GitHubClient

    client = GitHubClient.from_env(env, seconds_between_writes=0)
    if client is None:
        raise ConfigError(
            [
                "GitHub sign-in needs the deployer's own GitHub credentials (GITHUB_TOKEN or "
                "a GitHub App) to check who may read or approve each repository"
            ]
        )
    return PermissionCache(
        lambda repo, login: Level.of(client.permission(repo, login)), ttl=env.permission_ttl
    )


def init_app(app: Flask, env: Environment, config: DeployerConfig) -> None:
    """Session cookie settings and the OAuth client, for ``mode == "github"``.

    authlib is imported here, not at the top: a web process without sign-in never loads it
    (with the crypto it pulls in, about 12 MB resident; BENCHMARKS.md, "Footprint")."""
    from authlib.integrations.flask_client import OAuth

    app.secret_key = env.session_secret
    app.config.update(
        SESSION_COOKIE_NAME="deployer_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(config.public_url and config.public_url.startswith("https:")),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    oauth = OAuth(app)
    web = env.github_web_url
    oauth.register(
        name="github",
        client_id=env.oauth_client_id,
        client_secret=env.oauth_client_secret,
        authorize_url=f"{web}/login/oauth/authorize",
        access_token_url=f"{web}/login/oauth/access_token",
        api_base_url=f"{env.github_api_url}/",
        client_kwargs={"token_endpoint_auth_method": "client_secret_post"},
    )
    app.extensions[_OAUTH] = (oauth, config.public_url)


def _client() -> tuple[OAuth, str | None]:
    if control().mode != "github":
        abort(404)
    found: tuple[OAuth, str | None] = current_app.extensions[_OAUTH]
    return found


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never ``//host`` or ``https://host`` (an open redirect).

    Whitespace and control characters are refused outright, not just checked around:
    browsers (and werkzeug's ``redirect``) drop tabs and newlines from a URL, so
    ``/<TAB>/evil.example`` would leave as ``//evil.example``."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ch.isspace() or not ch.isprintable() for ch in target)
        or len(target) > MAX_NEXT
    ):
        return url_for("pages.index")
    return target


@bp.get("/login")
def login() -> Response:
    oauth, public_url = _client()
    session["next"] = _safe_next(request.args.get("next"))
    if public_url:
        callback = f"{public_url.rstrip('/')}{url_for('signin.callback')}"
    else:
        callback = url_for("signin.callback", _external=True)
    response: Response = oauth.github.authorize_redirect(callback)
    return response


@bp.get("/oauth/callback")
def callback() -> Response | tuple[str, int]:
    oauth, _ = _client()
    from authlib.integrations.base_client.errors import OAuthError  # loaded by init_app

    try:
        token = oauth.github.authorize_access_token()
        user = oauth.github.get("user", token=token)
        user.raise_for_status()
        data = user.json()
    except OAuthError as exc:
        # A forged or replayed state, or a denied authorization: no session.
        log.warning("sign-in refused: %s", exc.error)
        return _refused(f"GitHub sign-in failed ({exc.error}); try again."), 400
    except Exception as exc:  # GitHub down or odd: no session, one clear line
        log.warning("sign-in failed: %s", type(exc).__name__)
        return _refused("GitHub did not answer the sign-in; try again."), 502
    target = _safe_next(session.get("next"))
    session.clear()  # a new session on every sign-in (no fixation)
    session.permanent = True
    session["user"] = {"login": str(data["login"]), "id": int(data["id"])}
    session[SIGNED_IN_AT] = int(time.time())
    log.info("signed in: %s", data["login"])
    return redirect(target)


def _refused(message: str) -> str:
    return render_template("signed_out.html", title="Sign-in failed", message=message)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("signin.signed_out"))


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("signed_out.html", title="Signed out", message="You are signed out.")
