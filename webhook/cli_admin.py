"""``webhook-deployer check-config`` and ``migrate``: check the config and environment,
and bring the store to this release's schema, without running the deployer.

Owns: those two commands. Must not touch: the cluster, GitHub, git.
"""

from __future__ import annotations

import os

import click

from webhook.cli_common import CONFIG_OPTION, fail, load, open_migrated_store
from webhook.settings import ConfigError, Environment, config_path


@click.command("check-config")
@CONFIG_OPTION
def check_config(config_file: str | None) -> None:
    """Validate the config file and environment; list every error."""
    config, _ = load(config_file, need_secret=False)
    missing = [t.url_env for t in config.notifications if not os.environ.get(t.url_env)]
    if missing:
        fail([f"notifications: environment variable(s) not set: {', '.join(missing)}"])
    click.echo(f"{config_path(config_file)}: ok, {len(config.apps)} app(s)")


@click.command()
def migrate() -> None:
    """Bring the store ($DEPLOYER_DATABASE_URL) to this release's schema; every process
    also does so when it starts. Refuses a store migrated by a newer release."""
    environ = {"GITHUB_WEBHOOK_SECRET": "unused-by-this-command", **os.environ}
    try:
        env = Environment.from_environ(environ)
    except ConfigError as exc:
        fail(exc.errors)
    store = open_migrated_store(env)
    click.echo(str(store.migration))
    store.close()
