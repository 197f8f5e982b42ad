"""What the ``webhook-deployer`` commands share: the ``--config`` option, loading and
validating the config file and environment (every error listed, exit 2), opening the
migrated store, and looking an app up by name.

Owns: how a command fails on bad input (``error: ...`` lines on stderr, exit 2). Must not
touch: what any command does; it imports nothing heavy (the commands import lazily).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from webhook.queue import SqlStore
from webhook.settings import (
    AppConfig,
    ConfigError,
    DeployerConfig,
    Environment,
    config_path,
    load_config,
)
from webhook.text import one_line

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="Config file (default: $WEBHOOK_DEPLOYER_CONFIG, else ./deployer.yaml).",
)


def fail(errors: list[str]) -> NoReturn:
    for line in errors:  # repository and tool text: no escape sequence reaches the terminal
        click.echo(f"error: {one_line(line)}", err=True)
    sys.exit(2)


def load(
    config_file: str | None, *, need_secret: bool = True
) -> tuple[DeployerConfig, Environment]:
    errors: list[str] = []
    config = env = None
    try:
        config = load_config(config_path(config_file))
    except ConfigError as exc:
        errors.extend(exc.errors)
    environ = dict(os.environ)
    if not need_secret and not environ.get("GITHUB_WEBHOOK_SECRET"):
        environ["GITHUB_WEBHOOK_SECRET"] = "unused-by-this-command"
    try:
        env = Environment.from_environ(environ)
    except ConfigError as exc:
        errors.extend(exc.errors)
    if errors or config is None or env is None:
        fail(errors)
    return config, env


def open_migrated_store(env: Environment) -> SqlStore:
    """The store, migrated to this release's schema; one clear line and exit 2 when it
    cannot be (a schema newer than this release, an unknown URL)."""
    from webhook.queue import SchemaTooNew, open_store

    try:
        return open_store(env.database_url)
    except (SchemaTooNew, ValueError) as exc:
        fail([str(exc)])


def app_named(config: DeployerConfig, name: str) -> AppConfig:
    app = config.app(name)
    if app is None:
        fail([f"no app named {name!r}; known: {', '.join(a.name for a in config.apps) or 'none'}"])
    return app
