"""``webhook-deployer sync`` and ``diff``: the break-glass commands that sync, or show what
a sync would change, from this machine, outside the running deployer's queue and history.

Owns: those two commands and their exit codes. Must not touch: the store, the reporter.
"""

from __future__ import annotations

import sys

import click

from webhook.cli_common import CONFIG_OPTION, app_named, fail, load
from webhook.output import data_text as _data
from webhook.progress import show as show_progress
from webhook.text import one_line


@click.command()
@CONFIG_OPTION
@click.argument("app_name", metavar="APP")
@click.option("--revision", help="Commit SHA (default: the branch head).")
@click.option("--dry-run", is_flag=True, help="Server-side dry run; change nothing.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress lines on stderr (default: only when stderr is a terminal).",
)
def sync(
    config_file: str | None,
    app_name: str,
    revision: str | None,
    dry_run: bool,
    progress: bool | None,
) -> None:
    """Break-glass: sync APP from this machine, bypassing the running deployer.

    It applies directly, outside the deployer's queue, leases and history (another sync of
    the same app may run at the same time, and no job records this one). In normal
    operation use `approve APP` against the running deployer. Exit non-zero on failure.
    """
    import json

    from webhook.engine import SyncEngine
    from webhook.errors import DeployerError
    from webhook.github import git_token_provider

    config, env = load(config_file, need_secret=False)
    env.configure_logging()
    app = app_named(config, app_name)
    click.echo(
        "warning: break-glass sync: bypasses the deployer's queue, leases and history; "
        "use `webhook-deployer approve` against a running deployer instead",
        err=True,
    )
    show_progress(progress)
    engine = SyncEngine(config, env, cache_dir=env.cache_dir, token_for=git_token_provider(env))
    try:
        result = engine.sync(app, revision or engine.head(app), dry_run=dry_run)
    except DeployerError as exc:
        fail([f"{app.name}: {exc}"])
    click.echo(json.dumps(result.to_dict(), indent=2))
    click.echo(one_line(result.summary()), err=True)
    sys.exit(0 if result.ok else 1)


@click.command()
@CONFIG_OPTION
@click.argument("app_name", metavar="APP")
@click.option("--revision", help="Commit SHA (default: the branch head).")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
    help="text: unified diffs; json/yaml: a list of {object, action, diff}.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress lines on stderr (default: only when stderr is a terminal).",
)
def diff(
    config_file: str | None,
    app_name: str,
    revision: str | None,
    output: str,
    progress: bool | None,
) -> None:
    """Show what a sync would change, live against desired (Secret data redacted).

    Exit status as kubectl diff: 0 no differences, 1 differences, 2 an error.
    """
    from webhook.engine import SyncEngine
    from webhook.errors import DeployerError
    from webhook.github import git_token_provider
    from webhook.sync_error import SyncError

    config, env = load(config_file, need_secret=False)
    app = app_named(config, app_name)
    show_progress(progress)
    engine = SyncEngine(config, env, cache_dir=env.cache_dir, token_for=git_token_provider(env))
    try:
        changes = engine.changes(app, revision or engine.head(app))
    except SyncError as exc:
        fail([f"{app.name}: {line}" for line in (exc.errors or [str(exc)])])
    except DeployerError as exc:
        fail([f"{app.name}: {exc}"])
    except Exception as exc:  # exit 1 means "differences": any other failure must be 2
        fail([f"{app.name}: internal error: {type(exc).__name__}: {exc}"])
    if output == "text":
        for change in changes:
            click.echo(
                change.diff or f"# {change.object}: {change.action} (redacted values)\n", nl=False
            )
    else:
        click.echo(_data([change.to_dict() for change in changes], output), nl=False)
    sys.exit(1 if changes else 0)
