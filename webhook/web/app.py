"""The Flask app factory: one ``Deployer`` (settings, config, index, store), four blueprints.

Only the web processes import this module; ``import webhook`` alone loads no Flask, so the
worker stays free of it.
"""

from __future__ import annotations

from flask import Flask

from webhook.events import AppIndex
from webhook.queue import JobStore, open_store
from webhook.settings import DeployerConfig, Environment, config_path, load_config
from webhook.web import api, metrics, pages, receiver
from webhook.web.context import Deployer


def create_app(
    config: DeployerConfig | None = None,
    env: Environment | None = None,
    store: JobStore | None = None,
) -> Flask:
    """The web app: receiver, API, pages, metrics over one store. Arguments default to the
    environment and the config file it names."""
    env = env or Environment.from_environ()
    config = config or load_config(config_path(None))
    store = store or open_store(env.database_url)
    # Named after this package, so Flask finds templates/ and static/ next to this file.
    app = Flask("webhook.web")
    app.config["MAX_CONTENT_LENGTH"] = env.max_body_bytes
    Deployer(
        env=env,
        config=config,
        index=AppIndex(
            config.apps, preview_forks=config.preview_forks, inputs=store.recorded_inputs
        ),
        store=store,
    ).init_app(app)
    for blueprint in (receiver.bp, api.bp, pages.bp, metrics.bp):
        app.register_blueprint(blueprint)
    env.configure_logging()
    return app
