"""The environment the deployer runs in: secrets, stores, addresses and limits.

Owns: every environment variable the deployer reads (``Environment.from_environ``),
validated once at start, with errors a person can act on and a ``repr`` that hides secrets;
where the config file is (``config_path``). Secrets come only from here, never from the
config file (``webhook.settings``), which this module knows nothing of.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from webhook import logs
from webhook.access import DEFAULT_PERMISSION_TTL, ApiToken, parse_tokens
from webhook.own_identity import OwnIdentity

DEFAULT_CONFIG_FILE = "deployer.yaml"
DEFAULT_DATABASE_URL = "sqlite:///deployer.db"
#: GitHub itself never delivers payloads over 25 MB, so anything larger is not GitHub.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
DEFAULT_BIND = "127.0.0.1:8080"
#: GitHub gives up on a delivery after 10 s, so a request still arriving after 30 s is not
#: GitHub's: the web server closes it instead of keeping its memory.
DEFAULT_REQUEST_TIMEOUT = 30.0
#: Seconds a job lease lasts without a heartbeat (``DEPLOYER_LEASE_SECONDS``): long enough
#: to ride out a stalled store write, short enough that a dead worker's job restarts within
#: a minute. Not a bound on a sync (``webhook.worker.HEARTBEATS_PER_LEASE``).
DEFAULT_LEASE = 60.0
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: ``auth`` (config key, or ``DEPLOYER_AUTH``): ``github`` demands sign-in with GitHub;
#: ``none`` opens the page and read API to anyone who reaches them (behind a proxy that
#: authenticates, say). Unset: sign-in when an OAuth client is configured, else loopback only.
AuthMode = Literal["github", "none"]


class ConfigError(Exception):
    """The configuration cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def config_path(cli_value: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """``--config``, else ``$WEBHOOK_DEPLOYER_CONFIG``, else ``./deployer.yaml``."""
    return Path(cli_value or environ.get("WEBHOOK_DEPLOYER_CONFIG") or DEFAULT_CONFIG_FILE)


def _default_cache_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "webhook-deployer"


def _number(
    environ: Mapping[str, str], name: str, default: float, errors: list[str], *, whole: bool
) -> float:
    """A positive number from ``name``, else ``default``; a bad value is listed in errors."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
        if not value > 0 or value == float("inf"):
            raise ValueError
    except ValueError:
        errors.append(f"{name} must be a positive {'integer' if whole else 'number'}, not {raw!r}")
        return default
    return value


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Every environment variable the deployer reads, validated once; ``repr`` hides secrets."""

    webhook_secret: bytes = field(repr=False)
    #: The secret being rotated out, still accepted until it is unset (optional).
    webhook_secret_previous: bytes | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    github_token: str | None = field(default=None, repr=False)
    github_app_id: str | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    github_app_installation_id: int | None = None
    github_api_url: str = "https://api.github.com"
    admin_token: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: ``host:port`` the web server listens on (``--bind`` overrides it).
    bind: str = DEFAULT_BIND
    #: ``host:port`` of the worker's ``/healthz`` and ``/metrics`` (``--health-bind``
    #: overrides it); None: the worker serves no HTTP, as under ``serve``.
    worker_health_bind: str | None = None
    #: Jobs one worker process runs at once; two keep a slow app from blocking the rest.
    worker_concurrency: int = 2
    #: Jobs one worker process may run at once while its queue is deep (threads are added
    #: while all are busy and the API server answers no 429, and end when idle).
    worker_max_concurrency: int = 16
    #: Seconds before the first retry of a job that met an unreachable API server or git
    #: remote, or a commit the remote lacks (``DEPLOYER_RETRY_SECONDS``); each retry waits
    #: twice as long as the last, up to ``DEPLOYER_RETRY_MAX_SECONDS``. 5 s rides out a
    #: restart; 300 s bounds the wait.
    retry_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    #: Seconds a claimed job stays ours without a heartbeat; a dead worker's job is
    #: claimed again after this. Not a bound on a sync: the worker renews the lease every
    #: third of it (``webhook.worker.HEARTBEATS_PER_LEASE``) while the step runs.
    lease_seconds: float = DEFAULT_LEASE
    #: Git mirrors and discovery caches.
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir(os.environ))
    #: Level of the ``webhook`` loggers, in every process (gunicorn workers included).
    log_level: str = "INFO"
    #: Seconds the web server waits for a whole request (headers and body) to arrive.
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    #: ``json`` lines for log pipelines (the default, as in a cluster), or ``text``.
    log_format: logs.LogFormat = "json"
    #: Sign-in with GitHub (an OAuth App, or a GitHub App's user authorization): the
    #: client id and secret (``GITHUB_OAUTH_CLIENT_ID``, ``GITHUB_OAUTH_CLIENT_SECRET``).
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    #: Signs session cookies (``DEPLOYER_SESSION_SECRET``); required with an OAuth client.
    session_secret: str | None = field(default=None, repr=False)
    #: Automation tokens (``DEPLOYER_API_TOKENS``), hashed; ``admin_token`` is the
    #: deprecated single token, kept as an ``approve`` token named ``admin``.
    api_tokens: tuple[ApiToken, ...] = ()
    #: ``DEPLOYER_AUTH``: overrides the config file's ``auth`` key.
    auth: AuthMode | None = None
    #: Seconds a user's repository permission is cached (``DEPLOYER_PERMISSION_TTL``).
    permission_ttl: float = DEFAULT_PERMISSION_TTL
    #: The deployer's own namespace and ServiceAccount, which the guard protects.
    own: OwnIdentity = field(default_factory=OwnIdentity)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Environment:
        errors: list[str] = []
        secret = environ.get("GITHUB_WEBHOOK_SECRET", "")
        previous = environ.get("GITHUB_WEBHOOK_SECRET_PREVIOUS", "")
        if not secret:
            errors.append(
                "GITHUB_WEBHOOK_SECRET is not set: refusing to accept unverifiable deliveries"
            )
        max_body = int(
            _number(environ, "DEPLOYER_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, errors, whole=True)
        )
        concurrency = int(_number(environ, "DEPLOYER_WORKER_CONCURRENCY", 2, errors, whole=True))
        max_concurrency = int(
            _number(environ, "DEPLOYER_WORKER_MAX_CONCURRENCY", 16, errors, whole=True)
        )
        lease = _number(environ, "DEPLOYER_LEASE_SECONDS", DEFAULT_LEASE, errors, whole=False)
        retry = _number(environ, "DEPLOYER_RETRY_SECONDS", 5.0, errors, whole=False)
        retry_max = _number(environ, "DEPLOYER_RETRY_MAX_SECONDS", 300.0, errors, whole=False)
        timeout = _number(
            environ, "DEPLOYER_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT, errors, whole=False
        )
        level = (environ.get("DEPLOYER_LOG_LEVEL") or "INFO").strip().upper()
        if level not in _LOG_LEVELS:
            errors.append(f"DEPLOYER_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
            level = "INFO"
        raw_format = (environ.get("DEPLOYER_LOG_FORMAT") or "json").strip().lower()
        if raw_format not in logs.LOG_FORMATS:
            errors.append(f"DEPLOYER_LOG_FORMAT must be one of {', '.join(logs.LOG_FORMATS)}")
        log_format: logs.LogFormat = "text" if raw_format == "text" else "json"
        database_url = environ.get("DEPLOYER_DATABASE_URL") or DEFAULT_DATABASE_URL
        errors.extend(_driver_missing(database_url))
        installation: int | None = None
        if raw_inst := environ.get("GITHUB_APP_INSTALLATION_ID"):
            try:
                installation = int(raw_inst)
            except ValueError:
                errors.append("GITHUB_APP_INSTALLATION_ID must be an integer")
        key = environ.get("GITHUB_APP_PRIVATE_KEY")
        if not key and (key_file := environ.get("GITHUB_APP_PRIVATE_KEY_FILE")):
            try:
                key = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                errors.append(f"GITHUB_APP_PRIVATE_KEY_FILE: cannot read: {exc.strerror}")
        tokens, token_errors = parse_tokens(environ.get("DEPLOYER_API_TOKENS") or "")
        errors.extend(token_errors)
        client_id = environ.get("GITHUB_OAUTH_CLIENT_ID") or None
        client_secret = environ.get("GITHUB_OAUTH_CLIENT_SECRET") or None
        session_secret = environ.get("DEPLOYER_SESSION_SECRET") or None
        if bool(client_id) != bool(client_secret):
            errors.append("GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET go together")
        if client_id and (not session_secret or len(session_secret) < 32):
            errors.append(
                "DEPLOYER_SESSION_SECRET must be set (32 characters or more) to sign sessions "
                "when GITHUB_OAUTH_CLIENT_ID is set"
            )
        raw_auth = (environ.get("DEPLOYER_AUTH") or "").strip().lower()
        if raw_auth not in ("", "github", "none"):
            errors.append("DEPLOYER_AUTH must be 'github' or 'none'")
        ttl = _number(
            environ, "DEPLOYER_PERMISSION_TTL", DEFAULT_PERMISSION_TTL, errors, whole=False
        )
        if errors:
            raise ConfigError(errors)
        return cls(
            webhook_secret=secret.encode("utf-8"),
            webhook_secret_previous=previous.encode("utf-8") or None,
            database_url=database_url,
            github_token=environ.get("GITHUB_TOKEN") or None,
            github_app_id=environ.get("GITHUB_APP_ID") or None,
            github_app_private_key=key or None,
            github_app_installation_id=installation,
            github_api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            admin_token=environ.get("DEPLOYER_ADMIN_TOKEN") or None,
            max_body_bytes=max_body,
            bind=environ.get("DEPLOYER_BIND") or DEFAULT_BIND,
            worker_health_bind=environ.get("DEPLOYER_WORKER_HEALTH_BIND") or None,
            worker_concurrency=concurrency,
            worker_max_concurrency=max_concurrency,
            lease_seconds=lease,
            retry_seconds=retry,
            retry_max_seconds=retry_max,
            cache_dir=Path(environ.get("DEPLOYER_CACHE_DIR") or _default_cache_dir(environ)),
            log_level=level,
            request_timeout=timeout,
            log_format=log_format,
            oauth_client_id=client_id,
            oauth_client_secret=client_secret,
            session_secret=session_secret,
            api_tokens=tuple(tokens),
            auth="github" if raw_auth == "github" else "none" if raw_auth == "none" else None,
            permission_ttl=ttl,
            own=OwnIdentity.from_environ(environ),
        )

    @property
    def github_web_url(self) -> str:
        """Where people sign in: github.com for api.github.com, the host of a GitHub
        Enterprise Server (``https://HOST/api/v3``), else the API URL itself (a test)."""
        api = self.github_api_url
        if api == "https://api.github.com":
            return "https://github.com"
        return api.removesuffix("/api/v3")

    @property
    def webhook_secrets(self) -> tuple[tuple[str, bytes], ...]:
        """The secrets a delivery may be signed with, by name, the current one first."""
        previous = self.webhook_secret_previous
        return (("current", self.webhook_secret),) + ((("previous", previous),) if previous else ())

    def configure_logging(self) -> None:
        """Log at ``log_level`` in ``log_format`` to stderr, masking this process's secrets."""
        secrets: list[str | None] = [s.decode("utf-8", "replace") for _, s in self.webhook_secrets]
        secrets += [self.github_token, self.admin_token, self.github_app_private_key]
        secrets += [self.oauth_client_secret, self.session_secret]
        secrets += _url_password(self.database_url)
        logs.configure(self.log_level, self.log_format, secrets)


def _url_password(url: str) -> list[str]:
    """The password in a store URL, as written and decoded: psycopg quotes it back in the
    error for a malformed URL (``unexpected spaces found in "..."``)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def _driver_missing(database_url: str) -> list[str]:
    """One clear line, at start-up, when a PostgreSQL URL meets an install without psycopg
    (instead of an import error in every process that opens the store)."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return []
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return [
            "DEPLOYER_DATABASE_URL is a PostgreSQL URL but the driver is not installed: "
            "pip install 'psycopg[binary]'"
        ]
    return []
