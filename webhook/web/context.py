"""The typed handle on what the web layer serves from: settings, config, app index, store.

``create_app`` builds one ``Deployer`` and attaches it to the Flask app; every blueprint
reads it through ``deployer()`` instead of looking keys up in ``app.extensions`` by string.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from webhook.events import AppIndex
from webhook.queue import JobStore
from webhook.settings import DeployerConfig, Environment

_KEY = "webhook-deployer"


@dataclass(frozen=True, kw_only=True)
class Deployer:
    """What one web app serves from; built once per process by ``create_app``."""

    env: Environment
    config: DeployerConfig
    index: AppIndex
    store: JobStore

    def init_app(self, app: Flask) -> None:
        app.extensions[_KEY] = self


def deployer(app: Flask | None = None) -> Deployer:
    """The ``Deployer`` of ``app`` (default: the app handling the current request)."""
    found = (app or current_app).extensions[_KEY]
    if not isinstance(found, Deployer):
        raise TypeError(f"app.extensions[{_KEY!r}] is not a Deployer")
    return found
