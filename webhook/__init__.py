"""webhook-deployer: GitHub webhooks in, Kubernetes syncs out. ``create_app`` builds the web app."""

from __future__ import annotations

import logging

from flask import Flask

from webhook.events import AppIndex
from webhook.queue import JobStore, open_store
from webhook.settings import DeployerConfig, Environment, config_path, load_config

__version__ = "0.1.0"


def create_app(
    config: DeployerConfig | None = None,
    env: Environment | None = None,
    store: JobStore | None = None,
) -> Flask:
    """The Flask app: receiver and API over one store. Arguments default to the environment."""
    env = env or Environment.from_environ()
    config = config or load_config(config_path(None))
    store = store or open_store(env.database_url)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = env.max_body_bytes
    app.extensions["deployer.env"] = env
    app.extensions["deployer.config"] = config
    app.extensions["deployer.index"] = AppIndex(config.apps, preview_forks=config.preview_forks)
    app.extensions["deployer.store"] = store

    from webhook.receiver import bp as receiver_bp
    from webhook.web.api import bp as api_bp
    from webhook.web.metrics import bp as metrics_bp
    from webhook.web.pages import bp as pages_bp

    app.register_blueprint(receiver_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(metrics_bp)
    logging.getLogger("webhook").setLevel(logging.INFO)
    return app
