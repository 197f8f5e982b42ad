"""The Flask app factory: one ``Deployer`` (settings, config, index, store), the blueprints,
and the access rules in front of them (``access``, ``signin``).

Only the web processes import this module; ``import webhook`` alone loads no Flask, so the
worker stays free of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from flask import Flask, Response
from markupsafe import Markup
from werkzeug.routing import IntegerConverter, Map

from webhook.access import ApiToken, token_hash
from webhook.affected import RecordedInputs
from webhook.errors import Unavailable
from webhook.events import AppIndex, InputsReader
from webhook.queue import JobStore, open_store
from webhook.settings import DeployerConfig, Environment, config_path, load_config
from webhook.web import api, metrics, pages, receiver, signin
from webhook.web.access import AccessControl, principal, resolve_mode
from webhook.web.context import Deployer

log = logging.getLogger(__name__)


#: On every answer. The pages need no script, frame, font or foreign resource, so the policy
#: allows only the page's own stylesheet and forms: an injection that got past autoescaping
#: would still run nothing, and no other site can frame the Approve button (clickjacking;
#: ``SameSite=Lax`` does not stop a sibling subdomain, which is the same site).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages and answers show private repositories' plans, errors and who approved what to
    # the one user allowed to see them: no browser or shared cache may keep a copy (a later
    # user of the same browser, after sign-out, or a proxy serving it to someone else).
    # The static stylesheet sets its own caching, which ``setdefault`` keeps.
    "Cache-Control": "no-store",
}


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class JobId(IntegerConverter):
    """``<job:job_id>``: a job id the store can hold (a signed 64-bit integer), so a longer
    number in a URL is a 404 like any missing job, not an overflow in the database (500)."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, max=2**63 - 1)


def _tokens(env: Environment) -> tuple[ApiToken, ...]:
    """``DEPLOYER_API_TOKENS``, plus the deprecated ``DEPLOYER_ADMIN_TOKEN`` as an approve
    token named ``admin`` (with a warning at every start)."""
    tokens = env.api_tokens
    if env.admin_token:
        log.warning(
            "DEPLOYER_ADMIN_TOKEN is deprecated: move it to DEPLOYER_API_TOKENS as "
            "'admin:approve:<sha256 hex>' (README: Access control)"
        )
        if all(token.name != "admin" for token in tokens):
            tokens += (ApiToken(name="admin", scope="approve", sha256=token_hash(env.admin_token)),)
    return tokens


def _recorded_inputs(store: JobStore) -> InputsReader:
    """The store's recorded inputs for the receiver's index; a store that cannot answer is
    ``Unavailable`` (the receiver's 503), not a bug in deciding."""

    def read(apps: Sequence[str]) -> Mapping[str, RecordedInputs]:
        try:
            return store.recorded_inputs(apps)
        except Exception as exc:  # sqlite3 or psycopg: down, locked, full
            raise Unavailable(f"store: {exc}") from exc

    return read


#: Unicode's bidirectional controls (embeddings, overrides, isolates, marks): a job message
#: quoting a repository could make the text around them read reordered on the page.
_BIDI_CONTROLS = dict.fromkeys(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def _without_bidi_controls(value: object) -> object:
    """Every value a template prints, before autoescaping: plain text loses its bidi
    controls (markup our templates made is left alone: its values passed here already)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(_BIDI_CONTROLS)
    return value


def create_app(
    config: DeployerConfig | None = None,
    env: Environment | None = None,
    store: JobStore | None = None,
) -> Flask:
    """The web app: receiver, API, pages, metrics over one store. Arguments default to the
    environment and the config file it names."""
    env = env or Environment.from_environ()
    config = config or load_config(config_path(None))
    mode = resolve_mode(env, config)  # before opening anything: a contradiction stops here
    store = store or open_store(env.database_url)
    # Named after this package, so Flask finds templates/ and static/ next to this file.
    app = Flask("webhook.web")
    app.url_map.converters["job"] = JobId
    app.config["MAX_CONTENT_LENGTH"] = env.max_body_bytes
    env.configure_logging()
    Deployer(
        env=env,
        config=config,
        index=AppIndex(
            config.apps, preview_forks=config.preview_forks, inputs=_recorded_inputs(store)
        ),
        store=store,
    ).init_app(app)
    permissions = signin.github_permissions(env) if mode == "github" else None
    if mode == "github":
        signin.init_app(app, env, config)
    public_host = urlsplit(config.public_url).hostname if config.public_url else None
    AccessControl(
        mode=mode, tokens=_tokens(env), permissions=permissions, public_host=public_host
    ).init_app(app)
    app.after_request(_secure)
    app.jinja_env.finalize = _without_bidi_controls
    app.context_processor(lambda: {"principal": principal(), "auth_mode": mode})
    for blueprint in (receiver.bp, api.bp, pages.bp, metrics.bp, signin.bp):
        app.register_blueprint(blueprint)
    return app
